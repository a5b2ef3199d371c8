// Package run takes a cell (a Spec) from a patch series to a verdict:
// source, apply, config, build, verify, pack, boot, tests. Every caller
// runs cells through one pipeline against an Env; console monitoring,
// crash detection and the verdict happen here for every machine backend
// (docs/design.md, "Data flow").
package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/known"
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
	Series      string // "" = the base tree; a file series, or a revision range of the git checkout KernelSrc (A..B, a branch)
	// Committed tests a git checkout's HEAD alone, leaving its
	// uncommitted changes out.
	Committed bool
	// Base is --base: the commit a branch series counts its commits from
	// (its merge base with Base), or the one a file series applies to
	// instead of the one it states.
	Base string
	// Input is where the series applies, as Prepare resolved it.
	Input *Input
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
	CPUs               int
	MemoryMB           int           // 0: the default, or what a cell's config fragments need (kconfig.Needs)
	BootTimeout        time.Duration // 0: the default, stretched by the fragments' slowdown
	RunTimeout         time.Duration // 0: derived from the tests and the fragments' slowdown
	EventTimeout       time.Duration // silence allowed while a test runs; 0: DefaultEventTimeout, stretched by the fragments' slowdown
	Jobs               int
	Results            string // results directory
	Baseline           bool   // also run the tree without the series, label each test and judge the series by what it changed
	Strict             bool   // with Baseline: any failure fails, even one the base shares
	FreshBase          bool   // with Baseline: boot the base even when its results are kept
	EachPatch          bool   // a cell per prefix of the series, per arch (eachpatch.go)
	KeepKernel         bool   // keep the kernel and image of passing cells with the results too (failing cells' always are)
	Root               string // the rig's sources (kconfigs/, guest/): initramfs.Sources
	Cache              string
	Command            []string // recorded in run.json
	UI                 *ui.UI
	// Known are the failures expected (known-issues.yaml, --known): a
	// failure one matches is marked known and does not fail the run.
	Known *known.List

	// What the user adds (extras.go): static programs run as tests, a
	// directory added to the image root, kernel arguments after the rig's
	// and QEMU arguments after the rig's.
	Exec     []string
	Overlay  string
	Append   string
	QEMUArgs []string
	// Set by Prepare from Exec and Overlay.
	programs   []result.Program
	overlay    []initramfs.Entry
	overlayKey string
}

// UsageError is bad input detected before any work: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// DefaultEventTimeout is how long a guest may send nothing while a test
// runs before its cell ends as a timeout: the guest sends a progress event
// at least every event.Heartbeat (docs/protocol.md).
const DefaultEventTimeout = 30 * time.Second

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
		// Two cells with one id would share a directory and a build slot.
		if j := slices.Index(o.Arches[:i], a.Name); j >= 0 {
			return &UsageError{fmt.Errorf("--arch: %s and %s are the same architecture: give it once", n, o.Arches[j])}
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
	for i, acc := range o.Accels {
		switch acc {
		case "auto", "kvm", "tcg":
		default:
			return &UsageError{fmt.Errorf("--accel %q: want auto, kvm or tcg (or a list: kvm,tcg)", acc)}
		}
		if slices.Contains(o.Accels[:i], acc) {
			return &UsageError{fmt.Errorf("--accel: %s given twice: give it once", acc)}
		}
	}
	o.Accel = o.Accels[0]
	if o.MinKills < 0 {
		return &UsageError{fmt.Errorf("--min-kills %d: must not be negative", o.MinKills)}
	}
	if o.Duration < 0 {
		return &UsageError{fmt.Errorf("--duration %s: must not be negative", o.Duration)}
	}
	if o.Jobs < 0 {
		return &UsageError{fmt.Errorf("-j %d: must not be negative", o.Jobs)}
	}
	if o.CPUs < 0 || o.MemoryMB < 0 {
		return &UsageError{fmt.Errorf("--cpus %d, --memory %d: must not be negative", o.CPUs, o.MemoryMB)}
	}
	if o.BootTimeout < 0 || o.RunTimeout < 0 || o.EventTimeout < 0 {
		return &UsageError{fmt.Errorf("--boot-timeout %s, --run-timeout %s, --event-timeout %s: must not be negative", o.BootTimeout, o.RunTimeout, o.EventTimeout)}
	}
	for i, t := range o.Tests {
		if slices.Contains(o.Tests[:i], t) {
			return &UsageError{fmt.Errorf("--tests: %s given twice", t)}
		}
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Root == "" {
		r, err := initramfs.Sources()
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
		r, err := DefaultResults()
		if err != nil {
			return err
		}
		o.Results = r
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano() & 0x7fffffff
	}
	if err := o.checkExtras(); err != nil {
		return err
	}
	for _, t := range o.Tests {
		if !knownTest(t) && !o.isProgram(t) {
			return &UsageError{fmt.Errorf("unknown test %q (known: %s)", t, strings.Join(append(TestNames(), programNames(o.programs)...), ", "))}
		}
	}
	if o.EachPatch && o.Series == "" {
		return &UsageError{fmt.Errorf("--each-patch needs --series: it tests every prefix of a series")}
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
	return o.resolveInput(context.Background())
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
	if err := CheckProgramArches(o.programs, o.Arches); err != nil {
		return nil, "", &UsageError{err}
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
	rec := &record{run: r, dir: dir, known: o.Known}
	cells := make([]*cell, len(specs))
	for i, s := range specs {
		if cells[i], err = newCell(o, s, rec, filepath.Join(dir, s.ID)); err != nil {
			return nil, "", err
		}
	}
	runScheduled(ctx, cells)
	if !o.Strict {
		judgeTwins(cells)
	}
	namePrefixes(cells)
	return finishRun(ctx, rec, cells, specs[len(specs)-1].Patches)
}

// runScheduled runs a run's cells on one schedule, a goroutine each, and
// labels the patched cells' tests against their baselines.
func runScheduled(ctx context.Context, cells []*cell) {
	eachTwin(cells, func(base, c *cell) { base.twins = append(base.twins, c) })
	gatePrefixes(cells)
	sched := newSchedule(cells)
	accels := newAccelProbes()
	var wg sync.WaitGroup
	for i, c := range cells {
		c.accels = accels
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.execute(ctx, sched.turn(i))
		}()
	}
	wg.Wait()
	labelTwins(cells)
}

// specs expands the run's options into its cells: per arch, the baseline
// first (with Baseline and a series: its kernel is usually cached, and its
// verdicts label the patched cells' tests), then a cell per accelerator
// (with EachPatch: per prefix of the series, a cell per accelerator).
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
		s := Spec{Tree: o.KernelSrc, Series: o.Series, Patches: patches, Input: o.Input, Arch: n, Configs: o.Configs,
			Tests: o.Tests, Duration: o.Duration, Seed: o.Seed}
		if o.Baseline && len(patches) > 0 {
			b := s
			b.ID, b.Accel, b.Series, b.Patches, b.Role = sanitizeID(id+"-baseline"), o.Accels[0], "", []patch.Patch{}, "baseline"
			out = append(out, b)
		}
		if o.EachPatch {
			if len(patches) == 0 {
				return nil, &UsageError{fmt.Errorf("--each-patch: the series %s has no patches", o.Series)}
			}
			out = append(out, prefixSpecs(s, id, o.Accels)...)
			continue
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

// eachTwin calls fn for every patched cell with the baseline cell of its
// arch, if the run has one.
func eachTwin(cells []*cell, fn func(base, patched *cell)) {
	for _, base := range cells {
		if base.spec.Role != "baseline" {
			continue
		}
		for _, c := range cells {
			if c.spec.Role != "baseline" && c.arch.Name == base.arch.Name {
				fn(base, c)
			}
		}
	}
}

// labelTwins labels each patched cell's tests against its baseline's.
func labelTwins(cells []*cell) {
	eachTwin(cells, func(base, c *cell) { Label(&base.res.Tests, &c.res.Tests) })
}

// judgeTwins judges each patched cell by what it changed (JudgeSeries).
func judgeTwins(cells []*cell) {
	eachTwin(cells, func(base, c *cell) { JudgeSeries(base.res, c.res) })
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
	t = append(t, a.QEMU)
	if a.CrossPrefix() != "" {
		t = append(t, a.CrossPrefix()+"gcc")
	}
	return t
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

// kselftestTest is the guest test that runs the tree's futex selftests.
const kselftestTest = "kselftest-futex"

// wants reports whether the cell's guest runs the named test.
func (c *cell) wants(test string) bool {
	if len(c.spec.Tests) == 0 {
		return knownTest(test)
	}
	return slices.Contains(c.spec.Tests, test)
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
	_ = atomicfile.WriteFile(cache.LastBuilt.Path(cacheDir, archName), []byte(kernel+"\n"+image+"\n"), 0o644)
}

// Last returns the last kernel and initramfs built for an arch.
func Last(cacheDir, archName string) (kernel, image string, err error) {
	b, err := safefile.ReadFile(cache.LastBuilt.Path(cacheDir, archName), 1<<16)
	if safefile.IsRefused(err) {
		return "", "", fmt.Errorf("the cache's record of the last %s kernel: %w (remove it, or give --kernel)", archName, err)
	}
	if err != nil {
		return "", "", fmt.Errorf("no kernel built yet for %s: run `rig run` first or give --kernel", archName)
	}
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) != 2 {
		return "", "", fmt.Errorf("corrupt %s", cache.LastBuilt.Path(cacheDir, archName))
	}
	return l[0], l[1], nil
}
