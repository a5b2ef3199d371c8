package run

import (
	"context"
	"errors"
	"fmt"

	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// prepare takes the cell from source to a packed image, asking env for
// each stage: source, apply, config, build, verify (or the kernel cache
// instead of those three), kselftest, pack. It records every stage and
// turns a stage's failure into the cell's verdict; ok is false when the
// verdict is set (patch-error, build-error, ...) or ctx was cancelled.
func (c *cell) prepare(ctx context.Context, env Env, patches []patch.Patch) (kern, initrd string, ok bool) {
	defer env.Release()
	var tree *source.Tree
	if err := c.stage("source", func() (bool, string, error) {
		var err error
		if tree, err = env.Source(ctx, c); err != nil {
			return false, "", err
		}
		return false, tree.Desc + " " + tree.Version, nil
	}); err != nil {
		c.fail(result.InfraError, "kernel source: "+err.Error())
		return "", "", false
	}
	if tree.Notice != "" {
		c.ui.Notice("%s", tree.Notice)
	}
	_ = c.rec.update(func(r *result.Run) { r.KernelSource = tree.Desc })
	if err := env.Lock(ctx, c, tree); err != nil {
		c.fail(result.InfraError, err.Error())
		return "", "", false
	}

	var treeID string
	if err := c.stage("apply", func() (bool, string, error) {
		applied, id, err := env.Apply(ctx, c, patches)
		treeID = id
		for _, ap := range applied {
			c.res.Patches = append(c.res.Patches, result.Patch{Name: ap.Patch.Name, Subject: ap.Patch.Subject, State: string(ap.State), SHA256: patchSum(ap.Patch.Data)})
			if ap.State == patch.StateAlreadyApplied {
				c.ui.Notice("%s is already applied to the tree: skipped", ap.Patch.Name)
			}
		}
		if len(patches) == 0 {
			return false, "no series: base tree", err
		}
		return false, fmt.Sprintf("%d patches", len(patches)), err
	}); err != nil {
		if pe, ok := errors.AsType[*patch.PatchError](err); ok {
			c.fail(result.PatchError, pe.Error())
		} else {
			c.fail(result.InfraError, "applying the series: "+err.Error())
		}
		return "", "", false
	}
	c.res.TreeID = treeID

	kern, err := c.kernel(ctx, env, treeID, patches)
	if err != nil {
		if ctx.Err() == nil && c.res.Status == "" {
			c.fail(result.InfraError, err.Error())
		}
		return "", "", false
	}
	if kern == "" {
		return "", "", false // the verdict is set
	}

	// The tree's own futex selftests, built in the slot (they need its
	// UAPI headers) when the guest will run them.
	var selftests map[string]string
	if c.wants(kselftestTest) {
		_ = c.stage("kselftest", func() (bool, string, error) {
			bins, err := env.Selftests(ctx, c)
			if err != nil {
				// Not fatal: the guest reports kselftest-futex as skipped.
				c.ui.Notice("futex selftests not built (%v): %s will be skipped", err, kselftestTest)
				return false, "not built", nil
			}
			selftests = bins
			return false, fmt.Sprintf("%d binaries", len(bins)), nil
		})
	}
	env.Release() // the slot is free for other cells: the rest needs no tree

	if initrd, ok = c.pack(ctx, env, selftests); !ok {
		return "", "", false
	}
	rememberLast(c.opts.Cache, c.arch.Name, kern, initrd)
	return kern, initrd, true
}

// pack is the pack stage: the guest's image, with the selftests if any.
func (c *cell) pack(ctx context.Context, env Env, selftests map[string]string) (string, bool) {
	var initrd string
	if err := c.stage("pack", func() (bool, string, error) {
		img, err := env.Pack(ctx, c, selftests)
		if err != nil {
			return false, "", err
		}
		initrd = img.Path
		return img.Cached, fmt.Sprintf("%d KiB guest", img.Size>>10), nil
	}); err != nil {
		c.fail(result.InfraError, "packing the initramfs: "+err.Error())
		return "", false
	}
	c.res.Initramfs = initrd
	return initrd, true
}

// kernel returns the boot image for the tree treeID, from the kernel cache
// or by configuring, building and verifying it. An empty path with a nil
// error means the cell's verdict was set (build-error, config problem,
// stale build).
func (c *cell) kernel(ctx context.Context, env Env, treeID string, patches []patch.Patch) (string, error) {
	k, present := env.CachedKernel(c, treeID)
	c.res.BuildID = k.BuildID
	if present {
		err := c.stage("build", func() (bool, string, error) { return true, "kernel " + k.Key, nil })
		c.noteKernel(k.Image, k.Dir)
		c.findVmlinux(k.Vmlinux())
		return k.Image, err
	}

	var missing []kconfig.Missing
	err := c.stage("config", func() (bool, string, error) {
		var cached bool
		var note string
		var err error
		missing, cached, note, err = env.Config(ctx, c, patches)
		return cached, note, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		c.fail(result.BuildError, "kernel config: "+err.Error())
		return "", nil
	}
	if len(missing) > 0 {
		me := &kconfig.MissingError{Missing: missing}
		if !c.opts.AllowMissingConfig {
			c.fail(result.BuildError, me.Error())
			return "", nil
		}
		c.ui.Notice("%s", me.Error())
	}

	var img string
	err = c.stage("build", func() (bool, string, error) {
		var err error
		img, err = env.Build(ctx, c, k.BuildID)
		c.ui.Done()
		return false, "", err
	})
	if err != nil {
		if be, ok := errors.AsType[*kbuild.Error](err); ok {
			c.fail(result.BuildError, be.Error())
			return "", nil
		}
		return "", err
	}
	// Nothing is booted or cached on make's and ccache's word alone.
	err = c.stage("verify", func() (bool, string, error) {
		var note string
		var err error
		img, note, err = env.Verify(ctx, c, img, k.BuildID, treeID)
		return false, note, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if _, ok := errors.AsType[*kbuild.StaleError](err); ok {
			c.fail(result.InfraError, err.Error())
			return "", nil
		}
		c.fail(result.InfraError, "verifying the build: "+err.Error())
		return "", nil
	}
	image := env.Publish(c, k, img)
	c.noteKernel(image, k.Dir)
	c.findVmlinux(k.Vmlinux())
	return image, nil
}
