package report

import (
	"fmt"
	"strings"

	"github.com/rig-kernel/rig/rig/result"
)

// knownNote is " (known: LINK)", "" for a failure no known issue matched.
func knownNote(link string) string {
	if link == "" {
		return ""
	}
	return " (known: " + result.Clean(link, 300) + ")"
}

// knownMsg is a known failure's junit skip message: the link, then why it
// failed.
func knownMsg(link, why string) string {
	return result.Clean("known issue "+link+": "+why, 500)
}

// knownFailures lists the failures of r a known issue matched: "CELL: TEST
// (LINK)", or "CELL (LINK)" for a cell excused by its cause.
func knownFailures(r *result.Run) []string {
	var out []string
	for _, c := range r.Cells {
		n := 0
		for _, t := range c.Tests {
			if t.Known != "" {
				out = append(out, fmt.Sprintf("%s: %s (%s)", c.ID, t.Name, t.Known))
				n++
			}
		}
		if c.Known != "" && n == 0 {
			out = append(out, fmt.Sprintf("%s: %s (%s)", c.ID, c.Status, c.Known))
		}
	}
	return out
}

// KnownText is what the screen says about known issues, one line each:
// the failures they excused (and that the run passes because of them) and
// the entries that matched nothing, probably fixed. Nil without a
// known-issues file.
func KnownText(r *result.Run) []string {
	k := r.KnownIssues
	if k == nil {
		return nil
	}
	var out []string
	matched := knownFailures(r)
	switch {
	case len(matched) > 0 && r.Status == result.Pass:
		out = append(out, fmt.Sprintf("known issues: every failure is known (%d, %s): the run passes", len(matched), k.File))
	case len(matched) > 0:
		out = append(out, fmt.Sprintf("known issues: %d failure(s) known (%s); the others count", len(matched), k.File))
	}
	for _, m := range matched {
		out = append(out, "known: "+m)
	}
	for _, u := range k.Unmatched {
		out = append(out, "known issue probably fixed (matched nothing): "+u)
	}
	return out
}

// KnownMarkdown is summary.md's "Known issues" section; "" without a
// known-issues file.
func KnownMarkdown(r *result.Run) string {
	k := r.KnownIssues
	if k == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Known issues\n\n%d entries in %s.", k.Entries, md(k.File))
	matched := knownFailures(r)
	switch {
	case len(matched) > 0 && r.Status == result.Pass:
		b.WriteString(" **Every failure of this run is a known issue: the run passes (exit 0).**")
	case len(matched) > 0:
		b.WriteString(" Some failures are known; the others still count.")
	default:
		b.WriteString(" No failure of this run is a known issue.")
	}
	b.WriteString("\n\n")
	for _, m := range matched {
		fmt.Fprintf(&b, "- known: %s\n", md(m))
	}
	if len(k.Unmatched) > 0 {
		b.WriteString("\n**Probably fixed** (matched nothing in this run; remove the entry once confirmed):\n\n")
		for _, u := range k.Unmatched {
			fmt.Fprintf(&b, "- %s\n", md(u))
		}
	}
	if len(k.NotExercised) > 0 {
		b.WriteString("\nNot judged (this run did not run their cells or tests):\n\n")
		for _, u := range k.NotExercised {
			fmt.Fprintf(&b, "- %s\n", md(u))
		}
	}
	return b.String()
}
