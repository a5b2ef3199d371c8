package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/kconfig"
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
// executor).
func (e Executor) RunCell(ctx context.Context, s Spec, dir string) result.Cell {
	o := e.base
	o.Arch, o.Accel, o.Arches, o.Accels = s.Arch, s.Accel, []string{s.Arch}, []string{s.Accel}
	o.Configs, o.KernelSrc, o.Series, o.Tests = s.Configs, s.Tree, s.Series, s.Tests
	if s.Duration > 0 {
		o.Duration = s.Duration
	}
	// Repeats of a race test must not replay the same interleaving.
	o.Seed = e.base.Seed + int64(s.Repeat) - 1
	bad := func(err error) result.Cell {
		return result.Cell{ID: s.ID, Arch: s.Arch, Series: s.Series, Status: result.InfraError, Cause: oneLine(err.Error())}
	}
	a, err := arch.Lookup(s.Arch)
	if err != nil {
		return bad(err)
	}
	names := append([]string{"base", a.Fragment}, s.Configs...)
	frags, err := kconfig.Resolve(filepath.Join(o.Root, "kconfigs"), names)
	if err != nil {
		return bad(err)
	}
	var patches []patch.Patch
	if s.Series != "" {
		if patches, err = patch.ReadSeries(s.Series); err != nil {
			return bad(fmt.Errorf("series: %w", err))
		}
	}
	if err := requireTools(a, s.Tree == ""); err != nil {
		return bad(err)
	}
	mk := func(id, cdir string, series string) (*cell, error) {
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			return nil, err
		}
		r := &result.Run{Host: hostInfo(ctx)}
		c := &cell{opts: o, ui: o.UI, run: r, arch: a, frags: frags, dir: cdir, detached: true}
		c.res = &result.Cell{ID: id, Arch: a.Name, Config: joinPlus(names), Series: series}
		return c, nil
	}
	var base *cell
	if s.Baseline && len(patches) > 0 {
		if base, err = mk(s.ID+"-baseline", filepath.Join(dir, "baseline"), ""); err != nil {
			return bad(err)
		}
		base.res.Role = "baseline"
		base.pipeline(ctx, nil)
	}
	c, err := mk(s.ID, dir, s.Series)
	if err != nil {
		return bad(err)
	}
	if ctx.Err() == nil {
		c.pipeline(ctx, patches)
	}
	if base != nil {
		Label(&base.res.Tests, &c.res.Tests)
	}
	if ctx.Err() != nil && (c.res.Status == "" || c.res.Status == result.InfraError) {
		c.res.Status, c.res.Cause = result.Interrupted, "interrupted"
	}
	return *c.res
}

func joinPlus(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "+"
		}
		out += x
	}
	return out
}
