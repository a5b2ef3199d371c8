package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/matrix"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

// matrixCommand is `rig matrix PLAN`: a plan's cells (or one shard of
// them), listed or run in parallel.
func matrixCommand(e *env) *ffcli.Command {
	var (
		o     matrix.Options
		list  bool
		shard string
		fs    *flag.FlagSet
		symb  bool
		hist  string
		kf    string
	)
	return leaf{
		name:     "matrix",
		synopsis: "PLAN [--list] [--shard i/n] [-j N] [--results DIR] ...",
		short:    "PLAN [--shard i/n] [--list]: expand a plan into cells and run them in parallel",
		flags: func(f *flag.FlagSet) {
			fs = f
			fs.BoolVar(&list, "list", false, "print the cell IDs (one a line) and run nothing")
			fs.StringVar(&shard, "shard", "", "run (or list) only slice i/n (1-based) of the cells; a kernel group (same tree, arch, config) is never split")
			fs.IntVar(&o.Jobs, "j", 0, "cells in parallel (default: min(CPUs, available memory / (--memory + 2 GiB)))")
			fs.IntVar(&o.Run.Jobs, "make-j", 0, "make -j of each kernel build (default: CPUs / cells that can run at once, rounded up)")
			registerResults(fs, &o.Run)
			registerKeep(fs, &o.Run)
			registerGuest(fs, &o.Run)
			registerMachine(fs, &o.Run)
			registerExtras(fs, &o.Run)
			registerBuild(fs, &o.Run)
			registerSymbolize(fs, &symb)
			registerHistory(fs, &hist)
			registerKnown(fs, &kf)
		},
		run: func(ctx context.Context, args []string) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return e.flagFailure(err, ExitUsage)
			}
			if len(pos) != 1 {
				fmt.Fprintf(e.stderr, "rig matrix: want exactly one plan file, got %d argument(s) (see -h)\n", len(pos))
				return ExitUsage
			}
			o.Plan = pos[0]
			if shard != "" {
				if o.Shard, err = matrix.ParseShard(shard); err != nil {
					fmt.Fprintf(e.stderr, "rig matrix: --%v\n", err)
					return ExitUsage
				}
			}
			if o.Jobs < 0 || o.Run.Jobs < 0 {
				fmt.Fprintln(e.stderr, "rig matrix: -j and --make-j must not be negative")
				return ExitUsage
			}
			specs, err := matrix.Cells(o.Plan, matrix.CheckoutCheck(), o.Shard)
			if err != nil {
				fmt.Fprintf(e.stderr, "rig matrix: %v\n", result.Clean(err.Error(), 2000))
				if matrix.IsPlanError(err) {
					return ExitUsage
				}
				return ExitInfra
			}
			if kf == "" {
				kf = planKnown(o.Plan)
			}
			var ok bool
			if o.Run.Known, ok = loadKnown(e, "matrix", kf); !ok {
				return ExitUsage
			}
			if list {
				if err := matrix.List(e.stdout, specs); err != nil {
					return ExitInfra
				}
				return ExitPass
			}
			if symb {
				for i := range specs {
					specs[i].Configs = run.WithDebugInfo(specs[i].Configs)
				}
			}
			h, ok := loadHistory(e, "matrix", hist)
			if !ok {
				return ExitUsage
			}
			o.Run.Command = e.command()
			o.Run.UI = ui.New(e.stderr)
			r, dir, err := matrix.Execute(ctx, specs, o)
			if err == nil {
				if err = labelFlaky(dir, hist, h, r); err != nil {
					err = fmt.Errorf("--history: labelling summary.md: %w", err)
				}
			}
			return finish(r, dir, err, e.stdout, e.stderr)
		},
	}.command(e, "")
}
