package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/bench"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/run"
)

// benchCommand is `rig bench`: the rig against this machine's physical
// limits, printed as ratios and written as JSON.
func benchCommand(e *env) *ffcli.Command {
	var f benchFlags
	return leaf{
		name:     "bench",
		synopsis: "[--what boot,build,pack,whole,verdicts,nightly] [--arch x86_64,arm64] [--n 5] [--cold] [--plan PLAN] [--jobs N] [--json FILE] | --variants SPEC [--arch A] [--n 3]",
		short:    "measure boot, build, pack and a whole run against plain QEMU and make (ratios with their spread, JSON), time broken kernels to their verdict, and a matrix plan against its cells' minimal work",
		flags:    f.register,
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "bench", args) {
				return ExitUsage
			}
			return runBench(ctx, &f, e.stdout, e.stderr)
		},
	}.command(e, "")
}

// benchFlags are bench's own: what to measure and how often.
type benchFlags struct {
	arches, what, tests         listFlag
	n, buildN, packN, jobs, rel int
	cellJobs                    int
	cold                        bool
	series, jsonOut, variants   string
	plan                        string
	duration                    time.Duration
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	f.arches = listFlag{vals: allArches()}
	f.what = listFlag{vals: bench.DefaultParts}
	f.tests = listFlag{vals: []string{"robust-unmap-remap"}}
	fs.Var(&f.arches, "arch", "architectures, comma-separated")
	fs.Var(&f.what, "what", "what to measure, comma-separated: boot, build, pack, whole, verdicts (each kind of broken kernel of patches/ on x86_64, timed to its verdict; a kernel not cached is built first, a KASAN one among them), nightly (not by default: --plan's cells warm, against the sum of their builds, boots and tests)")
	fs.IntVar(&f.n, "n", 5, "boots per side (rig and raw QEMU), interleaved; medians are compared")
	fs.IntVar(&f.buildN, "build-n", 3, "incremental rebuilds per side (rig and plain make)")
	fs.IntVar(&f.packN, "pack-n", 2, "image builds per kind (cold and cached)")
	fs.IntVar(&f.jobs, "j", 0, "make -j for the builds (default: number of CPUs, as 'rig run')")
	fs.BoolVar(&f.cold, "cold", false, "also cold kernel builds (without ccache, through an empty ccache) and a fresh one with warm ccache (minutes of CPU per arch)")
	fs.IntVar(&f.rel, "reliability", 0, "extra rig boots per arch, counted clean or not (e.g. 50)")
	fs.StringVar(&f.series, "series", "", "one-patch series for the whole run (default: the first patch of patches/example)")
	fs.Var(&f.tests, "tests", "guest tests of the whole run")
	fs.DurationVar(&f.duration, "duration", run.DefaultDuration, helpDuration)
	fs.StringVar(&f.plan, "plan", "", "the matrix plan of --what nightly (default: the rig checkout's "+bench.DefaultPlan+": hours under TCG)")
	fs.IntVar(&f.cellJobs, "jobs", 0, "--what nightly: cells at once, as rig matrix's -j (default: rig matrix's); -j stays make's -j (default there: rig matrix's --make-j)")
	fs.StringVar(&f.jsonOut, "json", "bench.json", `where the numbers go ("" for nowhere)`)
	fs.StringVar(&f.variants, "variants", "", `instead: compare raw QEMU boot variants of the last kernel built for each --arch, interleaved --n times: ';'-separated, each "key=value|...", keys m, cpu, accel, cmdline, append, args, kernel, initrd, end=kill (a guest that cannot power off, ended at its done event), events=virtio (events on hvc0) (e.g. ";m=pc|append=no_timer_check": the unchanged command and one variant); the first boot of each keeps its console in the results directory`)
}

func runBench(ctx context.Context, f *benchFlags, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "rig bench: %v\n", err)
		if _, ok := errors.AsType[*run.UsageError](err); ok {
			return ExitUsage
		}
		return ExitInfra
	}
	if f.variants != "" {
		err := bench.Variants(ctx, f.variants, f.arches.vals, f.n, stdout, func(s string) { fmt.Fprintln(stderr, "bench: "+s) })
		if err != nil {
			return fail(err)
		}
		return exitUnlessInterrupted(ctx)
	}
	o := bench.Options{Arches: f.arches.vals, What: map[string]bool{}, N: f.n, BuildN: f.buildN, PackN: f.packN, Jobs: f.jobs,
		Cold: f.cold, Reliability: f.rel, Series: f.series, Tests: f.tests.vals, Duration: f.duration, Plan: f.plan, CellJobs: f.cellJobs,
		Progress: func(s string) { fmt.Fprintln(stderr, "bench: "+s) }}
	for _, w := range f.what.vals {
		o.What[w] = true
	}
	if err := o.Prepare(); err != nil {
		return fail(err)
	}
	r := bench.Run(ctx, o)
	r.Print(stdout)
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			err = atomicfile.WriteFile(f.jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "numbers: %s\n", f.jsonOut)
	}
	return exitUnlessInterrupted(ctx)
}

// exitUnlessInterrupted is a finished command's exit code.
func exitUnlessInterrupted(ctx context.Context) int {
	if ctx.Err() != nil {
		return ExitInterrupted
	}
	return ExitPass
}
