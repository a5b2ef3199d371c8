package cli

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/matrix"
	"github.com/rig-kernel/rig/rig/result"
)

const knownUsage = "known-issues.yaml: failures it names (test or kernel report title regexp, cell glob, link, expiry) are marked known and do not fail the run; an expired entry is an error (exit 2)"

// registerKnown adds --known FILE.
func registerKnown(fs *flag.FlagSet, file *string) {
	fs.StringVar(file, "known", "", knownUsage)
}

// loadKnown reads a known-issues file ("" is none). A bad file or an
// expired entry is printed and the caller exits ExitUsage: nothing has run.
func loadKnown(e *env, cmd, file string) (*known.List, bool) {
	if file == "" {
		return nil, true
	}
	l, err := known.Load(file, time.Now())
	if err != nil {
		fmt.Fprintf(e.stderr, "rig %s: %v\n", cmd, result.Clean(err.Error(), 2000))
		return nil, false
	}
	return l, true
}

// probablyFixed prints, on stderr, the known issues that matched no failure
// of the run.
func probablyFixed(w io.Writer, r *result.Run) {
	if r == nil || r.KnownIssues == nil {
		return
	}
	for _, u := range r.KnownIssues.Unmatched {
		fmt.Fprintf(w, "rig: known issue matched nothing in this run, probably fixed: %s\n", result.Clean(u, 600))
	}
}

// planKnown is the known-issues file a matrix plan names (known_issues:),
// resolved against the plan's directory; "" when none (or when the plan
// does not load: Cells has reported that already).
func planKnown(plan string) string {
	p, err := matrix.Load(plan, matrix.Check{})
	if err != nil {
		return ""
	}
	return p.KnownIssues()
}
