package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/matrix"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
	"github.com/rig-kernel/rig/rig/source"
)

// parseInterspersed parses flags that may come before or after the
// positional arguments (`rig matrix PLAN --shard 1/4` and `rig matrix
// --shard 1/4 PLAN` are the same) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// planCheck is the validation a plan gets from this checkout: test names,
// and config fragments when the checkout is found.
func planCheck() matrix.Check {
	chk := matrix.Check{Tests: run.TestNames()}
	if root, err := initramfs.Root(); err == nil {
		chk.KconfigDir = filepath.Join(root, "kconfigs")
	}
	return chk
}

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("matrix", stderr, "PLAN [--list] [--shard i/n] [-j N] [--results DIR] ...")
	list := fs.Bool("list", false, "print the cell IDs (one a line) and run nothing")
	shardF := fs.String("shard", "", "run (or list) only slice i/n (1-based) of the cells; a kernel group (same tree, arch, config) is never split")
	jobs := fs.Int("j", 0, "cells in parallel (default: min(CPUs, available memory / (--memory + 2 GiB)))")
	makeJ := fs.Int("make-j", 0, "make -j of each kernel build (default: CPUs / cells that can run at once, rounded up)")
	var o run.Options
	fs.StringVar(&o.Results, "results", "", "results directory; the run directory is created inside it (default: results/ in the rig checkout)")
	registerGuest(fs, &o)
	registerBuild(fs, &o)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "rig matrix: want exactly one plan file, got %d argument(s) (see -h)\n", len(pos))
		return ExitUsage
	}
	var sh matrix.Shard
	if *shardF != "" {
		if sh, err = matrix.ParseShard(*shardF); err != nil {
			fmt.Fprintf(stderr, "rig matrix: --%v\n", err)
			return ExitUsage
		}
	}
	if *jobs < 0 || *makeJ < 0 {
		fmt.Fprintln(stderr, "rig matrix: -j and --make-j must not be negative")
		return ExitUsage
	}
	specs, err := matrix.Cells(pos[0], planCheck(), sh)
	if err != nil {
		fmt.Fprintf(stderr, "rig matrix: %v\n", result.Clean(err.Error(), 2000))
		if matrix.IsPlanError(err) {
			return ExitUsage
		}
		return ExitInfra
	}
	if *list {
		if err := matrix.List(stdout, specs); err != nil {
			return ExitInfra
		}
		return ExitPass
	}

	if *jobs == 0 {
		*jobs = matrix.DefaultJobs(o.MemoryMB)
	}
	o.Jobs = *makeJ
	if o.Jobs == 0 {
		// Builds share the CPUs with the cells that can run beside them.
		par := max(1, min(*jobs, len(matrix.Groups(specs))))
		o.Jobs = (runtime.NumCPU() + par - 1) / par
	}
	o.Command = append([]string{"rig", "matrix"}, args...)
	o.UI = ui.New(stderr)
	if err := run.Prepare(&o); err != nil {
		return finish(nil, "", err, stdout, stderr)
	}
	exec, err := run.NewExecutor(o) // one cell, built and booted for real
	if err != nil {
		return finish(nil, "", err, stdout, stderr)
	}
	id, dir, err := result.NewRunDir(o.Results, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "rig matrix: %v\n", err)
		return ExitInfra
	}
	r := &result.Run{ID: id, Command: o.Command, Started: time.Now(), Seed: o.Seed, Host: matrixHost()}
	var trees, series []string
	for _, s := range specs {
		t := s.Tree
		if t == "" {
			t = "debian:" + source.DebianPackage
		}
		trees = appendOnce(trees, t)
		if s.Series != "" {
			series = appendOnce(series, s.Series)
		}
		r.Tests = s.Tests
	}
	r.KernelSource, r.Series = strings.Join(trees, ", "), strings.Join(series, ", ")
	what := "all cells"
	if sh.N > 0 {
		what = "shard " + sh.String()
	}
	o.UI.Printf("run %s: %s of %s, %d cell(s), %d at a time: results in %s", id, what, pos[0], len(specs), *jobs, dir)
	if len(specs) == 0 {
		o.UI.Notice("%s has no cells: the plan has fewer kernel groups than shards", what)
	}
	rn := matrix.Runner{Exec: exec, Jobs: *jobs, Log: o.UI.Printf}
	if err := rn.Run(ctx, specs, dir, r); err != nil {
		fmt.Fprintf(stderr, "rig matrix: %v\n", err)
	}
	fmt.Fprint(stdout, report.Screen(r, dir))
	return r.Status.ExitCode()
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

// matrixHost records the host (the compiler version is in each cell's
// kernel, through the executor).
func matrixHost() result.Host {
	h := result.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	return h
}

// cmdReportMerge is `rig report merge OUT DIR...` (args start at OUT): it
// joins shard run directories into the new run directory OUT. Like the other
// report commands it exits 0 when the report is written (whatever the
// verdict: the shard runs carry that), 2 for bad arguments, a directory
// without run.json or a cell ID in two runs, 3 when writing fails.
func cmdReportMerge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report merge", stderr, "OUT DIR...")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) < 2 {
		fmt.Fprintln(stderr, "rig report merge: want OUT and at least one run directory (see -h)")
		return ExitUsage
	}
	r, err := matrix.Merge(pos[0], pos[1:], append([]string{"rig", "report", "merge"}, args...))
	var me *matrix.MissingRunError
	var de *matrix.DuplicateCellError
	switch {
	case errors.As(err, &me), errors.As(err, &de):
		fmt.Fprintf(stderr, "rig report merge: %v\n", err)
		return ExitUsage
	case err != nil:
		fmt.Fprintf(stderr, "rig report merge: %v\n", err)
		return ExitInfra
	}
	fmt.Fprint(stdout, report.Screen(r, pos[0]))
	return ExitPass
}
