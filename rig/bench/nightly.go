package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/matrix"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

// DefaultPlan is the nightly's plan in a rig checkout, the plan of
// --what nightly unless --plan names another.
const DefaultPlan = "patches/nightly.yaml"

// Nightly is one warm run of a matrix plan (`rig matrix PLAN`, in-process)
// against the sum of its cells' minimal work, read back from the run.json
// it wrote.
type Nightly struct {
	Plan    string `json:"plan"`
	Command string `json:"command"`
	Results string `json:"results,omitempty"` // the run directory
	Status  string `json:"status,omitempty"`
	Error   string `json:"error,omitempty"`
	// Jobs is the cells the run let run at once (-j); Parallel the most
	// that could: Jobs, or fewer when the plan has fewer kernel groups
	// (a group's cells run one after another).
	Jobs     int `json:"jobs"`
	Parallel int `json:"parallel"`
	// Wall is the whole `rig matrix` in-process: options checked, every
	// cell, the reports.
	Wall time.Duration `json:"wall_ns"`
	Work Work          `json:"work"`
	// Ratio is Wall over Work.Minimal: below 1 when cells overlap.
	// RatioShared is Wall over Work.Minimal / Parallel: the sum shared out
	// evenly among the cells that can run at once, so 1 would be a run
	// with no overhead and perfect overlap.
	Ratio       float64 `json:"ratio"`
	RatioShared float64 `json:"ratio_shared"`
}

// Work is what a run's cells did, from its run.json.
type Work struct {
	CellCount int        `json:"cell_count"` // run.json's cells (a baseline twin is in its cell)
	Cells     []CellWork `json:"cells"`      // each cell with stages, its twin first
	// Minimal is the sum of the cells' minimal work: Build + Boot + Tests,
	// the unpatched twins of cells judged against a baseline included.
	Minimal time.Duration `json:"minimal_ns"`
	Build   time.Duration `json:"build_ns"` // build stages that built (not the kernel cache's)
	Boot    time.Duration `json:"boot_ns"`  // QEMU's start to the guest's first event
	Tests   time.Duration `json:"tests_ns"` // the first guest event to the last (done)
	Builds  int           `json:"builds"`   // kernels built
	Boots   int           `json:"boots"`    // machines booted, baselines included
	// BaselineBoots are the baselines booted; BaselinesKept those judged
	// from kept base results without a boot (a cached boot stage).
	BaselineBoots int `json:"baseline_boots"`
	BaselinesKept int `json:"baselines_kept"`
	// Busy is the sum of the cells' spans (first stage's start to the last
	// one's end, a baseline twin a span of its own): Minimal, the other
	// stages (Overhead) and the time between stages.
	Busy time.Duration `json:"busy_ns"`
	// Overhead is the cells' time outside their minimal work, per stage
	// name (" (cached)" appended to a stage that found its result cached),
	// then BetweenStages; each Share is of Busy.
	Overhead []StageShare `json:"overhead"`
	// Span is the run's own time (run.json's started to finished), Idle
	// the part of it in which no cell was in a stage span: cells waiting
	// to start, or between two cells of a group.
	Span time.Duration `json:"span_ns"`
	Idle time.Duration `json:"idle_ns"`
}

// BetweenStages names the time inside cells' spans that no stage covers:
// waiting for the build slot (another rig, or a cell of the same tree),
// locks, bookkeeping.
const BetweenStages = "(between stages: build slot, locks)"

// CellWork is one cell's share of Work.
type CellWork struct {
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Twin    bool          `json:"baseline,omitempty"` // the unpatched twin of the cell ID names
	Minimal time.Duration `json:"minimal_ns"`
	Build   time.Duration `json:"build_ns"`
	Boot    time.Duration `json:"boot_ns"`
	Tests   time.Duration `json:"tests_ns"`
	Span    time.Duration `json:"span_ns"`
}

// minimalStage says which of a cell's stages are its minimal work: a
// kernel build that ran (the kernel cache's lookup is recorded as a
// cached build), the boot to the first guest event (a baseline judged
// from kept results records a cached boot that booted nothing) and the
// tests. Everything else (source, apply, config, verify, kselftest, pack,
// accel, poweroff, a wedged machine's grace, symbolize) is overhead.
func minimalStage(s result.Stage) bool {
	switch s.Name {
	case "build", "boot":
		return !s.Cached
	case "tests":
		return true
	}
	return false
}

// MinimalWork sums the minimal work of r's cells and says where the rest
// of their time went.
func MinimalWork(r *result.Run) Work {
	var w Work
	over := map[string]time.Duration{}
	var between time.Duration
	var order []string
	var spans [][2]time.Time
	w.CellCount = len(r.Cells)
	add := func(id, status string, twin bool, stages []result.Stage) {
		if len(stages) == 0 {
			return
		}
		cw := CellWork{ID: id, Status: status, Twin: twin}
		var inStages time.Duration
		first, last := stages[0].Start, stages[0].Start
		for _, s := range stages {
			inStages += s.Elapsed
			if s.Start.Before(first) {
				first = s.Start
			}
			if end := s.Start.Add(s.Elapsed); end.After(last) {
				last = end
			}
			if minimalStage(s) {
				switch s.Name {
				case "build":
					cw.Build += s.Elapsed
					w.Builds++
				case "boot":
					cw.Boot += s.Elapsed
					w.Boots++
					if twin {
						w.BaselineBoots++
					}
				case "tests":
					cw.Tests += s.Elapsed
				}
				continue
			}
			if twin && s.Name == "boot" && s.Cached {
				w.BaselinesKept++
			}
			name := s.Name
			if s.Cached {
				name += " (cached)"
			}
			if _, ok := over[name]; !ok {
				order = append(order, name)
			}
			over[name] += s.Elapsed
		}
		cw.Span = last.Sub(first)
		if gap := cw.Span - inStages; gap > 0 {
			between += gap
		}
		cw.Minimal = cw.Build + cw.Boot + cw.Tests
		w.Build += cw.Build
		w.Boot += cw.Boot
		w.Tests += cw.Tests
		w.Minimal += cw.Minimal
		w.Busy += cw.Span
		spans = append(spans, [2]time.Time{first, last})
		w.Cells = append(w.Cells, cw)
	}
	for _, c := range r.Cells {
		add(c.ID+"-baseline", "", true, c.BaselineStages)
		add(c.ID, string(c.Status), false, c.Stages)
	}
	// The stage names in the order stages first ran, BetweenStages last.
	if between > 0 {
		order = append(order, BetweenStages)
		over[BetweenStages] = between
	}
	for _, name := range order {
		share := 0.0
		if w.Busy > 0 {
			share = float64(over[name]) / float64(w.Busy)
		}
		w.Overhead = append(w.Overhead, StageShare{Name: name, Elapsed: over[name], Share: share})
	}
	if !r.Finished.IsZero() && r.Finished.After(r.Started) {
		w.Span = r.Finished.Sub(r.Started)
		w.Idle = w.Span - covered(spans, r.Started, r.Finished)
	}
	return w
}

// covered is how much of [from, to] the spans cover, overlaps counted
// once.
func covered(spans [][2]time.Time, from, to time.Time) time.Duration {
	sort.Slice(spans, func(i, j int) bool { return spans[i][0].Before(spans[j][0]) })
	var d time.Duration
	cur := from
	for _, s := range spans {
		a, b := s[0], s[1]
		if a.Before(cur) {
			a = cur
		}
		if b.After(to) {
			b = to
		}
		if b.After(a) {
			d += b.Sub(a)
			cur = b
		}
	}
	return d
}

// NightlyRun runs o.Plan's cells warm, as `rig matrix PLAN -j o.CellJobs`
// does, into the bench's results, and sets the run's minimal work against
// its wall time.
// makeJobs is make's -j (0: the matrix's MakeJobs).
func NightlyRun(ctx context.Context, o Options, makeJobs int, say func(string)) Nightly {
	n := Nightly{Plan: o.Plan, Command: "rig matrix " + o.Plan}
	if o.Plan == "" {
		n.Plan, n.Error = DefaultPlan, "the nightly's plan is a rig checkout's "+DefaultPlan+": run `rig bench` inside one, or give --plan"
		return n
	}
	chk := matrix.Check{Tests: run.TestNames(), KconfigDir: filepath.Join(o.Root, "kconfigs")}
	p, err := matrix.Load(o.Plan, chk)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	specs, err := p.Expand()
	if err != nil {
		n.Error = err.Error()
		return n
	}
	mo := matrix.Options{Plan: o.Plan, Jobs: o.CellJobs,
		Run: run.Options{Root: o.Root, Cache: o.Cache, Results: cache.BenchResults.Path(o.Cache), Jobs: makeJobs,
			Command: []string{"rig", "bench", "--what", "nightly", "--plan", o.Plan}, UI: ui.New(lineWriter(say))}}
	if kf := p.KnownIssues(); kf != "" {
		// As `rig matrix` reads them; they change verdicts, not times.
		if mo.Run.Known, err = known.Load(kf, time.Now()); err != nil {
			say(fmt.Sprintf("nightly: known issues not used: %v", err))
		}
	}
	if mo.Jobs == 0 {
		if mo.Jobs, err = matrix.JobsFor(specs, mo.Run); err != nil {
			n.Error = err.Error()
			return n
		}
	}
	n.Jobs = mo.Jobs
	n.Parallel = max(1, min(mo.Jobs, len(matrix.Groups(specs))))
	n.Command = fmt.Sprintf("rig matrix %s -j %d", o.Plan, mo.Jobs)
	if makeJobs > 0 {
		n.Command += fmt.Sprintf(" --make-j %d", makeJobs)
	}
	say(fmt.Sprintf("nightly: %d cells of %s, %d at a time", len(specs), o.Plan, mo.Jobs))
	t0 := time.Now()
	r, dir, err := matrix.Execute(ctx, specs, mo)
	n.Wall = time.Since(t0)
	n.Results = dir
	if err != nil {
		n.Error = err.Error()
	}
	if dir == "" {
		return n
	}
	// The figures come from the run.json on disk, as a reader would
	// have them, not from the run in memory.
	if r, err = result.Load(dir); err != nil {
		n.Error = strings.TrimSpace(n.Error + " " + err.Error())
		return n
	}
	n.Status = string(r.Status)
	n.setWork(MinimalWork(r))
	say(fmt.Sprintf("nightly: %s in %s, minimal work %s", n.Status, secs(n.Wall), secs(n.Work.Minimal)))
	return n
}

// setWork records w and sets the wall time against it.
func (n *Nightly) setWork(w Work) {
	n.Work = w
	n.Ratio, n.RatioShared = 0, 0
	if w.Minimal > 0 {
		n.Ratio = float64(n.Wall) / float64(w.Minimal)
		n.RatioShared = n.Ratio * float64(max(n.Parallel, 1))
	}
}

// lineWriter passes each line written to it to say.
type lineWriter func(string)

func (f lineWriter) Write(p []byte) (int, error) {
	for _, l := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		if len(l) > 0 {
			f("nightly: " + string(l))
		}
	}
	return len(p), nil
}

// print writes the nightly's figures: the wall time against the minimal
// work, then where the cells' other time went.
func (n Nightly) print(w io.Writer) {
	wk := n.Work
	fmt.Fprintf(w, "nightly %s (%s): %s, %s, %d cells + %d baseline(s) booted (%d kept), %d kernels built\n",
		n.Plan, n.Command, secs(n.Wall), orDash(n.Status), wk.CellCount, wk.BaselineBoots, wk.BaselinesKept, wk.Builds)
	if n.Error != "" {
		fmt.Fprintf(w, "    error: %s\n", lines.First(n.Error))
	}
	if wk.Minimal == 0 {
		return
	}
	fmt.Fprintf(w, "    %-38s %8s  (builds %s, boots %s, tests %s)\n", "minimal work, summed over cells", secs(wk.Minimal), secs(wk.Build), secs(wk.Boot), secs(wk.Tests))
	if n.Parallel > 1 {
		fmt.Fprintf(w, "    %-38s %8.2f  wall / minimal work (up to %d cells at once: overlap can take it below 1)\n", "ratio", n.Ratio, n.Parallel)
		fmt.Fprintf(w, "    %-38s %8.2f  wall / (minimal work / %d): 1 is no overhead and perfect overlap\n", "ratio, the work shared by "+fmt.Sprint(n.Parallel), n.RatioShared, n.Parallel)
	} else {
		fmt.Fprintf(w, "    %-38s %8.2f  wall / minimal work (one cell at a time)\n", "ratio", n.Ratio)
	}
	fmt.Fprintf(w, "    %-38s %8s  minimal work %.1f%% of it; the rest per stage:\n", "cells' time, summed", secs(wk.Busy), 100*float64(wk.Minimal)/float64(max(wk.Busy, 1)))
	for _, s := range wk.Overhead {
		fmt.Fprintf(w, "      %-36s %8s %5.1f%%\n", s.Name, secs(s.Elapsed), 100*s.Share)
	}
	if wk.Span > 0 {
		fmt.Fprintf(w, "    %-38s %8s  (cells waiting to start or between a group's cells); set-up and reports %s\n",
			"no cell in a stage", secs(wk.Idle), secs(max(0, n.Wall-wk.Span)))
	}
	for _, c := range wk.Cells {
		id := c.ID
		st := c.Status
		if c.Twin {
			st = "baseline"
		}
		fmt.Fprintf(w, "      %-36s %-11s minimal %8s of %8s\n", id, st, secs(c.Minimal), secs(c.Span))
	}
}
