package run

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// cell is one Spec on its way to a verdict. Every caller (rig run, rig
// boot, the matrix's Executor, bisect through Run) makes its cells with
// newCell and runs them with execute.
type cell struct {
	opts  Options // the run's settings: cache, root, timeouts, machine size
	spec  Spec    // this cell: resolved by newCell (arch, seed, duration, patches)
	ui    *ui.UI
	dir   string // results/<run>/<cell>
	res   *result.Cell
	rec   *record
	idx   int // index in rec's Cells
	arch  arch.Arch
	frags []kconfig.Fragment
	needs kconfig.Needs // what frags need from the machine
	log   *slog.Logger  // diagnostics in rig.log; see logger
	env   Env           // nil: the real one (see environment)
	// twins are a baseline cell's patched cells (same arch), set by Run;
	// bootable is set once prepare got the cell an image.
	twins    []*cell
	bootable bool
	// booted is the machine the cell booted, once it did: its base results
	// keep it for the cells that reuse them (basecache.go).
	booted *machine.Config
	// gate, if set, is asked in the cell's prepare turn before anything
	// is done; false means it set the cell's verdict (eachpatch.go).
	gate func() bool
	// vmlinux is the booted kernel's vmlinux, when it is kept (the kernel
	// cache's entry, or beside a kernel given to rig boot).
	vmlinux string
	// accels, if set, decides the run's accelerators while its cells
	// still build (accelprobe.go).
	accels *accelProbes
}

// record is the run record the cells of one run write into, under a lock
// (cells prepare in parallel). With a directory, every change is saved as
// run.json there at once; without, it stays in memory: a matrix cell's
// run.json belongs to the matrix.
type record struct {
	mu    sync.Mutex
	run   *result.Run
	dir   string
	known *known.List // the run's known issues, matched when it finishes
}

// update applies fn to the run record and saves it.
func (r *record) update(fn func(*result.Run)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.run)
	if r.dir == "" {
		return nil
	}
	return result.Save(r.dir, r.run)
}

// newCell resolves s against the run's options (arch, config fragments,
// seed, duration, the series' patches), creates its directory dir and adds
// it to rec.
func newCell(o Options, s Spec, rec *record, dir string) (*cell, error) {
	a, err := arch.Lookup(s.Arch)
	if err != nil {
		return nil, &UsageError{fmt.Errorf("--arch: %w", err)}
	}
	s.Arch = a.Name
	if s.Accel == "" {
		s.Accel = "auto"
	}
	if s.Duration == 0 {
		s.Duration = o.Duration
	}
	if s.Seed == 0 {
		// Repeats of a race test must not replay the same interleaving.
		s.Seed = o.Seed + int64(max(s.Repeat, 1)) - 1
	}
	if s.Patches == nil && s.Series != "" {
		// A matrix plan's series: it applies where it says, as rig run's.
		var st patch.Stated
		if s.Patches, st, err = patch.ReadSeriesStated(s.Series); err != nil {
			return nil, &UsageError{fmt.Errorf("--series: %w", err)}
		}
		if s.Input == nil {
			s.Input = stated(st)
		}
	}
	s.Programs = programsFor(o.programs, a.Name)
	s.Tests = withPrograms(s.Tests, s.Programs)
	names := s.fragmentNames(a)
	var frags []kconfig.Fragment
	var needs kconfig.Needs
	if s.Kernel == "" { // a given kernel was configured elsewhere
		if frags, err = kconfig.Resolve(filepath.Join(o.Root, "kconfigs"), names); err != nil {
			return nil, &UsageError{err}
		}
		if needs, err = kconfig.NeedsOf(frags); err != nil {
			return nil, &UsageError{err}
		}
		if needs.NoPVH && a.NoPVHImage != "" {
			a.Image = a.NoPVHImage // built, cached, booted and kept as such
		}
	} else {
		names = nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &cell{opts: o, spec: s, ui: o.UI, dir: dir, rec: rec, arch: a, frags: frags, needs: needs}
	c.res = &result.Cell{ID: s.ID, Arch: a.Name, Config: strings.Join(names, "+"), Series: s.Series, Role: s.Role}
	s.notePrefix(c.res)
	c.res.Inputs = s.inputs(o)
	if s.Kernel == "" {
		c.res.Compiler = CompilerVersion(a)
	}
	_ = rec.update(func(r *result.Run) {
		c.idx = len(r.Cells)
		r.Cells = append(r.Cells, *c.res)
	})
	return c, nil
}

// memoryMB is the cell's guest memory: --memory if given, else the
// default or what the config fragments need, whichever is more.
func (c *cell) memoryMB() int {
	if c.opts.MemoryMB > 0 {
		return c.opts.MemoryMB
	}
	return max(machine.DefaultMemoryMB, c.needs.MemoryMB)
}

// timeouts are the cell's boot and run timeouts for ntests tests:
// --boot-timeout and --run-timeout if given, else the defaults stretched
// by the config fragments' slowdown. A test's own time is its duration
// plus up to 90 s (deterministic trials, setup), and only the latter
// stretches: a natural test stops at its duration however slow the kernel.
func (c *cell) timeouts(ntests int) (boot, run time.Duration) {
	f := c.needs.Factor()
	if boot = c.opts.BootTimeout; boot == 0 {
		boot = scale(machine.DefaultBootTimeout, f)
	}
	if run = c.opts.RunTimeout; run == 0 {
		run = boot + time.Duration(ntests)*(c.spec.Duration+scale(90*time.Second, f))
	}
	return boot, run
}

// eventTimeout is the silence the cell's guest is allowed while a test
// runs (machine.Config.EventTimeout).
func (c *cell) eventTimeout() time.Duration {
	if c.opts.EventTimeout > 0 {
		return c.opts.EventTimeout
	}
	return scale(DefaultEventTimeout, c.needs.Factor())
}

func scale(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * f).Round(time.Second)
}

// Needs is what the cell's config fragments, read from root's kconfigs/,
// need from its machine (kconfig.Needs); errors are UsageErrors.
func (s Spec) Needs(root string) (kconfig.Needs, error) {
	a, err := arch.Lookup(s.Arch)
	if err != nil {
		return kconfig.Needs{}, &UsageError{fmt.Errorf("--arch: %w", err)}
	}
	frags, err := kconfig.Resolve(filepath.Join(root, "kconfigs"), s.fragmentNames(a))
	if err != nil {
		return kconfig.Needs{}, &UsageError{err}
	}
	n, err := kconfig.NeedsOf(frags)
	if err != nil {
		return kconfig.Needs{}, &UsageError{err}
	}
	return n, nil
}

// fragmentNames are the config fragments of a cell: base, the arch's and
// the extra ones, in that order.
func (s Spec) fragmentNames(a arch.Arch) []string {
	return append([]string{"base", a.Fragment}, s.Configs...)
}

// turn is where a cell waits before each phase; it returns when the cell
// may go on and is told when the cell is done with the phase. A nil turn
// never waits.
type turn interface {
	prepare(ctx context.Context) (done func(), err error)
	boot(ctx context.Context) (done func(), err error)
}

// execute runs the cell's whole pipeline: source to image (or only the
// image, for a given kernel), then the boot, tests and verdict. A cell
// that could not start a phase because ctx ended keeps no verdict: the
// caller marks it interrupted.
func (c *cell) execute(ctx context.Context, t turn) {
	if t == nil {
		t = freeTurn{}
	}
	done, err := t.prepare(ctx)
	if err != nil {
		return
	}
	var kern, initrd string
	var ok bool
	if c.spec.Kernel != "" {
		kern, initrd, ok = c.prebuilt(ctx)
	} else if c.gate == nil || c.gate() {
		kern, initrd, ok = c.prepare(ctx, c.environment(), c.spec.Patches)
	}
	c.bootable = ok
	if ok && ctx.Err() == nil {
		c.accels.start(ctx, c, kern, initrd)
	}
	done()
	bootDone, err := t.boot(ctx)
	if err != nil {
		return
	}
	defer bootDone()
	switch {
	case !ok || ctx.Err() != nil:
	case c.spec.Role == "baseline":
		c.bootBase(ctx, kern, initrd)
	default:
		c.boot(ctx, kern, initrd)
	}
}

// freeTurn is the turn of a cell that runs alone.
type freeTurn struct{}

func (freeTurn) prepare(context.Context) (func(), error) { return func() {}, nil }
func (freeTurn) boot(context.Context) (func(), error)    { return func() {}, nil }

// logger returns the cell's diagnostics log: JSON records in
// <cell>/rig.log with the run, the cell and the arch on each.
func (c *cell) logger() *slog.Logger {
	if c.log == nil {
		h := slog.NewJSONHandler(appendFile(filepath.Join(c.dir, "rig.log")), nil)
		c.log = slog.New(h).With("run", c.rec.run.ID, "cell", c.res.ID, "arch", c.arch.Name)
	}
	return c.log
}

// appendFile is a writer that appends each write to a file it opens for
// that write only: a cell's log holds no descriptor between records.
type appendFile string

func (f appendFile) Write(p []byte) (int, error) {
	w, err := os.OpenFile(string(f), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	return w.Write(p)
}

// save copies the cell into the run record, which saves run.json (each
// stage calls it).
func (c *cell) save() {
	if err := c.rec.update(func(r *result.Run) { r.Cells[c.idx] = *c.res }); err != nil {
		c.ui.Notice("saving run.json: %v", err)
	}
}

// stage times fn and records it.
func (c *cell) stage(name string, fn func() (cached bool, note string, err error)) error {
	st := result.Stage{Name: name, Start: time.Now()}
	cached, note, err := fn()
	st.Elapsed, st.Cached, st.Note = time.Since(st.Start), cached, note
	c.res.Stages = append(c.res.Stages, st)
	msg := fmt.Sprintf("%.1fs", st.Elapsed.Seconds())
	if cached {
		msg += " (cached)"
	}
	if note != "" {
		msg += ", " + note
	}
	if err == nil {
		c.ui.Stage(c.res.ID, name, msg)
		c.logger().Info("stage", "stage", name, "seconds", st.Elapsed.Seconds(), "cached", cached, "note", note)
	} else {
		c.logger().Error("stage", "stage", name, "seconds", st.Elapsed.Seconds(), "err", err.Error())
	}
	c.save()
	return err
}

// fail sets the cell's verdict.
func (c *cell) fail(st result.Status, cause string) {
	c.res.Status, c.res.Cause = st, oneLine(cause)
	level := slog.LevelWarn
	if st == result.Pass {
		level = slog.LevelInfo
	}
	c.logger().Log(context.Background(), level, "verdict", "status", string(st), "cause", cause)
	c.ui.Done()
}
