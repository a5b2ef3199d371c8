package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/report"
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
	buildID := ""
	if b.Kernel == "" {
		k, _, err := Last(o.Cache, a.Name)
		if err != nil {
			return nil, "", &UsageError{err}
		}
		b.Kernel = k
		// A kernel from the kernel cache knows its build id: the boot is
		// refused if the guest reports another.
		if id, err := os.ReadFile(filepath.Join(filepath.Dir(k), "build-id")); err == nil {
			buildID = strings.TrimSpace(string(id))
		}
		o.UI.Printf("booting the last kernel built for %s: %s", a.Name, k)
	}
	if _, err := os.Stat(b.Kernel); err != nil {
		return nil, "", &UsageError{fmt.Errorf("--kernel %s: %w", b.Kernel, err)}
	}
	if b.Initramfs != "" {
		if _, err := os.Stat(b.Initramfs); err != nil {
			return nil, "", &UsageError{fmt.Errorf("--initramfs %s: %w", b.Initramfs, err)}
		}
	}
	r, dir, err := newRun(o, nil)
	if err != nil {
		return nil, "", err
	}
	c, err := newCell(o, a, r, dir, nil, a.Name+"-boot")
	if err != nil {
		return nil, "", err
	}
	c.shell = b.Shell
	c.res.BuildID = buildID
	c.res.KernelImage = b.Kernel
	c.res.KernelSHA256, _ = cache.HashFile(b.Kernel)
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
			return finishRun(ctx, r, dir, []*cell{c}, nil)
		}
		b.Initramfs = img.Path
	}
	c.res.Initramfs = b.Initramfs
	c.boot(ctx, b.Kernel, b.Initramfs)
	return finishRun(ctx, r, dir, []*cell{c}, nil)
}

// newRun creates the run directory and its record.
func newRun(o Options, names []string) (*result.Run, string, error) {
	id, dir, err := result.NewRunDir(o.Results, time.Now())
	if err != nil {
		return nil, "", err
	}
	r := &result.Run{ID: id, Command: o.Command, Started: time.Now(), Series: o.Series,
		Configs: names, Tests: o.Tests, Seed: o.Seed, Host: hostInfo(context.Background())}
	r.KernelSource = o.KernelSrc
	if err := result.Save(dir, r); err != nil {
		return nil, "", err
	}
	o.UI.Printf("run %s: results in %s", id, dir)
	return r, dir, nil
}

// newCell adds a cell to the run; id names its directory.
func newCell(o Options, a arch.Arch, r *result.Run, dir string, names []string, id string) (*cell, error) {
	c := &cell{opts: o, ui: o.UI, run: r, runDir: dir, arch: a, idx: len(r.Cells)}
	c.res = &result.Cell{ID: sanitizeID(id), Arch: a.Name, Config: strings.Join(names, "+"), Series: o.Series}
	c.dir = filepath.Join(dir, c.res.ID)
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	r.Cells = append(r.Cells, *c.res)
	c.save()
	return c, nil
}

// cellID is the directory name of a cell: arch plus extra fragments.
func cellID(a arch.Arch, o Options, suffix string) string {
	id := a.Name
	if len(o.Configs) > 0 {
		id += "-" + strings.Join(o.Configs, "+")
	}
	if suffix != "" {
		id += "-" + suffix
	}
	return id
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

// finishRun closes the run: status, run.json, reports. Cells still
// undecided when ctx was cancelled are marked interrupted.
func finishRun(ctx context.Context, r *result.Run, dir string, cells []*cell, patches []patch.Patch) (*result.Run, string, error) {
	if ctx.Err() != nil {
		r.Status = result.Interrupted
		r.Cause = "interrupted (" + context.Cause(ctx).Error() + ")"
		for _, c := range cells {
			if c.res.Status == "" || c.res.Status == result.InfraError {
				c.res.Status, c.res.Cause = result.Interrupted, r.Cause
			}
		}
	}
	for _, c := range cells {
		c.sync()
	}
	r.Finish(time.Now())
	if err := result.Save(dir, r); err != nil {
		return r, dir, err
	}
	if err := report.WriteReports(dir, r); err != nil {
		return r, dir, err
	}
	if err := report.WriteHTML(dir, r); err != nil {
		return r, dir, err
	}
	if err := report.WriteKCIDB(dir, r, report.KCIDBOptions{Patches: report.PatchFiles(patches), Dir: dir}); err != nil {
		return r, dir, err
	}
	return r, dir, nil
}
