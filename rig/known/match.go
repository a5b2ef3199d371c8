package known

import (
	"fmt"
	"path"

	"github.com/rig-kernel/rig/rig/result"
)

// excusable are the cell statuses a known issue can excuse: the kernel's
// or the series' failures. The rig's own (infra-error, interrupted) never.
var excusable = map[result.Status]bool{
	result.Fail: true, result.BootError: true, result.Timeout: true,
	result.BuildError: true, result.PatchError: true,
}

// Apply matches the failures of r against l and records what it found:
// Test.Known on each failing (fail or error) test an entry names, Cell.Known
// on each cell whose failure is wholly expected (every failing test and
// every kernel report matched, and its cause too when the cell did not get
// as far as its tests' verdicts), and r.KnownIssues with the entries that
// matched nothing although the run exercised them (probably fixed) and
// those it did not exercise (not judged). Earlier marks are cleared first, so a
// merged run can be matched again. It does not change statuses: a Known cell
// counts as a pass (result.Cell.Counts) once the run is finished.
func Apply(r *result.Run, l *List) {
	for i := range r.Cells {
		c := &r.Cells[i]
		c.Known = ""
		for j := range c.Tests {
			c.Tests[j].Known = ""
		}
	}
	if l == nil {
		r.KnownIssues = nil
		return
	}
	used := make([]bool, len(l.Entries))
	find := func(c *result.Cell, isTest bool, s string) string {
		for i, e := range l.Entries {
			re := e.title
			if isTest {
				re = e.test
			}
			if re == nil || !cellMatch(e.Cell, c.ID) || !re.MatchString(s) {
				continue
			}
			used[i] = true
			return e.Link
		}
		return ""
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		var links []string // what the cell's failure reasons matched, "" when one did not
		for j := range c.Tests {
			t := &c.Tests[j]
			if t.Status == "fail" || t.Status == "error" {
				t.Known = find(c, true, t.Name)
				links = append(links, t.Known)
			}
		}
		for _, o := range c.Oopses {
			links = append(links, find(c, false, o.Title))
		}
		cause := ""
		if c.Cause != "" {
			cause = find(c, false, c.Cause)
		}
		// A cell that failed without failing tests or reports (boot, build,
		// apply) is excused by its cause alone; a matched cause comes first.
		if cause != "" || c.Status != result.Fail || len(links) == 0 {
			links = append([]string{cause}, links...)
		}
		if !excusable[c.Status] || len(links) == 0 {
			continue
		}
		all := true
		for _, k := range links {
			all = all && k != ""
		}
		if all {
			c.Known = links[0]
		}
	}
	k := &result.KnownIssues{File: l.File, Entries: len(l.Entries)}
	for i, e := range l.Entries {
		line := fmt.Sprintf("%s:%d: %s (%s)", l.File, e.Line, e.Name(), e.Link)
		switch {
		case used[i]:
		case exercised(r, e):
			k.Unmatched = append(k.Unmatched, line)
		default:
			k.NotExercised = append(k.NotExercised, line)
		}
	}
	r.KnownIssues = k
}

// exercised reports whether r could have shown e's failure: some cell its
// glob matches ran, and for a test entry, ran a test it names. An entry
// for cells on another shard, or for a test left out with --tests, matched
// nothing without telling whether it is fixed.
func exercised(r *result.Run, e Entry) bool {
	for _, c := range r.Cells {
		if !cellMatch(e.Cell, c.ID) {
			continue
		}
		if e.test == nil {
			return true
		}
		for _, t := range c.Tests {
			if e.test.MatchString(t.Name) {
				return true
			}
		}
	}
	return false
}

// cellMatch is the entry's glob on a cell ID; "*" matches every ID, even
// one with a slash.
func cellMatch(glob, id string) bool {
	if glob == "*" {
		return true
	}
	ok, _ := path.Match(glob, id)
	return ok
}
