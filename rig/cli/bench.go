package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/bench"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/run"
)

// cmdBench runs `rig bench`: the rig against this machine's physical limits,
// printed as ratios and written as JSON.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", stderr, "[--what boot,build,pack,whole] [--arch x86_64,arm64] [--n 5] [--cold] [--json FILE] | --variants SPEC [--arch A] [--n 3]")
	arches := listFlag{vals: []string{"x86_64", "arm64"}}
	what := listFlag{vals: []string{"boot", "build", "pack", "whole"}}
	tests := listFlag{vals: []string{"robust-unmap-remap"}}
	fs.Var(&arches, "arch", "architectures, comma-separated")
	fs.Var(&what, "what", "what to measure, comma-separated: boot, build, pack, whole")
	n := fs.Int("n", 5, "boots per side (rig and raw QEMU), interleaved; medians are compared")
	buildN := fs.Int("build-n", 3, "incremental rebuilds per side (rig and plain make)")
	packN := fs.Int("pack-n", 2, "image builds per kind (cold and cached)")
	jobs := fs.Int("j", 0, "make -j for the builds (default: number of CPUs, as `rig run`)")
	cold := fs.Bool("cold", false, "also cold kernel builds (without ccache, through an empty ccache) and a fresh one with warm ccache (minutes of CPU per arch)")
	rel := fs.Int("reliability", 0, "extra rig boots per arch, counted clean or not (e.g. 50)")
	series := fs.String("series", "", "one-patch series for the whole run (default: the first patch of patches/example)")
	fs.Var(&tests, "tests", "guest tests of the whole run")
	duration := fs.Duration("duration", run.DefaultDuration, helpDuration)
	jsonOut := fs.String("json", "bench.json", `where the numbers go ("" for nowhere)`)
	variants := fs.String("variants", "", `instead: compare raw QEMU boot variants of the last kernel built for each --arch, interleaved --n times: ';'-separated, each "key=value|...", keys m, cpu, accel, cmdline, append, args, kernel (e.g. ";m=pc|append=no_timer_check": the unchanged command and one variant); the first boot of each keeps its console in the results directory`)
	if err := parse(fs, args); err != nil {
		return ExitUsage
	}
	if *variants != "" {
		return benchVariants(ctx, *variants, arches.vals, *n, stdout, stderr)
	}
	o := bench.Options{Arches: arches.vals, What: map[string]bool{}, N: *n, BuildN: *buildN, PackN: *packN, Jobs: *jobs,
		Cold: *cold, Reliability: *rel, Series: *series, Tests: tests.vals, Duration: *duration,
		Progress: func(s string) { fmt.Fprintln(stderr, "bench: "+s) }}
	for _, w := range what.vals {
		switch w {
		case "boot", "build", "pack", "whole":
			o.What[w] = true
		default:
			fmt.Fprintf(stderr, "rig bench: --what %q: want boot, build, pack or whole\n", w)
			return ExitUsage
		}
	}
	for _, a := range arches.vals {
		if _, err := arch.Lookup(a); err != nil {
			fmt.Fprintf(stderr, "rig bench: --arch: %v\n", err)
			return ExitUsage
		}
	}
	if *n < 1 || *buildN < 1 || *packN < 1 {
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
	if *jsonOut != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			err = atomicfile.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rig bench: %v\n", err)
			return ExitInfra
		}
		fmt.Fprintf(stdout, "numbers: %s\n", *jsonOut)
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
