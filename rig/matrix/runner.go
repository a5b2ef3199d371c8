package matrix

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// Executor runs one cell end to end (rig/run implements it: source, apply,
// config, build, pack, boot, tests). dir is the cell's directory under the
// run directory, already created. The returned cell's verdict is a value; an
// executor that cannot decide returns an infra-error cell. It must return
// promptly once ctx is cancelled.
type Executor interface {
	RunCell(ctx context.Context, s Spec, dir string) result.Cell
}

// BuildHeadroom is the memory a cell needs beyond its guest: the kernel
// build (compiler processes, the linker) and QEMU itself.
const BuildHeadroom = 2 << 30

// DefaultJobs is the default -j: as many cells as there are CPUs and as fit
// in the available memory at guestMB + BuildHeadroom each; at least 1.
func DefaultJobs(guestMB int) int {
	return jobsFor(runtime.NumCPU(), memAvailable(), guestMB)
}

func jobsFor(cpus int, avail int64, guestMB int) int {
	n := cpus
	if avail > 0 {
		per := int64(guestMB)<<20 + BuildHeadroom
		if m := int(avail / per); m < n {
			n = m
		}
	}
	return max(n, 1)
}

// memAvailable is MemAvailable from /proc/meminfo in bytes, 0 if unknown.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// Runner runs a list of cells into one run directory.
type Runner struct {
	Exec Executor
	// Jobs bounds the cells running at once; <= 0 means DefaultJobs(512).
	Jobs int
	// Log receives one line per cell started and finished; nil: silent.
	Log func(format string, a ...any)
	// Known are the failures expected (known-issues.yaml), matched when the
	// run finishes; nil: none.
	Known *known.List
}

// Run executes specs into the run directory dir and records them in r (the
// caller fills ID, Command, Started, Host and such; Run sets Cells, Status,
// Cause, Finished). Cells of one kernel group (KernelKey) run one after
// another, in ID order; groups run in parallel up to Jobs. run.json is saved
// atomically after every cell, so the directory always holds the last
// complete state. When ctx is cancelled, running cells are told to stop,
// no new cell starts, and every cell without a verdict is marked
// interrupted; the run is then written as it stands. The returned error is
// only for failing to write the results.
func (rn *Runner) Run(ctx context.Context, specs []Spec, dir string, r *result.Run) error {
	jobs := rn.Jobs
	if jobs <= 0 {
		jobs = DefaultJobs(512)
	}
	logf := rn.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	groups := Groups(specs)
	index := map[string]int{}
	r.Cells = r.Cells[:0]
	for _, g := range groups {
		for _, s := range g {
			index[s.ID] = len(r.Cells)
			r.Cells = append(r.Cells, placeholder(s))
		}
	}
	var (
		mu      sync.Mutex
		saveErr error
		done    int
	)
	save := func() {
		if err := result.Save(dir, r); err != nil && saveErr == nil {
			saveErr = err
		}
	}
	mu.Lock()
	save()
	mu.Unlock()

	work := make(chan []Spec)
	var wg sync.WaitGroup
	for w := 0; w < min(jobs, len(groups)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for _, s := range g {
					if ctx.Err() != nil {
						break // the rest of the group is marked below
					}
					c := rn.runCell(ctx, s, dir, logf)
					mu.Lock()
					r.Cells[index[s.ID]] = c
					done++
					logf("[%d/%d] %s: %s", done, len(specs), s.ID, strings.ToUpper(string(c.Status)))
					save()
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, g := range groups {
		select {
		case work <- g:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()

	if ctx.Err() != nil {
		r.Status = result.Interrupted
		r.Cause = "interrupted (" + context.Cause(ctx).Error() + ")"
		for i := range r.Cells {
			if r.Cells[i].Status == "" {
				r.Cells[i].Status, r.Cells[i].Cause = result.Interrupted, r.Cause
			}
		}
	} else if len(r.Cells) == 0 {
		r.Status = result.Pass // an empty shard is not a failure
	}
	if rn.Known != nil {
		known.Apply(r, rn.Known)
	}
	r.Finish(time.Now())
	save()
	if saveErr != nil {
		return fmt.Errorf("saving %s: %w", filepath.Join(dir, "run.json"), saveErr)
	}
	return report.WriteAll(dir, r, report.KCIDBOptions{Dir: dir})
}

func (rn *Runner) runCell(ctx context.Context, s Spec, dir string, logf func(string, ...any)) result.Cell {
	cdir := filepath.Join(dir, s.ID)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		c := placeholder(s)
		c.Status, c.Cause = result.InfraError, "cell directory: "+err.Error()
		return c
	}
	logf("%s: start", s.ID)
	c := rn.Exec.RunCell(ctx, s, cdir)
	// The directory name is the matrix's, whatever the executor says.
	p := placeholder(s)
	c.ID = s.ID
	if c.Arch == "" {
		c.Arch = p.Arch
	}
	if c.Accel == "" {
		c.Accel = p.Accel
	}
	if c.Config == "" {
		c.Config = p.Config
	}
	if c.Series == "" {
		c.Series = p.Series
	}
	switch {
	case ctx.Err() != nil && (c.Status == "" || c.Status == result.InfraError):
		c.Status, c.Cause = result.Interrupted, "interrupted ("+context.Cause(ctx).Error()+")"
	case c.Status == "":
		c.Status, c.Cause = result.InfraError, "the executor returned no verdict"
	}
	return c
}

// placeholder is a cell before it has run: its identity, no verdict.
func placeholder(s Spec) result.Cell {
	names := []string{"base"}
	if a, err := arch.Lookup(s.Arch); err == nil {
		names = append(names, a.Fragment)
	}
	for _, f := range s.Configs {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".config"))
	}
	return result.Cell{ID: s.ID, Arch: s.Arch, Accel: s.Accel, Config: strings.Join(names, "+"), Series: s.Series}
}
