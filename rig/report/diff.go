package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/rig-kernel/rig/rig/result"
)

// OopsTest is the pseudo-test that stands for "the kernel printed an oops"
// in a cell whose tests ran (the same case junit.xml reports), so a new
// WARNING counts as a new failure in a diff.
const OopsTest = "kernel-oops"

// Change is one difference between two runs. Test is "" for a change of
// the cell itself; Old or New is "" for something that is only on one side.
type Change struct {
	Cell string `json:"cell"`
	Test string `json:"test,omitempty"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	// Reason is the new side's reason or cause (untrusted, uncleaned).
	Reason string `json:"reason,omitempty"`
}

// DiffResult compares two runs cell by cell (cells matched by Cell.ID) and
// test by test.
type DiffResult struct {
	Old string `json:"old_run"`
	New string `json:"new_run"`

	// NewFailures: a test that passed and now fails or errors.
	NewFailures []Change `json:"new_failures"`
	// Fixes: a test that failed or errored and now passes.
	Fixes []Change `json:"fixes"`
	// Changed: any other change of a test's status (pass -> skip, fail -> error, ...).
	Changed []Change `json:"changed"`
	// CellFlips: cells whose status changed.
	CellFlips []Change `json:"cell_flips"`
	// Appeared, Disappeared: tests (or whole cells, Test "") on one side only.
	Appeared    []Change `json:"appeared"`
	Disappeared []Change `json:"disappeared"`
	// Doubts: what keeps the runs from being compared, or could hide a
	// regression (no cells, duplicate ids, a test that stopped running).
	Doubts []string `json:"doubts"`
}

// Regressed reports whether NEW is worse than OLD: a test went from pass to
// fail/error, or a cell that passed now ends in a verdict that blames the
// kernel or the series (fail, patch-error, build-error, boot-error,
// timeout). Infrastructure errors and interruptions are not regressions.
// `rig report diff` exits 1 when this is true.
func (d DiffResult) Regressed() bool {
	if len(d.NewFailures) > 0 {
		return true
	}
	for _, f := range d.CellFlips {
		if cellRegressed(f) {
			return true
		}
	}
	for _, c := range d.Changed {
		if newlyBad(c) {
			return true
		}
	}
	for _, c := range d.Appeared {
		if newlyBad(c) {
			return true
		}
	}
	return false
}

// Failed reports whether `rig report diff` fails: NEW regressed, or
// something could hide a regression (Doubts).
func (d DiffResult) Failed() bool { return d.Regressed() || len(d.Doubts) > 0 }

// newlyBad: a test or cell that was not failing (or not there) and now
// fails, or a cell that now ends in a verdict that blames the kernel.
func newlyBad(c Change) bool {
	if c.Test == "" {
		return c.Old != string(result.Pass) && result.Status(c.New).ExitCode() == 1 && result.Status(c.Old).ExitCode() != 1
	}
	return bad(c.New) && !bad(c.Old)
}

func cellRegressed(f Change) bool {
	return f.Old == string(result.Pass) && result.Status(f.New).ExitCode() == 1
}

// Empty reports whether the runs have the same verdicts.
func (d DiffResult) Empty() bool {
	return len(d.NewFailures)+len(d.Fixes)+len(d.Changed)+len(d.CellFlips)+len(d.Appeared)+len(d.Disappeared) == 0
}

// Diff compares two runs. Cells are matched by ID, tests by name within a
// cell; the order follows NEW (then cells and tests only OLD has). What
// could hide a regression goes to Doubts.
func Diff(old, new *result.Run) DiffResult {
	d := DiffResult{Old: old.ID, New: new.ID, NewFailures: []Change{}, Fixes: []Change{}, Changed: []Change{},
		CellFlips: []Change{}, Appeared: []Change{}, Disappeared: []Change{}, Doubts: []string{}}
	if len(new.Cells) == 0 {
		d.doubt("NEW has no cells: it tested nothing")
	}
	d.doubtCells("OLD", old)
	d.doubtCells("NEW", new)
	oldCells := map[string]*result.Cell{}
	for i := range old.Cells {
		c := &old.Cells[i]
		if _, dup := oldCells[c.ID]; !dup {
			oldCells[c.ID] = c
		}
	}
	seen := map[string]bool{}
	for i := range new.Cells {
		nc := &new.Cells[i]
		if seen[nc.ID] {
			continue
		}
		seen[nc.ID] = true
		oc := oldCells[nc.ID]
		if oc == nil {
			d.Appeared = append(d.Appeared, Change{Cell: nc.ID, New: string(nc.Status), Reason: nc.Cause})
			continue
		}
		if oc.Arch != nc.Arch || oc.Config != nc.Config {
			d.doubt("cell %s is %s [%s] in OLD but %s [%s] in NEW: not the same cell", cl(nc.ID), cl(oc.Arch), cl(oc.Config), cl(nc.Arch), cl(nc.Config))
		}
		if diffStatus(oc) != diffStatus(nc) {
			f := Change{Cell: nc.ID, Old: diffStatus(oc), New: diffStatus(nc), Reason: nc.Cause}
			d.CellFlips = append(d.CellFlips, f)
			if f.Old == string(result.Pass) && !cellRegressed(f) && f.New != known {
				d.doubt("cell %s: pass -> %s: its tests did not run to a verdict", cl(f.Cell), st(f.New))
			}
		}
		diffTests(&d, nc.ID, verdicts(oc), verdicts(nc))
	}
	for i := range old.Cells {
		oc := &old.Cells[i]
		if !seen[oc.ID] {
			seen[oc.ID] = true
			d.Disappeared = append(d.Disappeared, Change{Cell: oc.ID, Old: string(oc.Status)})
			d.doubt("cell %s (%s in OLD) is missing from NEW", cl(oc.ID), st(string(oc.Status)))
		}
	}
	return d
}

// diffStatus is a cell's status, or "known" when a known issue explains
// its failure (result.Cell.Counts).
func diffStatus(c *result.Cell) string {
	if st, _ := c.Counts(); c.Known != "" && st == result.Pass {
		return known
	}
	return string(c.Status)
}

func (d *DiffResult) doubt(format string, args ...any) {
	d.Doubts = append(d.Doubts, fmt.Sprintf(format, args...))
}

// doubtCells records what makes a run's cells ambiguous: a cell with no
// id, one id twice, a status the rig does not write, a test twice.
func (d *DiffResult) doubtCells(side string, r *result.Run) {
	ids := map[string]int{}
	for i := range r.Cells {
		c := &r.Cells[i]
		ids[c.ID]++
		switch {
		case c.ID == "":
			d.doubt("%s has a cell with no id", side)
		case ids[c.ID] == 2:
			d.doubt("%s has cell id %s twice: which one counts is ambiguous", side, cl(c.ID))
		}
		if !knownStatus[string(c.Status)] && c.Status != result.NotRun {
			d.doubt("%s cell %s has unknown status %s", side, cl(c.ID), st(string(c.Status)))
		}
		names := map[string]int{}
		for _, t := range c.Tests {
			names[t.Name]++
			if names[t.Name] == 2 {
				d.doubt("%s cell %s has test %s twice: which one counts is ambiguous", side, cl(c.ID), cl(t.Name))
			}
			if _, ok := testStatus[t.Status]; !ok {
				d.doubt("%s cell %s test %s has unknown status %s", side, cl(c.ID), cl(t.Name), st(t.Status))
			}
		}
	}
}

func cl(s string) string { return result.Clean(s, maxName) }

type verdict struct{ name, status, reason string }

// verdicts lists a cell's tests plus the kernel-oops pseudo-test. A
// failure a known issue explains (known-issues.yaml) is "known": the same
// known failure on both sides is no change, and one that appears is listed
// but is no regression: the known issue says it is expected.
func verdicts(c *result.Cell) []verdict {
	var v []verdict
	for _, t := range c.Tests {
		status := t.Status
		if t.Known != "" && bad(status) {
			status = known
		}
		v = append(v, verdict{t.Name, status, t.Reason})
	}
	if len(c.Tests) > 0 || len(c.Oopses) > 0 {
		o := verdict{name: OopsTest, status: "pass"}
		if len(c.Oopses) > 0 {
			o.status = "fail"
			o.reason = c.Oopses[0].Kind + ": " + c.Oopses[0].Title
		}
		v = append(v, o)
	}
	return v
}

func diffTests(d *DiffResult, cell string, old, new []verdict) {
	om := map[string]verdict{}
	for _, t := range old {
		if _, dup := om[t.name]; !dup {
			om[t.name] = t
		}
	}
	seen := map[string]bool{}
	for _, n := range new {
		if seen[n.name] {
			continue
		}
		seen[n.name] = true
		o, ok := om[n.name]
		ch := Change{Cell: cell, Test: n.name, Old: o.status, New: n.status, Reason: n.reason}
		switch {
		case !ok:
			d.Appeared = append(d.Appeared, ch)
		case o.status == n.status:
		case o.status == "pass" && bad(n.status):
			d.NewFailures = append(d.NewFailures, ch)
		case bad(o.status) && n.status == "pass":
			d.Fixes = append(d.Fixes, ch)
		default:
			d.Changed = append(d.Changed, ch)
			if o.status == "pass" && n.status != known {
				d.doubt("%s %s: pass -> %s: a test that no longer passes or fails can hide a regression", cl(cell), cl(n.name), st(n.status))
			}
		}
	}
	for _, o := range old {
		if !seen[o.name] {
			seen[o.name] = true
			d.Disappeared = append(d.Disappeared, Change{Cell: cell, Test: o.name, Old: o.status})
			d.doubt("%s %s (%s in OLD) is missing from NEW", cl(cell), cl(o.name), st(o.status))
		}
	}
}

func st(s string) string {
	if s == "" {
		return "-"
	}
	return result.Clean(s, 20)
}

func bad(status string) bool { return status == "fail" || status == "error" }

// known is the status a diff gives a test failure with a known issue.
const known = "known"

// WriteDiff renders a diff for a terminal or a CI log: one section per kind
// of change, one line per change, untrusted text cleaned.
func WriteDiff(w io.Writer, d DiffResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rig report diff: %s -> %s\n", result.Clean(d.Old, maxName), result.Clean(d.New, maxName))
	if d.Empty() {
		b.WriteString("no changes\n")
	}
	section := func(title string, l []Change, line func(Change) string) {
		if len(l) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", title, len(l))
		for _, c := range l {
			b.WriteString("  " + line(c) + "\n")
		}
	}
	where := func(c Change) string {
		if c.Test == "" {
			return result.Clean(c.Cell, maxName)
		}
		return result.Clean(c.Cell, maxName) + " " + result.Clean(c.Test, maxName)
	}
	withReason := func(s string, c Change) string {
		if c.Reason != "" {
			s += ": " + result.Clean(c.Reason, 200)
		}
		return s
	}
	transition := func(c Change) string {
		return withReason(fmt.Sprintf("%s: %s -> %s", where(c), st(c.Old), st(c.New)), c)
	}
	section("new failures", d.NewFailures, transition)
	section("fixes", d.Fixes, func(c Change) string { return fmt.Sprintf("%s: %s -> %s", where(c), st(c.Old), st(c.New)) })
	section("cell status changes", d.CellFlips, func(c Change) string {
		s := transition(c)
		if cellRegressed(c) {
			s += " [regression]"
		}
		return s
	})
	section("other test status changes", d.Changed, transition)
	section("appeared", d.Appeared, func(c Change) string { return withReason(fmt.Sprintf("%s: %s", where(c), st(c.New)), c) })
	section("disappeared", d.Disappeared, func(c Change) string { return fmt.Sprintf("%s: was %s", where(c), st(c.Old)) })
	if len(d.Doubts) > 0 {
		fmt.Fprintf(&b, "\ndoubts (%d):\n", len(d.Doubts))
		for _, s := range d.Doubts {
			b.WriteString("  " + s + "\n")
		}
	}
	switch {
	case d.Regressed():
		b.WriteString("\nverdict: REGRESSED\n")
	case d.Failed():
		b.WriteString("\nverdict: CANNOT TELL: a regression could hide behind the doubts above\n")
	default:
		b.WriteString("\nverdict: no new failures\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
