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
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/setup"
	"github.com/rig-kernel/rig/rig/source"
)

// BootOptions are the extra inputs of `rig boot`.
type BootOptions struct {
	Kernel    string // "" = the last kernel `rig run` built for the arch
	Initramfs string // "" = the guest image (built if needed)
	Shell     bool   // u-root's shell on the console instead of tests
	// GDB boots under a gdb stub and prints the gdb command line. Without
	// Kernel, the tree (Options' KernelSrc, Series, Configs) is built with
	// the debuginfo fragment first, like rig run's cell, so that the
	// vmlinux gdb reads has DWARF and matches the kernel booted.
	GDB bool
}

// Boot boots an existing kernel with the guest: the boot, tests and verdict
// of Run without source, apply and build. Results go to results/ as for Run.
func Boot(ctx context.Context, o Options, b BootOptions) (*result.Run, string, error) {
	if err := Prepare(&o); err != nil {
		return nil, "", err
	}
	a, _ := arch.Lookup(o.Arch)
	need := []string{"go", a.QEMU}
	if b.GDB {
		need = append(need, "gdb-multiarch")
	}
	if err := setup.Require(need...); err != nil {
		return nil, "", err
	}
	if b.GDB && b.Kernel == "" {
		return bootBuilt(ctx, o, b)
	}
	if b.Kernel == "" {
		k, _, err := Last(o.Cache, a.Name)
		if err != nil {
			return nil, "", &UsageError{err}
		}
		b.Kernel = k
		o.UI.Printf("booting the last kernel built for %s: %s", a.Name, k)
	}
	if _, err := os.Stat(b.Kernel); err != nil {
		return nil, "", &UsageError{fmt.Errorf("--kernel %s: %w", b.Kernel, err)}
	}
	if err := CheckProgramArches(o.programs, []string{a.Name}); err != nil {
		return nil, "", &UsageError{err}
	}
	if b.Initramfs != "" {
		if len(o.Exec) > 0 || o.Overlay != "" {
			return nil, "", &UsageError{fmt.Errorf("--initramfs %s with --exec or --overlay: they go into the rig's guest image; drop --initramfs, or add the files to your image yourself", b.Initramfs)}
		}
		if _, err := os.Stat(b.Initramfs); err != nil {
			return nil, "", &UsageError{fmt.Errorf("--initramfs %s: %w", b.Initramfs, err)}
		}
	}
	r, dir, err := newRun(o, nil)
	if err != nil {
		return nil, "", err
	}
	rec := &record{run: r, dir: dir}
	s := Spec{ID: a.Name + "-boot", Arch: a.Name, Accel: o.Accel, Tests: o.Tests,
		Kernel: b.Kernel, Initramfs: b.Initramfs, Shell: b.Shell, GDB: b.GDB}
	c, err := newCell(o, s, rec, filepath.Join(dir, s.ID))
	if err != nil {
		return nil, "", err
	}
	c.execute(ctx, nil)
	return finishRun(ctx, rec, []*cell{c}, nil)
}

// bootBuilt is rig boot --gdb without --kernel: one cell of rig run for
// the tree with the debuginfo fragment (from the kernel cache when it was
// built before), booted under gdb.
func bootBuilt(ctx context.Context, o Options, b BootOptions) (*result.Run, string, error) {
	if b.Initramfs != "" {
		return nil, "", &UsageError{fmt.Errorf("--initramfs needs --kernel: rig boot --gdb builds the tree's kernel and packs the guest's image")}
	}
	a, _ := arch.Lookup(o.Arch)
	o.Configs = WithDebugInfo(o.Configs)
	o.Arches, o.Accels, o.Baseline, o.EachPatch = []string{a.Name}, []string{o.Accel}, false, false
	if err := CheckProgramArches(o.programs, o.Arches); err != nil {
		return nil, "", &UsageError{err}
	}
	if _, err := kconfig.Resolve(filepath.Join(o.Root, "kconfigs"), Spec{Configs: o.Configs}.fragmentNames(a)); err != nil {
		return nil, "", &UsageError{err}
	}
	if err := requireTools(a, o.KernelSrc == ""); err != nil {
		return nil, "", err
	}
	specs, err := o.specs()
	if err != nil {
		return nil, "", err
	}
	s := specs[0]
	s.ID, s.GDB, s.Shell = a.Name+"-boot", true, b.Shell
	r, dir, err := newRun(o, s.fragmentNames(a))
	if err != nil {
		return nil, "", err
	}
	if r.KernelSource == "" {
		r.KernelSource = "debian:" + source.DebianPackage
	}
	rec := &record{run: r, dir: dir}
	c, err := newCell(o, s, rec, filepath.Join(dir, s.ID))
	if err != nil {
		return nil, "", err
	}
	c.execute(ctx, nil)
	return finishRun(ctx, rec, []*cell{c}, s.Patches)
}

// prebuilt is Prepare for a cell that boots a kernel already built: it
// records the kernel and packs the guest's image unless one was given.
func (c *cell) prebuilt(ctx context.Context) (kern, initrd string, ok bool) {
	s := c.spec
	// A kernel from the kernel cache knows its build id: the boot is
	// refused if the guest reports another.
	if id, err := os.ReadFile(filepath.Join(filepath.Dir(s.Kernel), "build-id")); err == nil {
		c.res.BuildID = strings.TrimSpace(string(id))
	}
	c.res.KernelImage = s.Kernel
	c.findVmlinux(filepath.Join(filepath.Dir(s.Kernel), kbuild.KernelVmlinuxFile))
	c.res.KernelSHA256, _ = cache.HashFile(s.Kernel)
	if st, err := os.Stat(s.Kernel); err == nil {
		c.res.KernelSize = st.Size()
	}
	initrd = s.Initramfs
	if initrd == "" {
		if initrd, ok = c.pack(ctx, c.environment(), nil); !ok {
			return "", "", false
		}
	}
	c.res.Initramfs = initrd
	return s.Kernel, initrd, true
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
	o.RecordExtras(r)
	if err := result.Save(dir, r); err != nil {
		return nil, "", err
	}
	o.UI.Printf("run %s: results in %s", id, dir)
	return r, dir, nil
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
func finishRun(ctx context.Context, rec *record, cells []*cell, patches []patch.Patch) (*result.Run, string, error) {
	r, dir := rec.run, rec.dir
	err := rec.update(func(r *result.Run) {
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
			r.Cells[c.idx] = *c.res
		}
		if rec.known != nil {
			known.Apply(r, rec.known)
		}
		r.Finish(time.Now())
	})
	if err != nil {
		return r, dir, err
	}
	return r, dir, report.WriteAll(dir, r, report.KCIDBOptions{Patches: report.PatchFiles(patches), Dir: dir})
}
