package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/matrix"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// reportMergeCommand is `rig report merge OUT DIR...`: it joins shard run
// directories into the new run directory OUT. Like the other report
// commands it exits 0 when the report is written (whatever the verdict:
// the shard runs carry that), 2 for bad arguments, a directory without
// run.json or a cell ID in two runs, 3 when writing fails.
func reportMergeCommand(e *env) *ffcli.Command {
	var (
		fs   *flag.FlagSet
		kf   string
		hist string
	)
	return leaf{
		name:     "merge",
		synopsis: "[--known FILE] [--history FILE] OUT DIR...",
		short:    "join the run directories of matrix shards into one run in OUT",
		flags: func(f *flag.FlagSet) {
			fs = f
			registerKnown(fs, &kf)
			registerHistory(fs, &hist)
		},
		run: func(_ context.Context, args []string) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return e.flagFailure(err, ExitUsage)
			}
			if len(pos) < 2 {
				fmt.Fprintln(e.stderr, "rig report merge: want OUT and at least one run directory (see -h)")
				return ExitUsage
			}
			kl, ok := loadKnown(e, "report merge", kf)
			if !ok {
				return ExitUsage
			}
			h, ok := loadHistory(e, "report merge", hist)
			if !ok {
				return ExitUsage
			}
			r, err := matrix.Merge(pos[0], pos[1:], e.command(), kl)
			var me *matrix.MissingRunError
			var de *matrix.DuplicateCellError
			switch {
			case errors.As(err, &me), errors.As(err, &de):
				fmt.Fprintf(e.stderr, "rig report merge: %s\n", result.CleanLines(err.Error(), 2000))
				return ExitUsage
			case err != nil:
				fmt.Fprintf(e.stderr, "rig report merge: %s\n", result.CleanLines(err.Error(), 2000))
				return ExitInfra
			}
			if err := labelFlaky(pos[0], hist, h, r); err != nil {
				fmt.Fprintf(e.stderr, "rig report merge: --history: %v\n", err)
				return ExitInfra
			}
			fmt.Fprint(e.stdout, report.Screen(r, pos[0]))
			probablyFixed(e.stderr, r)
			return ExitPass
		},
	}.command(e, "report")
}
