// Package run takes one (arch, accel, config, series) cell from a patch
// series to a verdict: source, apply, config, build, pack, boot, tests. Each
// stage's failure becomes the cell's status with a one-line cause
// (docs/design.md); an error return means the run could not decide at all.
//
// Console monitoring and crash detection happen here, once, for every
// machine backend: the backend only streams console lines and
// guest events; this package writes them to disk as they arrive, feeds the
// oops scanner, and decides.
package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/kselftest"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/setup"
	"github.com/rig-kernel/rig/rig/source"

	_ "github.com/rig-kernel/rig/rig/machine/qemu" // the QEMU backend
)

// Options is everything a run needs.
type Options struct {
	KernelSrc string // "" = the kernel tree enclosing the working directory, else Debian's linux-source-6.12 (source.DefaultName: Debian's always)
	// TreeFromCwd is set by Prepare when KernelSrc was found around the
	// working directory rather than given.
	TreeFromCwd bool
	Series      string // "" = the base tree
	// Patches is the series in memory (bisect's prefixes): when not nil
	// it is what the run applies, and Series only names it.
	Patches            []patch.Patch
	Arch               string   // the cell's arch (set by Run for each of Arches)
	Accel              string   // the cell's accel request: auto|kvm|tcg (set by Run for each of Accels)
	Arches             []string // rig run: one cell per arch (default x86_64 and arm64)
	Accels             []string // rig run: one cell per accel and arch (default auto)
	Configs            []string // extra fragments beyond base and the arch's
	AllowMissingConfig bool
	Tests              []string // guest tests; nil = the guest's default
	Duration           time.Duration
	MinKills           int // natural tests: keep going until this many kills (within Duration)
	Seed               int64
	CPUs, MemoryMB     int
	BootTimeout        time.Duration
	RunTimeout         time.Duration // 0: derived from the tests
	Jobs               int
	Results            string // results directory
	Baseline           bool   // also run the tree without the series and label each test
	Root               string // the rig's checkout (kconfigs/, guest/)
	Cache              string
	Command            []string // recorded in run.json
	UI                 *ui.UI
}

// UsageError is bad input detected before any work: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// DefaultDuration is how long each natural (statistical) guest test runs
// unless the run says otherwise.
const DefaultDuration = 10 * time.Second

// Prepare validates the options and resolves defaults; errors are usage
// errors that name the bad input.
func Prepare(o *Options) error {
	if o.UI == nil {
		o.UI = ui.Discard()
	}
	if len(o.Arches) == 0 {
		if o.Arch == "" {
			o.Arch = "x86_64"
		}
		o.Arches = []string{o.Arch}
	}
	for i, n := range o.Arches {
		a, err := arch.Lookup(n)
		if err != nil {
			return &UsageError{fmt.Errorf("--arch: %w", err)}
		}
		o.Arches[i] = a.Name
	}
	o.Arch = o.Arches[0]
	if len(o.Accels) == 0 {
		if o.Accel == "" {
			o.Accel = "auto"
		}
		o.Accels = []string{o.Accel}
	}
	for _, acc := range o.Accels {
		switch acc {
		case "auto", "kvm", "tcg":
		default:
			return &UsageError{fmt.Errorf("--accel %q: want auto, kvm or tcg (or a list: kvm,tcg)", acc)}
		}
	}
	o.Accel = o.Accels[0]
	if o.MinKills < 0 {
		return &UsageError{fmt.Errorf("--min-kills %d: must not be negative", o.MinKills)}
	}
	if o.Duration < 0 {
		return &UsageError{fmt.Errorf("--duration %s: must not be negative", o.Duration)}
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Root == "" {
		r, err := initramfs.Root()
		if err != nil {
			return err
		}
		o.Root = r
	}
	if o.Cache == "" {
		c, err := cache.Dir()
		if err != nil {
			return err
		}
		o.Cache = c
	}
	if o.Results == "" {
		o.Results = filepath.Join(o.Root, "results")
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = machine.DefaultBootTimeout
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano() & 0x7fffffff
	}
	for _, t := range o.Tests {
		if !knownTest(t) {
			return &UsageError{fmt.Errorf("unknown test %q (known: %s)", t, strings.Join(TestNames(), ", "))}
		}
	}
	if o.Series != "" && o.Patches == nil {
		if _, err := os.Stat(o.Series); err != nil {
			return &UsageError{fmt.Errorf("--series %s: %w", o.Series, err)}
		}
	}
	// A run started inside a kernel tree tests that tree: testing Debian's
	// tree instead, silently, would answer a question nobody asked.
	switch o.KernelSrc {
	case source.DefaultName:
		o.KernelSrc = ""
	case "":
		if wd, err := os.Getwd(); err == nil {
			if top := source.Enclosing(wd); top != "" {
				o.KernelSrc, o.TreeFromCwd = top, true
			}
		}
	}
	if o.KernelSrc != "" {
		if err := source.Check(o.KernelSrc); err != nil {
			if o.TreeFromCwd {
				return &UsageError{fmt.Errorf("the kernel tree you are in: %w (or pass --kernel-src %s for Debian's tree)", err, source.DefaultName)}
			}
			return &UsageError{fmt.Errorf("--kernel-src: %w", err)}
		}
	}
	if o.CPUs < 0 || o.MemoryMB < 0 {
		return &UsageError{fmt.Errorf("--cpus %d, --memory %d: must not be negative", o.CPUs, o.MemoryMB)}
	}
	return nil
}

// Run executes `rig run`: one cell per arch and accelerator (and, with
// Baseline, a baseline cell per arch), sharing builds through the slot and
// kernel caches. It returns the Run record and its directory; the Run is
// on disk, as far as it got, even when ctx is cancelled.
func Run(ctx context.Context, o Options) (*result.Run, string, error) {
	if err := Prepare(&o); err != nil {
		return nil, "", err
	}
	specs, err := o.specs()
	if err != nil {
		return nil, "", err
	}
	for _, n := range o.Arches {
		a, _ := arch.Lookup(n)
		for _, acc := range o.Accels {
			if acc == "kvm" && a.HostGOARCH != runtime.GOARCH {
				return nil, "", &UsageError{fmt.Errorf("--accel kvm: KVM runs %s guests only on a %s host (this host is %s); use --accel tcg", a.Name, a.HostGOARCH, runtime.GOARCH)}
			}
		}
		if _, err := kconfig.Resolve(filepath.Join(o.Root, "kconfigs"), Spec{Configs: o.Configs}.fragmentNames(a)); err != nil {
			return nil, "", &UsageError{err}
		}
		if err := requireTools(a, o.KernelSrc == ""); err != nil {
			return nil, "", err
		}
	}
	a0, _ := arch.Lookup(o.Arches[0])
	r, dir, err := newRun(o, specs[0].fragmentNames(a0))
	if err != nil {
		return nil, "", err
	}
	if o.TreeFromCwd {
		o.UI.Printf("kernel tree: %s (the tree you are in; --kernel-src %s tests Debian's %s instead)", o.KernelSrc, source.DefaultName, source.DebianPackage)
	}
	if r.KernelSource == "" {
		r.KernelSource = "debian:" + source.DebianPackage
	}
	rec := &record{run: r, dir: dir}
	cells := make([]*cell, len(specs))
	for i, s := range specs {
		if cells[i], err = newCell(o, s, rec, filepath.Join(dir, s.ID)); err != nil {
			return nil, "", err
		}
	}
	sched := newSchedule(cells)
	var wg sync.WaitGroup
	for i, c := range cells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.execute(ctx, sched.turn(i))
		}()
	}
	wg.Wait()
	labelTwins(cells)
	return finishRun(ctx, rec, cells, specs[len(specs)-1].Patches)
}

// specs expands the run's options into its cells: per arch, the baseline
// first (with Baseline and a series: its kernel is usually cached, and its
// verdicts label the patched cells' tests), then a cell per accelerator.
func (o Options) specs() ([]Spec, error) {
	patches := o.Patches
	if o.Series != "" && patches == nil {
		var err error
		if patches, err = patch.ReadSeries(o.Series); err != nil {
			return nil, &UsageError{fmt.Errorf("--series: %w", err)}
		}
	}
	var out []Spec
	for _, n := range o.Arches {
		id := n
		if len(o.Configs) > 0 {
			id += "-" + strings.Join(o.Configs, "+")
		}
		s := Spec{Tree: o.KernelSrc, Series: o.Series, Patches: patches, Arch: n, Configs: o.Configs,
			Tests: o.Tests, Duration: o.Duration, Seed: o.Seed}
		if o.Baseline && len(patches) > 0 {
			b := s
			b.ID, b.Accel, b.Series, b.Patches, b.Role = sanitizeID(id+"-baseline"), o.Accels[0], "", []patch.Patch{}, "baseline"
			out = append(out, b)
		}
		for _, acc := range o.Accels {
			c := s
			c.ID, c.Accel = sanitizeID(id), acc
			if len(o.Accels) > 1 {
				c.ID = sanitizeID(id + "-" + acc)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// labelTwins labels each patched cell's tests against the baseline cell of
// its arch, if the run has one.
func labelTwins(cells []*cell) {
	for _, base := range cells {
		if base.spec.Role != "baseline" {
			continue
		}
		for _, c := range cells {
			if c.spec.Role != "baseline" && c.arch.Name == base.arch.Name {
				Label(&base.res.Tests, &c.res.Tests)
			}
		}
	}
}

func requireTools(a arch.Arch, debian bool) error {
	if err := setup.Require(tools(a)...); err != nil {
		return err
	}
	if debian {
		return setup.Require(source.DebianTarball)
	}
	return nil
}

// oneLine is the first line of s, cleaned for a cause.
func oneLine(s string) string { return result.Clean(lines.First(s), 400) }

func tools(a arch.Arch) []string {
	t := []string{"git", "tar", "make", "gcc", "flex", "bison", "bc", "go", "ccache"}
	t = append(t, qemuTool(a))
	if a.CrossPrefix() != "" {
		t = append(t, a.CrossPrefix()+"gcc")
	}
	return t
}

func qemuTool(a arch.Arch) string {
	if a.Name == "arm64" {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

func hostInfo(ctx context.Context) result.Host {
	h := result.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := execx.Output(ctx, execx.Cmd{Argv: []string{"gcc", "--version"}}); err == nil {
		h.GCC = strings.SplitN(string(out), "\n", 2)[0]
	}
	return h
}

// prepare takes the cell from source to a packed image: source, apply,
// config, build, selftests, pack. ok is false when the cell's verdict is
// already decided (patch-error, build-error, ...) or ctx was cancelled.
func (c *cell) prepare(ctx context.Context, patches []patch.Patch) (kern, initrd string, ok bool) {
	o := c.opts
	// Source.
	var tree *source.Tree
	if err := c.stage("source", func() (bool, string, error) {
		var err error
		if c.spec.Tree == "" {
			tree, err = source.Default(ctx, o.Cache, func(s string) { c.ui.Stage(c.res.ID, "source", s) })
		} else {
			tree, err = source.Open(ctx, c.spec.Tree, o.Cache)
		}
		if err != nil {
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

	configKey := fragmentsKey(c.frags)
	slot := kbuild.SlotFor(o.Cache, tree.GitDir, c.arch.Name, configKey)
	lock, err := slot.Acquire(ctx, func() {
		c.ui.Notice("waiting for another rig using build slot %s", slot.Dir)
	})
	if err != nil {
		c.fail(result.InfraError, err.Error())
		return "", "", false
	}
	defer lock.Release() // released early once the tree is no longer needed

	// Apply.
	var wt *source.Worktree
	if err := c.stage("apply", func() (bool, string, error) {
		var err error
		if wt, err = tree.Checkout(ctx, slot.Src); err != nil {
			return false, "", err
		}
		if len(patches) == 0 {
			return false, "no series: base tree", nil
		}
		applied, err := patch.Apply(ctx, wt.Dir, patches, func(i int, p patch.Patch) {
			c.ui.Live(c.res.ID, "apply", fmt.Sprintf("%d/%d %s", i+1, len(patches), p.Name))
		})
		for _, ap := range applied {
			c.res.Patches = append(c.res.Patches, result.Patch{Name: ap.Patch.Name, Subject: ap.Patch.Subject, State: string(ap.State)})
			if ap.State == patch.StateAlreadyApplied {
				c.ui.Notice("%s is already applied to the tree: skipped", ap.Patch.Name)
			}
		}
		return false, fmt.Sprintf("%d patches", len(patches)), err
	}); err != nil {
		var pe *patch.PatchError
		if errors.As(err, &pe) {
			c.fail(result.PatchError, pe.Error())
		} else {
			c.fail(result.InfraError, "applying the series: "+err.Error())
		}
		return "", "", false
	}
	treeID, err := wt.TreeID(ctx)
	if err != nil {
		c.fail(result.InfraError, "tree id: "+err.Error())
		return "", "", false
	}
	c.res.TreeID = treeID

	// Config and build, unless this exact kernel is cached.
	kern, err = c.kernel(ctx, slot, tree.Commit, treeID, configKey, patches)
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
			logf, err := os.OpenFile(filepath.Join(c.dir, "build.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return false, "", err
			}
			defer logf.Close()
			bins, err := kselftest.Build(ctx, c.arch, slot.Src, slot.Build, o.Cache, logf)
			if err != nil {
				// Not fatal: the guest reports kselftest-futex as skipped.
				c.ui.Notice("futex selftests not built (%v): %s will be skipped", err, kselftestTest)
				return false, "not built", nil
			}
			selftests = bins
			return false, fmt.Sprintf("%d binaries", len(bins)), nil
		})
	}
	lock.Release() // the slot is free for other cells: the rest needs no tree

	// Pack.
	var img *initramfs.Image
	initrd = ""
	if err := c.stage("pack", func() (bool, string, error) {
		var err error
		img, err = initramfs.Builder{Root: o.Root, Cache: o.Cache}.Build(ctx, c.arch, false)
		if err != nil {
			return false, "", err
		}
		initrd = img.Path
		if len(selftests) > 0 {
			key := ""
			for _, p := range selftests {
				key = filepath.Base(filepath.Dir(p)) // the selftests' content key
				break
			}
			if initrd, err = initramfs.WithOverlay(o.Cache, img.Path, kselftest.ImageFiles(selftests), key); err != nil {
				return false, "", err
			}
		}
		return img.Cached, fmt.Sprintf("%d KiB guest", img.Size>>10), nil
	}); err != nil {
		c.fail(result.InfraError, "packing the initramfs: "+err.Error())
		return "", "", false
	}
	c.res.Initramfs = initrd
	rememberLast(o.Cache, c.arch.Name, kern, initrd)
	return kern, initrd, true
}

// kselftestTest is the guest test that runs the tree's futex selftests.
const kselftestTest = "kselftest-futex"

// wants reports whether the cell's guest runs the named test.
func (c *cell) wants(test string) bool {
	if len(c.spec.Tests) == 0 {
		return knownTest(test)
	}
	return slices.Contains(c.spec.Tests, test)
}

// fragmentsKey identifies a config: the fragments' content, in order (not
// their names: a renamed fragment is the same config).
func fragmentsKey(frags []kconfig.Fragment) string {
	var parts []string
	for _, f := range frags {
		parts = append(parts, string(f.Data))
	}
	return cache.Key(parts...)
}

// kernel returns the boot image for the work tree, from the kernel cache or
// by configuring and building in the slot. An empty path with a nil error
// means the cell's verdict was set (build-error, config problem).
func (c *cell) kernel(ctx context.Context, slot kbuild.Slot, baseCommit, treeID, configKey string, patches []patch.Patch) (string, error) {
	o := c.opts
	kc := kbuild.CachedKernel(o.Cache, c.arch, treeID, configKey, c.rec.run.Host.GCC)
	buildID := kc.BuildID
	c.res.BuildID = buildID
	if kc.Present() {
		err := c.stage("build", func() (bool, string, error) {
			copyFile(filepath.Join(kc.Dir, kbuild.KernelConfigFile), filepath.Join(c.dir, "kernel.config"))
			copyFile(filepath.Join(kc.Dir, kbuild.KernelLogFile), filepath.Join(c.dir, "build.log"))
			return true, "kernel " + kc.Key, nil
		})
		c.noteKernel(kc.Image, kc.Dir)
		return kc.Image, err
	}

	logf, err := os.Create(filepath.Join(c.dir, "build.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	launcher, err := kbuild.Launcher()
	if err != nil {
		return "", err
	}
	mk := kconfig.Make{Src: slot.Src, Build: slot.Build, Args: kbuild.MakeArgs(c.arch, launcher), Log: logf}

	// Config: generated once per slot, refreshed (olddefconfig) on every
	// build since a series may touch Kconfig files.
	var missing []kconfig.Missing
	stampPath := filepath.Join(slot.Build, ".rig-config-key")
	// A series that touches Kconfig files can change what olddefconfig
	// makes of the fragments; so can switching back from such a series.
	// Otherwise the slot's .config is current and refreshing it costs 2-3 s
	// of every warm run for nothing.
	dirtyPath := filepath.Join(slot.Build, ".rig-kconfig-touched")
	touched := patch.TouchesKconfig(patches)
	err = c.stage("config", func() (bool, string, error) {
		stamp, _ := os.ReadFile(stampPath)
		var err error
		if string(stamp) == configKey {
			_, wasTouched := os.Stat(dirtyPath)
			if !touched && wasTouched != nil {
				final, err := os.ReadFile(filepath.Join(slot.Build, ".config"))
				if err != nil {
					return false, "", err
				}
				missing = kconfig.Check(final, kconfig.Requested(c.frags))
				return true, "", nil
			}
			if missing, err = kconfig.Refresh(ctx, mk, c.frags); err != nil {
				return false, "", err
			}
			if touched {
				err = os.WriteFile(dirtyPath, nil, 0o644)
			} else {
				err = os.Remove(dirtyPath)
			}
			return false, "olddefconfig: the series touches Kconfig", err
		}
		missing, err = kconfig.Generate(ctx, mk, c.frags)
		if err != nil {
			return false, "", err
		}
		if touched {
			if err := os.WriteFile(dirtyPath, nil, 0o644); err != nil {
				return false, "", err
			}
		}
		return false, "", os.WriteFile(stampPath, []byte(configKey), 0o644)
	})
	copyFile(filepath.Join(slot.Build, ".config"), filepath.Join(c.dir, "kernel.config"))
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		c.fail(result.BuildError, "kernel config: "+err.Error())
		return "", nil
	}
	if len(missing) > 0 {
		me := &kconfig.MissingError{Missing: missing}
		for _, m := range missing {
			fmt.Fprintf(logf, "rig: missing config: %s\n", m)
		}
		if !o.AllowMissingConfig {
			c.fail(result.BuildError, me.Error())
			return "", nil
		}
		c.ui.Notice("%s", me.Error())
	}

	// Until this tree's build is verified, the build dir may hold objects
	// of it: the next verification covers what changed since then too.
	if err := slot.NotePending(treeID); err != nil {
		return "", err
	}
	var img string
	err = c.stage("build", func() (bool, string, error) {
		var err error
		b := kbuild.Build{Arch: c.arch, Src: slot.Src, Dir: slot.Build, Jobs: o.Jobs, CCache: true, Log: logf, Version: buildID,
			Progress: func(p kbuild.Progress) {
				msg := p.Last
				if p.Total > 0 {
					msg = ui.Bar(float64(p.Steps)/float64(p.Total)) + " " + msg
				} else {
					msg = fmt.Sprintf("step %d %s", p.Steps, msg)
				}
				c.ui.Live(c.res.ID, "build", msg)
			}}
		img, err = b.Run(ctx)
		c.ui.Done()
		return false, "", err
	})
	if err != nil {
		var be *kbuild.Error
		if errors.As(err, &be) {
			c.fail(result.BuildError, be.Error())
			return "", nil
		}
		return "", err
	}
	// Nothing is booted or cached on make's and ccache's word alone.
	var stale *kbuild.StaleError
	err = c.stage("verify", func() (bool, string, error) {
		b := kbuild.Build{Arch: c.arch, Src: slot.Src, Dir: slot.Build, Jobs: o.Jobs, CCache: true, Log: logf, Version: buildID}
		rep, err := c.verifyObjects(ctx, b, slot, baseCommit, treeID)
		if rep != nil {
			c.res.ObjectCheck = &result.ObjectCheck{Stale: rep.Stale(), Repaired: rep.Repaired, Skipped: rep.Skipped, Seconds: rep.Seconds}
			for _, ch := range rep.Checked {
				c.res.ObjectCheck.Checked = append(c.res.ObjectCheck.Checked, ch.Source)
			}
		}
		if err != nil {
			return false, "", err
		}
		note := fmt.Sprintf("%d objects match a fresh compile", len(rep.Checked))
		if len(rep.Repaired) > 0 {
			c.ui.Notice("stale object(s) built from %s did not match a fresh compile: rebuilt without the cache and relinked", strings.Join(rep.Repaired, ", "))
			if img, err = b.Run(ctx); err != nil {
				return false, "", fmt.Errorf("relinking after rebuilding stale objects: %w", err)
			}
			note += fmt.Sprintf(" after rebuilding %d stale", len(rep.Repaired))
		}
		// The image must hold this build's vmlinux: a boot wrapper that
		// packed an earlier kernel would otherwise be published.
		ok, err := kbuild.ImageHasBuildID(img, buildID)
		if err != nil {
			return false, "", err
		}
		if !ok {
			return false, "", &kbuild.StaleError{Image: img, BuildID: buildID}
		}
		return false, note + "; the image holds build " + buildID, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if errors.As(err, &stale) {
			c.fail(result.InfraError, err.Error())
			return "", nil
		}
		c.fail(result.InfraError, "verifying the build: "+err.Error())
		return "", nil
	}
	// Publish the verified kernel into the kernel cache.
	logf.Sync()
	if err := kc.Publish(img, filepath.Join(slot.Build, ".config"), filepath.Join(c.dir, "build.log"), kbuild.KernelRelease(slot.Build)); err != nil {
		c.ui.Notice("caching the kernel: %v", err)
	}
	image := kc.Image
	if !kc.Present() {
		image = img // not cached (no space, say): boot the slot's
	}
	c.noteKernel(image, kc.Dir)
	return image, nil
}

// verifyObjects compares with a fresh compile the objects built from the
// files the series changed and from the files that changed since the
// slot's last verified build (and any build attempted since), then records
// the tree as the slot's verified build.
func (c *cell) verifyObjects(ctx context.Context, b kbuild.Build, slot kbuild.Slot, baseCommit, treeID string) (*kbuild.VerifyReport, error) {
	set := map[string]bool{}
	add := func(from string) error {
		files, err := kbuild.ChangedSources(ctx, slot.Src, from, treeID)
		for _, f := range files {
			set[f] = true
		}
		return err
	}
	if err := add(baseCommit + "^{tree}"); err != nil {
		return nil, err
	}
	for _, t := range slot.Previous() {
		if err := add(t); err != nil {
			// A tree the slot's git no longer has (pruned): the series'
			// own files are still checked.
			c.ui.Notice("build slot %s: %v", slot.Dir, err)
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
	return rep, slot.NoteBuilt(treeID)
}

func (c *cell) noteKernel(image, kdir string) {
	c.res.KernelImage = image
	if st, err := os.Stat(image); err == nil {
		c.res.KernelSize = st.Size()
	}
	c.res.KernelSHA256, _ = cache.HashFile(image)
	c.res.ConfigSHA256, _ = cache.HashFile(filepath.Join(c.dir, "kernel.config"))
	if b, err := os.ReadFile(filepath.Join(kdir, kbuild.KernelReleaseFile)); err == nil {
		c.res.KernelRelease = strings.TrimSpace(string(b))
	}
}

// copyFile copies what it can: a missing file (no build log yet) is no
// error of the run's.
func copyFile(src, dst string) { _ = atomicfile.Copy(src, dst) }

// Last records the last kernel and image built per arch, for `rig boot`.
func rememberLast(cacheDir, archName, kernel, image string) {
	_ = atomicfile.WriteFile(filepath.Join(cacheDir, "last-"+archName), []byte(kernel+"\n"+image+"\n"), 0o644)
}

// Last returns the last kernel and initramfs built for an arch.
func Last(cacheDir, archName string) (kernel, image string, err error) {
	b, err := os.ReadFile(filepath.Join(cacheDir, "last-"+archName))
	if err != nil {
		return "", "", fmt.Errorf("no kernel built yet for %s: run `rig run` first or give --kernel", archName)
	}
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) != 2 {
		return "", "", fmt.Errorf("corrupt %s", filepath.Join(cacheDir, "last-"+archName))
	}
	return l[0], l[1], nil
}
