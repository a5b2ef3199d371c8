package matrix

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
	"github.com/rig-kernel/rig/rig/source"
)

// CheckoutCheck is the validation a plan gets from this rig: the guest's
// test names, and the config fragments it carries.
func CheckoutCheck() Check {
	chk := Check{Tests: run.TestNames()}
	if root, err := initramfs.Sources(); err == nil {
		chk.KconfigDir = filepath.Join(root, "kconfigs")
	}
	return chk
}

// Options is a matrix run: the cells, where they come from, how many run
// at once, and the run options every cell shares.
type Options struct {
	Plan  string // the plan file, for the log
	Shard Shard  // the slice of the plan specs are, for the log; N == 0: all cells
	// Jobs bounds the cells running at once; 0: DefaultJobs of the largest
	// guest (guestMB).
	Jobs int
	// Run holds what every cell shares: results, seed, machine, UI,
	// Command. Run.Jobs is make's -j; 0: the CPUs shared by the cells
	// that can build at once (MakeJobs).
	Run run.Options
}

// Execute runs specs for real (rig/run's executor) into a new run
// directory and returns the run and its directory. Bad options are a
// *run.UsageError before any directory exists. With a run, the error is
// only for failing to write its results.
func Execute(ctx context.Context, specs []Spec, o Options) (*result.Run, string, error) {
	if err := run.Prepare(&o.Run); err != nil {
		return nil, "", err
	}
	if o.Jobs == 0 {
		var err error
		if o.Jobs, err = JobsFor(specs, o.Run); err != nil {
			return nil, "", err
		}
	}
	if o.Run.Jobs == 0 {
		o.Run.Jobs = MakeJobs(runtime.NumCPU(), o.Jobs, len(Groups(specs)))
	}
	var arches []string
	for _, s := range specs {
		if !slices.Contains(arches, s.Arch) {
			arches = append(arches, s.Arch)
		}
	}
	if err := run.CheckProgramArches(o.Run.Programs(), arches); err != nil {
		return nil, "", &run.UsageError{Err: err}
	}
	exec, err := run.NewExecutor(o.Run) // one cell, built and booted for real
	if err != nil {
		return nil, "", err
	}
	id, dir, err := result.NewRunDir(o.Run.Results, time.Now())
	if err != nil {
		return nil, "", err
	}
	r := &result.Run{ID: id, Command: o.Run.Command, Started: time.Now(), Seed: o.Run.Seed, Host: host()}
	o.Run.RecordExtras(r)
	r.KernelSource, r.Series = describe(specs)
	if len(specs) > 0 {
		r.Tests = specs[len(specs)-1].Tests
	}
	what := "all cells"
	if o.Shard.N > 0 {
		what = "shard " + o.Shard.String()
	}
	ui := o.Run.UI
	ui.Printf("run %s: %s of %s, %d cell(s), %d at a time: results in %s", id, what, o.Plan, len(specs), o.Jobs, dir)
	if len(specs) == 0 {
		ui.Notice("%s has no cells: the plan has fewer kernel groups than shards", what)
	}
	rn := Runner{Exec: exec, Jobs: o.Jobs, Log: ui.Printf, Known: o.Run.Known}
	return r, dir, rn.Run(ctx, specs, dir, r)
}

// JobsFor is the default -j of a run of specs with o: DefaultJobs of its
// largest guest (guestMB).
func JobsFor(specs []Spec, o run.Options) (int, error) {
	mb, err := guestMB(specs, o)
	if err != nil {
		return 0, err
	}
	return DefaultJobs(mb), nil
}

// MakeJobs is make's -j for each build when jobs cells run at once out of
// groups kernel groups: the CPUs shared by the builds that can run beside
// each other, rounded up.
func MakeJobs(cpus, jobs, groups int) int {
	par := max(1, min(jobs, groups))
	return (cpus + par - 1) / par
}

// describe names the trees and the series of the cells, each once, in
// order; the Debian tree is named for the cells that use the default.
func describe(specs []Spec) (trees, series string) {
	var t, s []string
	for _, sp := range specs {
		tree := sp.Tree
		if tree == "" {
			tree = "debian:" + source.DebianPackage
		}
		t = appendNew(t, tree)
		s = appendNew(s, sp.Series)
	}
	return strings.Join(t, ", "), strings.Join(s, ", ")
}

// host records the host (the compiler version is in each cell's kernel,
// through the executor).
func host() result.Host {
	h := result.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	return h
}

// guestMB is the memory of the largest guest among specs: --memory if
// given, else the most any cell's config fragments need (kconfig.Needs),
// at least the default.
func guestMB(specs []Spec, o run.Options) (int, error) {
	if o.MemoryMB > 0 {
		return o.MemoryMB, nil
	}
	mb := machine.DefaultMemoryMB
	for _, s := range specs {
		n, err := s.Needs(o.Root)
		if err != nil {
			return 0, err
		}
		mb = max(mb, n.MemoryMB)
	}
	return mb, nil
}
