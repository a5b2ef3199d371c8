package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/bench"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/run"
)

// benchCommand is `rig bench`: the rig against this machine's physical
// limits, printed as ratios and written as JSON.
func benchCommand(e *env) *ffcli.Command {
	var f benchFlags
	return leaf{
		name:     "bench",
		synopsis: "[--what boot,build,pack,whole] [--arch x86_64,arm64] [--n 5] [--cold] [--json FILE] | --variants SPEC [--arch A] [--n 3]",
		short:    "measure boot, build, pack and a whole run against plain QEMU and make (ratios, JSON)",
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
	cold                        bool
	series, jsonOut, variants   string
	duration                    time.Duration
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	f.arches = listFlag{vals: allArches()}
	f.what = listFlag{vals: []string{"boot", "build", "pack", "whole"}}
	f.tests = listFlag{vals: []string{"robust-unmap-remap"}}
	fs.Var(&f.arches, "arch", "architectures, comma-separated")
	fs.Var(&f.what, "what", "what to measure, comma-separated: boot, build, pack, whole")
	fs.IntVar(&f.n, "n", 5, "boots per side (rig and raw QEMU), interleaved; medians are compared")
	fs.IntVar(&f.buildN, "build-n", 3, "incremental rebuilds per side (rig and plain make)")
	fs.IntVar(&f.packN, "pack-n", 2, "image builds per kind (cold and cached)")
	fs.IntVar(&f.jobs, "j", 0, "make -j for the builds (default: number of CPUs, as `rig run`)")
	fs.BoolVar(&f.cold, "cold", false, "also cold kernel builds (without ccache, through an empty ccache) and a fresh one with warm ccache (minutes of CPU per arch)")
	fs.IntVar(&f.rel, "reliability", 0, "extra rig boots per arch, counted clean or not (e.g. 50)")
	fs.StringVar(&f.series, "series", "", "one-patch series for the whole run (default: the first patch of patches/example)")
	fs.Var(&f.tests, "tests", "guest tests of the whole run")
	fs.DurationVar(&f.duration, "duration", run.DefaultDuration, helpDuration)
	fs.StringVar(&f.jsonOut, "json", "bench.json", `where the numbers go ("" for nowhere)`)
	fs.StringVar(&f.variants, "variants", "", `instead: compare raw QEMU boot variants of the last kernel built for each --arch, interleaved --n times: ';'-separated, each "key=value|...", keys m, cpu, accel, cmdline, append, args, kernel (e.g. ";m=pc|append=no_timer_check": the unchanged command and one variant); the first boot of each keeps its console in the results directory`)
}

func runBench(ctx context.Context, f *benchFlags, stdout, stderr io.Writer) int {
	if f.variants != "" {
		return benchVariants(ctx, f.variants, f.arches.vals, f.n, stdout, stderr)
	}
	o := bench.Options{Arches: f.arches.vals, What: map[string]bool{}, N: f.n, BuildN: f.buildN, PackN: f.packN, Jobs: f.jobs,
		Cold: f.cold, Reliability: f.rel, Series: f.series, Tests: f.tests.vals, Duration: f.duration,
		Progress: func(s string) { fmt.Fprintln(stderr, "bench: "+s) }}
	for _, w := range f.what.vals {
		switch w {
		case "boot", "build", "pack", "whole":
			o.What[w] = true
		default:
			fmt.Fprintf(stderr, "rig bench: --what %q: want boot, build, pack or whole\n", w)
			return ExitUsage
		}
	}
	for _, a := range f.arches.vals {
		if _, err := arch.Lookup(a); err != nil {
			fmt.Fprintf(stderr, "rig bench: --arch: %v\n", err)
			return ExitUsage
		}
	}
	if f.n < 1 || f.buildN < 1 || f.packN < 1 {
		fmt.Fprintln(stderr, "rig bench: --n, --build-n and --pack-n must be at least 1")
		return ExitUsage
	}
	var err error
	if o.Root, err = initramfs.Root(); err != nil {
		fmt.Fprintf(stderr, "rig bench: %v\n", err)
		return ExitInfra
	}
	if o.Cache, err = cache.Dir(); err != nil {
		fmt.Fprintf(stderr, "rig bench: %v\n", err)
		return ExitInfra
	}
	if o.Series == "" {
		o.Series = defaultBenchSeries(o.Root)
	}
	r := bench.Run(ctx, o)
	r.Print(stdout)
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			err = atomicfile.WriteFile(f.jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rig bench: %v\n", err)
			return ExitInfra
		}
		fmt.Fprintf(stdout, "numbers: %s\n", f.jsonOut)
	}
	if ctx.Err() != nil {
		return ExitInterrupted
	}
	return ExitPass
}

// benchSeries is the whole run's default: the first patch of
// patches/example, a one-patch series.
const benchSeries = "patches/example/0001-futex-note-why-handle_futex_death-must-not-store-to-.patch"

// defaultBenchSeries returns benchSeries in the checkout, or "" (the base
// tree) without it.
func defaultBenchSeries(root string) string {
	p := root + "/" + benchSeries
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// benchVariants runs `rig bench --variants`: a tool to try boot options
// without touching the rig, printed as medians and ratios.
func benchVariants(ctx context.Context, spec string, arches []string, n int, stdout, stderr io.Writer) int {
	vs, err := bench.ParseVariants(spec)
	if err != nil {
		fmt.Fprintf(stderr, "rig bench: --variants: %v\n", err)
		return ExitUsage
	}
	dir, err := cache.Dir()
	if err != nil {
		fmt.Fprintf(stderr, "rig bench: %v\n", err)
		return ExitInfra
	}
	for _, a := range arches {
		k, i, err := run.Last(dir, a)
		if err != nil {
			fmt.Fprintf(stderr, "rig bench: %v\n", err)
			return ExitInfra
		}
		con, err := os.MkdirTemp("", "rig-bench-variants-"+a+"-")
		if err != nil {
			fmt.Fprintf(stderr, "rig bench: %v\n", err)
			return ExitInfra
		}
		fmt.Fprintf(stdout, "%s (consoles in %s):\n", a, con)
		rs := bench.CompareVariants(ctx, bench.Image{Arch: a, Kernel: k, Initramfs: i}, vs, n, con,
			func(s string) { fmt.Fprintln(stderr, "bench: "+a+": "+s) })
		bench.PrintVariants(stdout, rs)
	}
	if ctx.Err() != nil {
		return ExitInterrupted
	}
	return ExitPass
}
