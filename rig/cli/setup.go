package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/setup"
	"github.com/rig-kernel/rig/rig/source"
)

// setupCommand is `rig setup`: the host tools and the default kernel tree.
func setupCommand(e *env) *ffcli.Command {
	var check, testTools bool
	return leaf{
		name:     "setup",
		synopsis: "[--check]",
		short:    "install (or with --check, only report) the host tools and the default kernel tree",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&check, "check", false, "only report, one line per tool with its version; install nothing")
			fs.BoolVar(&testTools, "test-tools", false, "also the tools the rig's own tests need (chromium, for report.html)")
		},
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "setup", args) {
				return ExitUsage
			}
			return runSetup(ctx, e, check, testTools)
		},
	}.command(e, "")
}

func runSetup(ctx context.Context, e *env, check, testTools bool) int {
	stdout, stderr := e.stdout, e.stderr
	if !check {
		fmt.Fprintln(stdout, "rig setup: installing missing host tools with apt-get")
		if err := setup.Install(ctx, stdout, testTools); err != nil {
			return setupFailed(ctx, stderr, err)
		}
	}
	tools := setup.Check(ctx, testTools)
	if ctx.Err() != nil {
		// The versions of the tools not asked yet would print empty, as ok.
		fmt.Fprintln(stderr, "rig setup: interrupted: the tools were not all checked")
		return ExitInterrupted
	}
	missing := setup.Print(stdout, tools)
	if missing > 0 {
		fmt.Fprintf(stderr, "rig setup: %d tool(s) missing: run `rig setup` (as root) to install them\n", missing)
		return ExitInfra
	}
	if check {
		cacheDir, err := cache.Path() // --check creates nothing
		if err != nil {
			fmt.Fprintf(stderr, "rig setup: %v\n", err)
			return ExitInfra
		}
		fmt.Fprintf(stdout, "cache: %s\n", cacheDir)
		return ExitPass
	}
	cacheDir, err := cache.Dir()
	if err != nil {
		fmt.Fprintf(stderr, "rig setup: %v\n", err)
		return ExitInfra
	}
	tree, err := source.Default(ctx, cacheDir, func(s string) { fmt.Fprintln(stdout, "rig setup: "+s) })
	if err != nil {
		return setupFailed(ctx, stderr, fmt.Errorf("default kernel tree: %w", err))
	}
	fmt.Fprintf(stdout, "default kernel tree: %s (%s) at %.12s in %s\n", tree.Desc, tree.Version, tree.Commit, cacheDir)
	return ExitPass
}

// setupFailed reports an error of setup: an interruption as such (130),
// anything else as infrastructure (3).
func setupFailed(ctx context.Context, stderr io.Writer, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "rig setup: interrupted: %v\n", err)
		return ExitInterrupted
	}
	fmt.Fprintf(stderr, "rig setup: %v\n", err)
	return ExitInfra
}
