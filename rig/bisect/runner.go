package bisect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

// Runner is the real Env: each run is the rig's pipeline (run.Run) on the
// base tree with a prefix of the series, passed in memory. Every step goes
// through the same build slot, so make rebuilds only what the prefix
// changed; a tree seen before (a repeat) comes from the kernel cache. Each
// run's directory lands inside the bisection's directory.
type Runner struct {
	opts    run.Options // one arch; Results = the bisection's directory
	patches []patch.Patch
	dir     string
}

// NewRunner prepares the real Env for a bisection writing into dir (made
// by result.NewRunDir). o.Series is the series to bisect; o holds one
// arch. Errors are *run.UsageError for bad input.
func NewRunner(o run.Options, dir string) (*Runner, error) {
	if err := run.Prepare(&o); err != nil {
		return nil, err
	}
	if len(o.Arches) != 1 || len(o.Accels) != 1 {
		return nil, &run.UsageError{Err: fmt.Errorf("bisect runs one arch and one accelerator")}
	}
	ps := o.Patches // Prepare read the series (or a revision range's commits)
	if ps == nil && o.Series != "" {
		var err error
		if ps, err = patch.ReadSeries(o.Series); err != nil {
			return nil, &run.UsageError{Err: fmt.Errorf("--series: %w", err)}
		}
	}
	o.Baseline = false
	o.Results = dir
	return &Runner{opts: o, patches: ps, dir: dir}, nil
}

// Patches names the series' patches in order.
func (r *Runner) Patches() []PatchInfo {
	var out []PatchInfo
	for _, p := range r.patches {
		out = append(out, PatchInfo{Name: p.Name, Subject: p.Subject})
	}
	return out
}

// Run implements Env.
func (r *Runner) Run(ctx context.Context, k, attempt int) (Run, error) {
	o := r.opts
	o.Series, o.Patches = "", []patch.Patch{}
	if k > 0 {
		o.Series, o.Patches = r.opts.Series, r.patches[:k]
		if k < len(r.patches) {
			o.Series = fmt.Sprintf("%s (the first %d of %d patches)", r.opts.Series, k, len(r.patches))
		}
	}
	// Repeats of a race test must not replay the same interleaving.
	o.Seed = r.opts.Seed + int64(attempt) - 1
	o.Command = append(append([]string(nil), r.opts.Command...), fmt.Sprintf("[step %d/%d, run %d]", k, len(r.patches), attempt))
	if len(r.patches) > 0 {
		o.UI.Printf("bisect: %d of %d patches, run %d", k, len(r.patches), attempt)
	} else {
		o.UI.Printf("bisect-step: run %d", attempt)
	}
	rr, dir, err := run.Run(ctx, o)
	if err != nil && rr == nil {
		return Run{}, err
	}
	return Run{Cell: cellOf(rr), Dir: dir}, nil
}

// cellOf is the one verdict cell of a run (with the run's status when it
// stopped before any cell, or was interrupted).
func cellOf(r *result.Run) result.Cell {
	var c result.Cell
	for _, x := range r.Cells {
		if x.Role != "baseline" {
			c = x
		}
	}
	if c.Status == "" || r.Status == result.Interrupted || r.Status == result.InfraError {
		c.Status, c.Cause = r.Status, r.Cause
	}
	return c
}

// OpenDir makes a bisection's directory under results and its
// bisect.log; the log also goes to w (the terminal).
func OpenDir(results string, w io.Writer) (dir string, log io.Writer, closeLog func(), err error) {
	_, dir, err = result.NewRunDir(results, time.Now())
	if err != nil {
		return "", nil, nil, err
	}
	lf, err := os.Create(filepath.Join(dir, "bisect.log"))
	if err != nil {
		return "", nil, nil, err
	}
	return dir, io.MultiWriter(lf, w), func() { lf.Close() }, nil
}

// Save writes bisect.json into dir.
func Save(dir string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "bisect.json"), append(b, '\n'), 0o644)
}

// Load reads a bisect.json.
func Load(dir string) (*Result, error) {
	b, err := safefile.ReadFile(filepath.Join(dir, "bisect.json"), result.MaxRunJSON)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s/bisect.json: %w", dir, err)
	}
	return &r, nil
}

// Judge is one `git bisect run` step: runs of one tree (the Env's k),
// judged like a bisection step: bad if any run is bad, good if all are
// good, else skip. An *AbortError means the rig could not decide.
func Judge(ctx context.Context, env Env, k, runs int, what string, cfg Config) (Step, error) {
	if runs <= 0 {
		runs = 1
	}
	if what == "" {
		what = "the tree"
	}
	b := &bisector{env: env, cfg: cfg, rule: cfg.Rule, n: k, done: map[int]Verdict{}, res: &Result{}, what: what}
	return b.step(ctx, k, runs, true)
}
