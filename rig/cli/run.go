package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
	"github.com/rig-kernel/rig/rig/setup"
)

// runCommand is `rig run`: apply, build, pack, boot, test, report.
func runCommand(e *env) *ffcli.Command {
	var (
		o              run.Options
		t              targets
		tests, configs listFlag
		symbolize      bool
		knownFile      string
	)
	return leaf{
		name:     "run",
		synopsis: "[--series DIR|A..B|BRANCH [--each-patch] [--baseline]] [--base REF] [--kernel-src PATH] [--committed] [--config FRAG] [--tests a,b] ...",
		short:    "apply a series, build, pack, boot, test, report",
		flags: func(fs *flag.FlagSet) {
			t.register(fs)
			registerTests(fs, &tests, &o.Duration)
			registerGuest(fs, &o)
			registerMachine(fs, &o)
			registerExtras(fs, &o)
			registerResults(fs, &o)
			registerKeep(fs, &o)
			registerTree(fs, &o, &configs, testTree)
			fs.BoolVar(&o.Baseline, "baseline", true, "with --series, also test the tree without it, label each test fixed, regressed, still-failing or passing, and fail only for what the series changed (--baseline=false: test the patched tree alone)")
			fs.BoolVar(&o.Strict, "strict", false, "fail for any failure, even one the tree without the series shares")
			fs.BoolVar(&o.FreshBase, "fresh-base", false, "boot the tree without the series even when its results under the same kernel, guest and tests are kept")
			registerSymbolize(fs, &symbolize)
			fs.BoolVar(&o.EachPatch, "each-patch", false, "test every prefix of the series (patch 1, 1-2, ... all) in order, and print a table patch x (apply, build, boot, tests, oops) naming the first patch that broke each")
			registerKnown(fs, &knownFile)
		},
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "run", args) {
				return ExitUsage
			}
			o.Tests, o.Configs = tests.vals, configs.vals
			var ok bool
			if o.Known, ok = loadKnown(e, "run", knownFile); !ok {
				return ExitUsage
			}
			if symbolize {
				o.Configs = run.WithDebugInfo(o.Configs)
			}
			o.Arches, o.Accels = t.arches.vals, t.accels.vals
			o.Command = e.command()
			o.UI = ui.New(e.stderr)
			r, dir, err := run.Run(ctx, o)
			return finish(r, dir, err, e.stdout, e.stderr)
		},
	}.command(e, "")
}

// finish prints the one-screen summary and maps the outcome to an exit code.
func finish(r *result.Run, dir string, err error, stdout, stderr io.Writer) int {
	var ue *run.UsageError
	var me *setup.MissingError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "rig: %v\n", result.Clean(err.Error(), 2000))
		return ExitUsage
	case errors.As(err, &me):
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return ExitInfra
	case err != nil && r == nil:
		fmt.Fprintf(stderr, "rig: %v\n", result.Clean(err.Error(), 2000))
		return ExitInfra
	}
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
	}
	fmt.Fprint(stdout, report.Screen(r, dir))
	probablyFixed(stderr, r)
	return r.Status.ExitCode()
}
