package cli

import (
	"context"
	"flag"
	"fmt"

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
			fmt.Fprintf(stderr, "rig setup: %v\n", err)
			return ExitInfra
		}
	}
	missing := setup.Print(stdout, setup.Check(ctx, testTools))
	if missing > 0 {
		fmt.Fprintf(stderr, "rig setup: %d tool(s) missing: run `rig setup` (as root) to install them\n", missing)
		return ExitInfra
	}
	cacheDir, err := cache.Dir()
	if err != nil {
		fmt.Fprintf(stderr, "rig setup: %v\n", err)
		return ExitInfra
	}
	if check {
		fmt.Fprintf(stdout, "cache: %s\n", cacheDir)
		return ExitPass
	}
	tree, err := source.Default(ctx, cacheDir, func(s string) { fmt.Fprintln(stdout, "rig setup: "+s) })
	if err != nil {
		fmt.Fprintf(stderr, "rig setup: default kernel tree: %v\n", err)
		return ExitInfra
	}
	fmt.Fprintf(stdout, "default kernel tree: %s (%s) at %.12s in %s\n", tree.Desc, tree.Version, tree.Commit, cacheDir)
	return ExitPass
}
