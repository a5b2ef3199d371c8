package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/cache"
)

// cachePruneCommand is `rig cache prune`: unused build slots and obsolete
// source trees removed, whatever a rig holds skipped.
func cachePruneCommand(e *env) *ffcli.Command {
	var (
		olderThan time.Duration
		dryRun    bool
	)
	return leaf{
		name:     "prune",
		synopsis: "[--older-than 336h] [--dry-run]",
		short:    "remove unused build slots and obsolete source trees",
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&olderThan, "older-than", cache.DefaultPruneAge, "remove build slots no rig used for this long")
			fs.BoolVar(&dryRun, "dry-run", false, "only print what would be removed")
		},
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "cache prune", args) {
				return ExitUsage
			}
			return cachePrune(ctx, olderThan, dryRun, e.stdout, e.stderr)
		},
	}.command(e, "cache")
}

func cachePrune(ctx context.Context, olderThan time.Duration, dryRun bool, stdout, stderr io.Writer) int {
	if olderThan < 0 {
		fmt.Fprintf(stderr, "rig cache prune: --older-than %s: must not be negative\n", olderThan)
		return ExitUsage
	}
	dir, err := cache.Dir()
	if err != nil {
		fmt.Fprintf(stderr, "rig cache prune: %v\n", err)
		return ExitInfra
	}
	rep, err := cache.Prune(ctx, dir, olderThan, dryRun)
	if rep != nil {
		printPrune(stdout, rep)
		for _, e := range rep.Errors {
			fmt.Fprintf(stderr, "rig cache prune: %v\n", e)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "rig cache prune: %v\n", err)
		if ctx.Err() != nil {
			return ExitInterrupted
		}
		return ExitInfra
	}
	if len(rep.Errors) > 0 {
		return ExitInfra
	}
	return ExitPass
}
