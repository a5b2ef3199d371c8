package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

// rerunCommand is `rig rerun RESULTS [--cell ID]`: a recorded run, or one
// of its cells, again from its run.json.
func rerunCommand(e *env) *ffcli.Command {
	var (
		o    run.Options
		cell string
		fs   *flag.FlagSet
	)
	return leaf{
		name:     "rerun",
		synopsis: "RESULTS [--cell ID] [--results DIR] [--keep-kernel]",
		short:    "RESULTS [--cell ID]: repeat a recorded run, or one cell, with its tree, series, configs and seed",
		flags: func(f *flag.FlagSet) {
			fs = f
			fs.StringVar(&cell, "cell", "", "repeat only this cell (its id in run.json, its directory's name); a patched cell runs without its baseline")
			registerResults(fs, &o)
			registerKeep(fs, &o)
		},
		run: func(ctx context.Context, args []string) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return e.flagFailure(err, ExitUsage)
			}
			if len(pos) != 1 {
				fmt.Fprintf(e.stderr, "rig rerun: want exactly one run directory (results/<run-id>), got %d argument(s) (see -h)\n", len(pos))
				return ExitUsage
			}
			o.Command = e.command()
			o.UI = ui.New(e.stderr)
			orig, r, dir, err := run.Rerun(ctx, pos[0], cell, o)
			code := finish(r, dir, err, e.stdout, e.stderr)
			if r != nil {
				fmt.Fprint(e.stdout, compareVerdicts(orig, r, cell))
			}
			return code
		},
	}.command(e, "")
}

// compareVerdicts puts each repeated cell's recorded verdict beside the new
// one, by arch, role and accelerator.
func compareVerdicts(orig, r *result.Run, cellID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rerun of %s:\n", orig.ID)
	for _, c := range r.Cells {
		was, ok := recordedTwin(orig, c, cellID)
		if !ok {
			fmt.Fprintf(&b, "  %s: now %s (no recorded twin)\n", c.ID, verdictText(c))
			continue
		}
		fmt.Fprintf(&b, "  %s: was %s, now %s\n", was.ID, verdictText(was), verdictText(c))
	}
	return result.CleanLines(b.String(), 2000) // ids and statuses from a run.json
}

// recordedTwin is the recorded cell a new cell repeats: --cell's, or the
// one with the same id (a rerun names its cells as the run did).
func recordedTwin(orig *result.Run, c result.Cell, cellID string) (result.Cell, bool) {
	if cellID == "" {
		cellID = c.ID
	}
	for _, was := range orig.Cells {
		if was.ID == cellID {
			return was, true
		}
	}
	return result.Cell{}, false
}

func verdictText(c result.Cell) string {
	s := strings.ToUpper(string(c.Status))
	if c.Cause != "" {
		s += " (" + result.Clean(c.Cause, 160) + ")"
	}
	return s
}
