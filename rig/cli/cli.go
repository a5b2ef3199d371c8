// Package cli is the rig command line, callable in-process: cmd/rig is a
// thin main around Execute, and tests drive subcommands without spawning a
// process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
	"github.com/rig-kernel/rig/rig/setup"
	"github.com/rig-kernel/rig/rig/source"
)

// Exit codes (docs/design.md, "Verdicts and exit codes").
const (
	ExitPass        = 0
	ExitFail        = 1
	ExitUsage       = 2
	ExitInfra       = 3
	ExitInterrupted = 130
)

const usage = `rig: test Linux kernel patch series against futex races under QEMU

usage: rig <command> [flags]

commands:
  setup    install (or with --check, only report) the host tools and the default kernel tree
  run      apply a series, build, pack, boot, test, report
  boot     boot a kernel (default: the last built) with the guest; --shell for a shell
  matrix   PLAN [--shard i/n] [--list]: expand a plan into cells and run them in parallel
  bisect   --series DIR [--tests X] [--bad-if test=X|oops=TEXT] [--repeat N]: the first patch that goes bad
  bisect-step  [run flags]: one "git bisect run" step (exit 0 good, 1 bad, 125 skip, >=128 abort)
  report   html DIR | diff OLD NEW | kcidb DIR | merge OUT DIR...: reports from run directories
  tests    list the guest's tests
  bench    measure boot, build, pack and a whole run against plain QEMU and make (ratios, JSON)
  cache    [prune [--older-than 336h] [--dry-run]]: the cache's build slots and sizes; prune removes unused ones

Run 'rig <command> -h' for its flags. Exit codes: 0 pass, 1 fail, 2 usage, 3 infrastructure, 130 interrupted.
`

// Execute runs the command line args (without the program name) and returns
// the exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "setup":
		return cmdSetup(ctx, args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "boot":
		return cmdBoot(ctx, args[1:], stdout, stderr)
	case "report":
		return cmdReport(ctx, args[1:], stdout, stderr)
	case "matrix":
		return cmdMatrix(ctx, args[1:], stdout, stderr)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "bisect":
		return cmdBisect(ctx, args[1:], stdout, stderr)
	case "bisect-step":
		return cmdBisectStep(ctx, args[1:], stdout, stderr)
	case "cache":
		return cmdCache(ctx, args[1:], stdout, stderr)
	case "tests":
		for _, n := range run.TestNames() {
			fmt.Fprintln(stdout, n)
		}
		return ExitPass
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return ExitPass
	}
	fmt.Fprintf(stderr, "rig: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

func newFlags(name string, stderr io.Writer, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("rig "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rig %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and refuses stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q (every input is a flag; see %s -h)", fs.Arg(0), fs.Name())
		fmt.Fprintln(fs.Output(), err)
		return err
	}
	return nil
}

func cmdSetup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("setup", stderr, "[--check]")
	check := fs.Bool("check", false, "only report, one line per tool with its version; install nothing")
	testTools := fs.Bool("test-tools", false, "also the tools the rig's own tests need (chromium, for report.html)")
	if err := parse(fs, args); err != nil {
		return ExitUsage
	}
	if !*check {
		fmt.Fprintln(stdout, "rig setup: installing missing host tools with apt-get")
		if err := setup.Install(ctx, stdout, *testTools); err != nil {
			fmt.Fprintf(stderr, "rig setup: %v\n", err)
			return ExitInfra
		}
	}
	missing := setup.Print(stdout, setup.Check(ctx, *testTools))
	if missing > 0 {
		fmt.Fprintf(stderr, "rig setup: %d tool(s) missing: run `rig setup` (as root) to install them\n", missing)
		return ExitInfra
	}
	cacheDir, err := cache.Dir()
	if err != nil {
		fmt.Fprintf(stderr, "rig setup: %v\n", err)
		return ExitInfra
	}
	if *check {
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

// listFlag is a comma-separated, repeatable flag; the first use replaces
// the default.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.vals = append(l.vals, p)
		}
	}
	return nil
}

// runFlags are shared by run and boot.
type runFlags struct {
	o       run.Options
	tests   listFlag
	configs listFlag
	arches  listFlag
	accels  listFlag
}

func (f *runFlags) register(fs *flag.FlagSet, build bool) {
	if build {
		f.arches = listFlag{vals: []string{"x86_64", "arm64"}}
		f.accels = listFlag{vals: []string{"auto"}}
		fs.Var(&f.arches, "arch", "target architectures, comma-separated: x86_64, arm64 (default both)")
		fs.Var(&f.accels, "accel", "accelerators, comma-separated: auto (KVM if a probe boot works, else TCG), kvm, tcg; kvm,tcg runs both")
	} else {
		fs.StringVar(&f.o.Arch, "arch", "x86_64", "target architecture: x86_64 or arm64")
		fs.StringVar(&f.o.Accel, "accel", "auto", "accelerator: auto (KVM if a probe boot works, else TCG), kvm, tcg")
	}
	fs.Var(&f.tests, "tests", "guest tests to run, comma-separated (default: all; see `rig tests`)")
	fs.DurationVar(&f.o.Duration, "duration", run.DefaultDuration, helpDuration)
	registerGuest(fs, &f.o)
	fs.StringVar(&f.o.Results, "results", "", "results directory (default: results/ in the rig checkout)")
	if build {
		fs.StringVar(&f.o.KernelSrc, "kernel-src", "", "kernel tree or git checkout (default: the kernel tree you are in, else Debian's linux-source-6.12; \"debian\": Debian's always)")
		fs.StringVar(&f.o.Series, "series", "", "patch series: a directory of *.patch, an mbox, or a quilt series file (default: none, test the base tree)")
		fs.Var(&f.configs, "config", "extra config fragment(s) from kconfigs/ (name) or a path, e.g. debug")
		registerBuild(fs, &f.o)
		fs.IntVar(&f.o.Jobs, "j", 0, "make -j (default: number of CPUs)")
		fs.BoolVar(&f.o.Baseline, "baseline", false, "also test the tree without the series and label each test fixed, regressed, still-failing or passing")
	}
}

// helpDuration is --duration's help wherever a command takes it.
const helpDuration = "duration of each natural (statistical) test"

// registerGuest registers the flags of the guest and its machine, shared
// by every command that boots: seed, kills, vCPUs, memory, timeouts.
func registerGuest(fs *flag.FlagSet, o *run.Options) {
	fs.Int64Var(&o.Seed, "seed", 0, "random seed for the guest (default: time-based, always recorded)")
	fs.IntVar(&o.MinKills, "min-kills", 0, "natural race tests keep going until this many kills (bounded by the test's duration)")
	fs.IntVar(&o.CPUs, "cpus", machine.DefaultCPUs, "vCPUs of each guest")
	fs.IntVar(&o.MemoryMB, "memory", machine.DefaultMemoryMB, "guest memory in MiB")
	fs.DurationVar(&o.BootTimeout, "boot-timeout", machine.DefaultBootTimeout, "time allowed from QEMU start to the guest's first event")
	fs.DurationVar(&o.RunTimeout, "run-timeout", 0, "time allowed for each whole boot (default: from the tests and duration)")
}

// registerBuild registers the flags of every command that builds kernels.
func registerBuild(fs *flag.FlagSet, o *run.Options) {
	fs.BoolVar(&o.AllowMissingConfig, "allow-missing-config", false, "warn instead of failing when a requested config option did not survive")
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr, "[--series DIR] [--kernel-src PATH] [--config FRAG] [--tests a,b] ...")
	var f runFlags
	f.register(fs, true)
	if err := parse(fs, args); err != nil {
		return ExitUsage
	}
	f.o.Tests, f.o.Configs = f.tests.vals, f.configs.vals
	f.o.Arches, f.o.Accels = f.arches.vals, f.accels.vals
	f.o.Command = append([]string{"rig", "run"}, args...)
	f.o.UI = ui.New(stderr)
	r, dir, err := run.Run(ctx, f.o)
	return finish(r, dir, err, stdout, stderr)
}

func cmdBoot(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("boot", stderr, "[--kernel IMAGE] [--initramfs CPIO] [--shell] [--tests a,b] ...")
	var f runFlags
	f.register(fs, false)
	kernel := fs.String("kernel", "", "kernel image (default: the last one `rig run` built for --arch)")
	initrd := fs.String("initramfs", "", "initramfs (default: the guest image, built if needed)")
	shell := fs.Bool("shell", false, "drop into u-root's shell on the console instead of running tests")
	if err := parse(fs, args); err != nil {
		return ExitUsage
	}
	f.o.Tests = f.tests.vals
	f.o.Command = append([]string{"rig", "boot"}, args...)
	f.o.UI = ui.New(stderr)
	r, dir, err := run.Boot(ctx, f.o, run.BootOptions{Kernel: *kernel, Initramfs: *initrd, Shell: *shell})
	return finish(r, dir, err, stdout, stderr)
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
	return r.Status.ExitCode()
}

// Main is what cmd/rig calls: signals cancel the context (a second one
// kills the process), and the exit code is returned.
func Main() int {
	ctx, stop := signalContext()
	defer stop()
	return Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
