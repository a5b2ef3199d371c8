package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/setup"
)

// BootOptions are the extra inputs of `rig boot`.
type BootOptions struct {
	Kernel    string // "" = the last kernel `rig run` built for the arch
	Initramfs string // "" = the guest image (built if needed)
	Shell     bool   // u-root's shell on the console instead of tests
}

// Boot boots an existing kernel with the guest: the boot, tests and verdict
// of Run without source, apply and build. Results go to results/ as for Run.
func Boot(ctx context.Context, o Options, b BootOptions) (*result.Run, string, error) {
	if err := Prepare(&o); err != nil {
		return nil, "", err
	}
	a, _ := arch.Lookup(o.Arch)
	if err := setup.Require("go", qemuTool(a)); err != nil {
		return nil, "", err
	}
	if b.Kernel == "" {
		k, _, err := Last(o.Cache, a.Name)
		if err != nil {
			return nil, "", &UsageError{err}
		}
		b.Kernel = k
	}
	if _, err := os.Stat(b.Kernel); err != nil {
		return nil, "", &UsageError{fmt.Errorf("--kernel %s: %w", b.Kernel, err)}
	}
	if b.Initramfs != "" {
		if _, err := os.Stat(b.Initramfs); err != nil {
			return nil, "", &UsageError{fmt.Errorf("--initramfs %s: %w", b.Initramfs, err)}
		}
	}
	c, err := newCell(o, a, nil, "boot")
	if err != nil {
		return nil, "", err
	}
	c.shell = b.Shell
	c.res.KernelImage = b.Kernel
	if st, err := os.Stat(b.Kernel); err == nil {
		c.res.KernelSize = st.Size()
	}
	if b.Initramfs == "" {
		var img *initramfs.Image
		if err := c.stage("pack", func() (bool, string, error) {
			var err error
			img, err = initramfs.Builder{Root: o.Root, Cache: o.Cache}.Build(ctx, a, b.Shell)
			if err != nil {
				return false, "", err
			}
			return img.Cached, fmt.Sprintf("%d KiB", img.Size>>10), nil
		}); err != nil {
			c.fail(result.InfraError, "packing the initramfs: "+err.Error())
			return c.finish(ctx)
		}
		b.Initramfs = img.Path
	}
	c.res.Initramfs = b.Initramfs
	c.boot(ctx, b.Kernel, b.Initramfs)
	return c.finish(ctx)
}

// newCell creates the run directory and the single cell of a run.
func newCell(o Options, a arch.Arch, names []string, kind string) (*cell, error) {
	id, dir, err := result.NewRunDir(o.Results, time.Now())
	if err != nil {
		return nil, err
	}
	r := &result.Run{ID: id, Command: o.Command, Started: time.Now(), Series: o.Series,
		Configs: names, Tests: o.Tests, Seed: o.Seed, Host: hostInfo(context.Background())}
	r.KernelSource = o.KernelSrc
	c := &cell{opts: o, ui: o.UI, run: r, runDir: dir, arch: a}
	cid := a.Name
	if kind == "boot" {
		cid += "-boot"
	} else if len(o.Configs) > 0 {
		cid += "-" + strings.Join(o.Configs, "+")
	}
	c.res = &result.Cell{ID: sanitizeID(cid), Arch: a.Name, Config: strings.Join(names, "+"), Series: o.Series}
	c.dir = filepath.Join(dir, c.res.ID)
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	r.Cells = []result.Cell{*c.res}
	c.save()
	o.UI.Printf("run %s: results in %s", id, dir)
	return c, nil
}

// sanitizeID keeps a cell id usable as a directory name.
func sanitizeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// finish closes the run: status, run.json, reports.
func (c *cell) finish(ctx context.Context) (*result.Run, string, error) {
	r := c.run
	if ctx.Err() != nil {
		r.Status = result.Interrupted
		r.Cause = "interrupted (" + context.Cause(ctx).Error() + ")"
		if c.res.Status == "" || c.res.Status == result.InfraError {
			c.res.Status, c.res.Cause = result.Interrupted, r.Cause
		}
	}
	c.sync()
	r.Finish(time.Now())
	if err := result.Save(c.runDir, r); err != nil {
		return r, c.runDir, err
	}
	if err := result.WriteReports(c.runDir, r); err != nil {
		return r, c.runDir, err
	}
	return r, c.runDir, nil
}
