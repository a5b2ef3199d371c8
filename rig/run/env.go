package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/kselftest"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// Env is what a cell's pipeline asks of the world, one method per stage.
// The pipeline (prepare, kernel, boot) records the stages and turns their
// failures into verdicts; the real Env (realEnv) wires source, patch,
// kconfig, kbuild, kselftest, initramfs and machine, and keeps the cell's
// tree and build slot between the stages. The pipeline's unit tests give
// a fake one, so the orchestration (stages recorded, cache hits, stage
// errors and their verdicts, events to results, verdict precedence,
// interruption) is tested without building or booting anything.
type Env interface {
	// Source opens the cell's kernel tree.
	Source(ctx context.Context, c *cell) (*source.Tree, error)
	// Lock takes the build slot of the tree, arch and config, until
	// Release.
	Lock(ctx context.Context, c *cell, tree *source.Tree) error
	// Apply checks the tree out in the slot and applies the series; it
	// returns what became of each patch and the resulting tree's hash.
	Apply(ctx context.Context, c *cell, patches []patch.Patch) (applied []patch.Applied, treeID string, err error)
	// CachedKernel names the kernel cache's entry for the tree and the
	// cell's config, and whether it is there (then the cell's directory
	// has its config and build log).
	CachedKernel(c *cell, treeID string) (k kbuild.Kernel, present bool)
	// Config makes the slot's .config from the cell's fragments; missing
	// are requested options the result lacks.
	Config(ctx context.Context, c *cell, patches []patch.Patch) (missing []kconfig.Missing, cached bool, note string, err error)
	// Build builds the kernel in the slot with this build id; a compile
	// or link failure is a *kbuild.Error.
	Build(ctx context.Context, c *cell, buildID string) (image string, err error)
	// Verify checks the build's objects against fresh compiles and that
	// the image holds this build (else a *kbuild.StaleError); it returns
	// the image to boot, relinked if stale objects were rebuilt.
	Verify(ctx context.Context, c *cell, image, buildID, treeID string) (verified, note string, err error)
	// Publish puts a verified build into the kernel cache and returns the
	// image to boot.
	Publish(c *cell, k kbuild.Kernel, image string) string
	// Selftests builds the tree's futex selftests in the slot.
	Selftests(ctx context.Context, c *cell) (map[string]string, error)
	// Pack packs the guest's image, with the selftests if any.
	Pack(ctx context.Context, c *cell, selftests map[string]string) (*initramfs.Image, error)
	// Release gives the build slot back; it may be called more than once.
	Release()
	// ResolveAccel turns the requested accelerator into kvm or tcg, with
	// a notice for the user when it falls back.
	ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (accel, notice string, err error)
	// Boot runs the machine, passing what it prints to out.
	Boot(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error)
}

// environment is the cell's Env: the real one unless a test set another.
func (c *cell) environment() Env {
	if c.env == nil {
		c.env = &realEnv{}
	}
	return c.env
}

// realEnv is the Env of every real run: one per cell.
type realEnv struct {
	tree *source.Tree
	// baseErr is a base the tree lacks: Apply reports it as the series'
	// patch-error.
	baseErr error
	slot    kbuild.Slot
	lock    *cache.Lock
	wt      *source.Worktree
	log     *os.File // the cell's build.log, from Config on
}

func (e *realEnv) Source(ctx context.Context, c *cell) (*source.Tree, error) {
	var t *source.Tree
	var err error
	if c.spec.Tree == "" {
		t, err = source.Default(ctx, c.opts.Cache, func(s string) { c.ui.Stage(c.res.ID, "source", s) })
	} else {
		// A series with a base does not need the working tree.
		committed := c.opts.Committed || c.spec.Input != nil && c.spec.Input.Base != ""
		t, err = source.OpenWith(ctx, c.spec.Tree, c.opts.Cache, source.OpenOptions{Committed: committed})
	}
	if err != nil {
		return nil, err
	}
	c.res.Base, e.baseErr = c.base(ctx, t)
	return t, nil
}

func (e *realEnv) Lock(ctx context.Context, c *cell, tree *source.Tree) error {
	e.tree = tree
	e.slot = kbuild.SlotFor(c.opts.Cache, tree.GitDir, c.arch.Name, kbuild.ConfigKey(c.frags))
	var err error
	e.lock, err = e.slot.Acquire(ctx, func() {
		c.ui.Notice("waiting for another rig using build slot %s", e.slot.Dir)
	})
	return err
}

func (e *realEnv) Release() {
	if e.lock != nil {
		e.lock.Release()
		e.lock = nil
	}
	if e.log != nil {
		e.log.Close()
		e.log = nil
	}
}

func (e *realEnv) Apply(ctx context.Context, c *cell, patches []patch.Patch) ([]patch.Applied, string, error) {
	if e.baseErr != nil {
		applied := make([]patch.Applied, len(patches))
		for i, p := range patches {
			applied[i] = patch.Applied{Patch: p, State: patch.StateNotTried}
		}
		return applied, "", e.baseErr
	}
	var err error
	if e.wt, err = e.tree.Checkout(ctx, e.slot.Src); err != nil {
		return nil, "", err
	}
	var applied []patch.Applied
	if len(patches) > 0 {
		applied, err = patch.Apply(ctx, e.wt.Dir, patches, func(i int, p patch.Patch) {
			c.ui.Live(c.res.ID, "apply", fmt.Sprintf("%d/%d %s", i+1, len(patches), p.Name))
		})
		if pe, ok := errors.AsType[*patch.PatchError](err); ok && c.spec.Input != nil && len(c.spec.Input.Prerequisites) > 0 {
			pe.Reason += fmt.Sprintf(" (the series states %d prerequisite patch(es) its base lacks: apply them first)", len(c.spec.Input.Prerequisites))
		}
		if err != nil {
			return applied, "", err
		}
	}
	id, err := e.wt.TreeID(ctx)
	if err != nil {
		return applied, "", fmt.Errorf("tree id: %w", err)
	}
	return applied, id, nil
}

func (e *realEnv) CachedKernel(c *cell, treeID string) (kbuild.Kernel, bool) {
	k := kbuild.CachedKernel(c.opts.Cache, c.arch, treeID, kbuild.ConfigKey(c.frags), c.rec.run.Host.GCC)
	if !k.Present() {
		return k, false
	}
	e.keepVmlinux(k)
	copyFile(filepath.Join(k.Dir, kbuild.KernelConfigFile), filepath.Join(c.dir, "kernel.config"))
	copyFile(filepath.Join(k.Dir, kbuild.KernelLogFile), filepath.Join(c.dir, "build.log"))
	return k, true
}

// make is how the slot's kernel is configured.
func (e *realEnv) make(c *cell) (kconfig.Make, error) {
	launcher, err := kbuild.Launcher()
	if err != nil {
		return kconfig.Make{}, err
	}
	return kconfig.Make{Src: e.slot.Src, Build: e.slot.Build, Args: kbuild.MakeArgs(c.arch, launcher), Log: e.log}, nil
}

// Config configures the slot (kbuild's Slot.Configure keeps its stamps)
// and copies the result beside the cell's results.
func (e *realEnv) Config(ctx context.Context, c *cell, patches []patch.Patch) (missing []kconfig.Missing, cached bool, note string, err error) {
	if e.log, err = os.Create(filepath.Join(c.dir, "build.log")); err != nil {
		return nil, false, "", err
	}
	defer copyFile(filepath.Join(e.slot.Build, ".config"), filepath.Join(c.dir, "kernel.config"))
	mk, err := e.make(c)
	if err != nil {
		return nil, false, "", err
	}
	missing, cached, note, err = e.slot.Configure(ctx, mk, c.frags, kbuild.ConfigKey(c.frags), patch.TouchesKconfig(patches))
	for _, m := range missing {
		fmt.Fprintf(e.log, "rig: missing config: %s\n", m)
	}
	return missing, cached, note, err
}

func (e *realEnv) build(c *cell, buildID string) kbuild.Build {
	return kbuild.Build{Arch: c.arch, Src: e.slot.Src, Dir: e.slot.Build, Jobs: c.opts.Jobs, CCache: true, Log: e.log, Version: buildID}
}

func (e *realEnv) Build(ctx context.Context, c *cell, buildID string) (string, error) {
	// Until this tree's build is verified, the build dir may hold objects
	// of it: the next verification covers what changed since then too.
	if err := e.slot.NotePending(c.res.TreeID); err != nil {
		return "", err
	}
	b := e.build(c, buildID)
	b.Progress = func(p kbuild.Progress) {
		msg := p.Last
		if p.Total > 0 {
			msg = ui.Bar(float64(p.Steps)/float64(p.Total)) + " " + msg
		} else {
			msg = fmt.Sprintf("step %d %s", p.Steps, msg)
		}
		c.ui.Live(c.res.ID, "build", msg)
	}
	return b.Run(ctx)
}

func (e *realEnv) Verify(ctx context.Context, c *cell, img, buildID, treeID string) (string, string, error) {
	b := e.build(c, buildID)
	rep, err := e.verifyObjects(ctx, c, b, treeID)
	if rep != nil {
		c.res.ObjectCheck = &result.ObjectCheck{Stale: rep.Stale(), Repaired: rep.Repaired, Skipped: rep.Skipped, Seconds: rep.Seconds}
		for _, ch := range rep.Checked {
			c.res.ObjectCheck.Checked = append(c.res.ObjectCheck.Checked, ch.Source)
		}
	}
	if err != nil {
		return img, "", err
	}
	note := fmt.Sprintf("%d objects match a fresh compile", len(rep.Checked))
	if len(rep.Repaired) > 0 {
		c.ui.Notice("stale object(s) built from %s did not match a fresh compile: rebuilt without the cache and relinked", strings.Join(rep.Repaired, ", "))
		if img, err = b.Run(ctx); err != nil {
			return img, "", fmt.Errorf("relinking after rebuilding stale objects: %w", err)
		}
		note += fmt.Sprintf(" after rebuilding %d stale", len(rep.Repaired))
	}
	// The image must hold this build's vmlinux: a boot wrapper that
	// packed an earlier kernel would otherwise be published.
	ok, err := kbuild.ImageHasBuildID(img, buildID)
	if err != nil {
		return img, "", err
	}
	if !ok {
		return img, "", &kbuild.StaleError{Image: img, BuildID: buildID}
	}
	return img, note + "; the image holds build " + buildID, nil
}

// verifyObjects compares with a fresh compile the objects built from the
// files the series changed and from the files that changed since the
// slot's last verified build (and any build attempted since), then records
// the tree as the slot's verified build.
func (e *realEnv) verifyObjects(ctx context.Context, c *cell, b kbuild.Build, treeID string) (*kbuild.VerifyReport, error) {
	set := map[string]bool{}
	add := func(from string) error {
		files, err := kbuild.ChangedSources(ctx, e.slot.Src, from, treeID)
		for _, f := range files {
			set[f] = true
		}
		return err
	}
	if err := add(e.tree.Commit + "^{tree}"); err != nil {
		return nil, err
	}
	if e.tree.Dirty {
		// The uncommitted edits are the developer's series.
		if err := add(e.tree.Head + "^{tree}"); err != nil {
			return nil, err
		}
	}
	for _, t := range e.slot.Previous() {
		if err := add(t); err != nil {
			// A tree the slot's git no longer has (pruned): the series'
			// own files are still checked.
			c.ui.Notice("build slot %s: %v", e.slot.Dir, err)
		}
	}
	files := make([]string, 0, len(set))
	for f := range set {
		files = append(files, f)
	}
	sort.Strings(files)
	rep, err := b.Verify(ctx, files)
	if err != nil {
		return rep, err
	}
	return rep, e.slot.NoteBuilt(treeID)
}

func (e *realEnv) Publish(c *cell, k kbuild.Kernel, img string) string {
	e.log.Sync()
	if err := k.Publish(img, filepath.Join(e.slot.Build, kbuild.KernelVmlinuxFile), filepath.Join(e.slot.Build, ".config"), filepath.Join(c.dir, "build.log"), kbuild.KernelRelease(e.slot.Build)); err != nil {
		c.ui.Notice("caching the kernel: %v", err)
	}
	if !k.Present() {
		return img // not cached (no space, say): boot the slot's
	}
	return k.Image
}

// keepVmlinux adds the slot's vmlinux to a kernel cache entry published
// without one, when it is that very build (it holds the entry's build id).
func (e *realEnv) keepVmlinux(k kbuild.Kernel) {
	if _, err := os.Stat(k.Vmlinux()); err == nil {
		return
	}
	slotVmlinux := filepath.Join(e.slot.Build, kbuild.KernelVmlinuxFile)
	if b, err := os.ReadFile(slotVmlinux); err == nil && bytes.Contains(b, []byte("#"+k.BuildID+" ")) {
		copyFile(slotVmlinux, k.Vmlinux())
	}
}

func (e *realEnv) Selftests(ctx context.Context, c *cell) (map[string]string, error) {
	logf, err := os.OpenFile(filepath.Join(c.dir, "build.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	return kselftest.Build(ctx, c.arch, e.slot.Src, e.slot.Build, c.opts.Cache, logf)
}

func (e *realEnv) Pack(ctx context.Context, c *cell, selftests map[string]string) (*initramfs.Image, error) {
	img, err := initramfs.Builder{Root: c.opts.Root, Cache: c.opts.Cache}.Build(ctx, c.arch, c.spec.Shell)
	if err != nil {
		return img, err
	}
	extras, key, err := c.imageExtras()
	if err != nil {
		return nil, err
	}
	if len(selftests) == 0 && len(extras) == 0 {
		return img, nil
	}
	for _, p := range selftests {
		key = cache.Key(key, filepath.Base(filepath.Dir(p))) // the selftests' content key
		break
	}
	entries := initramfs.FileEntries(kselftest.ImageFiles(selftests))
	withFiles := *img
	withFiles.Path, err = initramfs.WithEntries(c.opts.Cache, img.Path, append(entries, extras...), key)
	return &withFiles, err
}

func (e *realEnv) ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (string, string, error) {
	return machine.ResolveAccel(ctx, requested, cfg, cache)
}

func (e *realEnv) Boot(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error) {
	return machine.Boot(ctx, cfg, out)
}
