package run

import (
	"context"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// Executor runs matrix cells through the same pipeline as `rig run`. It
// writes only inside each cell's directory (run.json belongs to the matrix)
// and never returns an error: a cell that cannot run is an infra-error
// cell saying why.
type Executor struct {
	base Options
}

// NewExecutor returns the real cell executor; base holds the options
// shared by every cell (results, cache, timeouts, seed...).
func NewExecutor(base Options) (Executor, error) {
	if err := Prepare(&base); err != nil {
		return Executor{}, err
	}
	return Executor{base: base}, nil
}

// RunCell builds and boots the cell s describes, in dir (the matrix's
// executor); with s.Baseline, the unpatched tree first, in dir/baseline.
func (e Executor) RunCell(ctx context.Context, s Spec, dir string) result.Cell {
	rec := &record{run: &result.Run{Host: hostInfo(ctx)}} // run.json is the matrix's
	bad := func(err error) result.Cell {
		return result.Cell{ID: s.ID, Arch: s.Arch, Series: s.Series, Status: result.InfraError, Cause: oneLine(err.Error())}
	}
	c, err := newCell(e.base, s, rec, dir)
	if err != nil {
		return bad(err)
	}
	if err := requireTools(c.arch, s.Tree == ""); err != nil {
		return bad(err)
	}
	cells := []*cell{c}
	if s.Baseline && len(c.spec.Patches) > 0 {
		b := s
		b.ID, b.Series, b.Patches, b.Role, b.Baseline = s.ID+"-baseline", "", []patch.Patch{}, "baseline", false
		base, err := newCell(e.base, b, rec, filepath.Join(dir, "baseline"))
		if err != nil {
			return bad(err)
		}
		cells = []*cell{base, c}
	}
	for _, c := range cells {
		if ctx.Err() == nil {
			c.execute(ctx, nil)
		}
	}
	labelTwins(cells)
	if len(cells) == 2 {
		c.res.BaselineStages = cells[0].res.Stages
	}
	if ctx.Err() != nil && (c.res.Status == "" || c.res.Status == result.InfraError) {
		c.res.Status, c.res.Cause = result.Interrupted, "interrupted"
	}
	return *c.res
}
