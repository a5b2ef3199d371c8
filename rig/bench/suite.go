package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/matrix"
	"github.com/rig-kernel/rig/rig/run"
)

// Options selects what Run measures.
type Options struct {
	Root, Cache string // Root: the rig's sources (initramfs.Sources)
	Arches      []string
	What        map[string]bool // boot, build, pack, whole
	N           int             // boots per side
	BuildN      int             // rebuilds per side
	PackN       int
	Jobs        int  // make -j (0: number of CPUs, as the rig)
	Cold        bool // also cold builds (no ccache, empty ccache) and one with warm ccache
	Reliability int  // extra rig boots per arch, counted clean or not
	// The whole run: a warm `rig run --arch x86_64` of a one-patch series.
	Series   string
	Tests    []string
	Duration time.Duration
	// Patches is the rig checkout's patches/ (the broken kernels of
	// --what verdicts).
	Patches string
	// The nightly: a matrix plan (DefaultPlan in a rig checkout) run warm
	// with CellJobs cells at once (0: the matrix's default).
	Plan     string
	CellJobs int
	Progress func(string)
}

// Run measures what o selects, in order boot, reliability, build, pack,
// whole, verdicts, nightly; a part that cannot run records its error and the rest goes on.
func Run(ctx context.Context, o Options) *Report {
	r := &Report{Start: time.Now(), Commands: map[string]string{}}
	r.Host, _ = os.Hostname()
	r.Host += fmt.Sprintf(" (%d CPUs, %s)", runtime.NumCPU(), runtime.Version())
	say := o.Progress
	if say == nil {
		say = func(string) {}
	}
	makeJobs := o.Jobs // as given: the nightly's builds are the matrix's
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	for _, name := range o.Arches {
		a, err := arch.Lookup(name)
		if err != nil {
			r.Pairs = append(r.Pairs, Pair{What: name, Rig: Sample{Errors: []string{err.Error()}}})
			continue
		}
		if o.What["boot"] || o.Reliability > 0 {
			k, i, err := run.Last(o.Cache, a.Name)
			img := Image{Arch: a.Name, Kernel: k, Initramfs: i}
			if err != nil {
				r.Pairs = append(r.Pairs, Pair{What: "boot " + a.Name, Rig: Sample{Errors: []string{err.Error()}}})
			} else {
				say(fmt.Sprintf("boot %s: the last kernel the rig built, %s", a.Name, k))
				if extra, err := ExtraConfigs(k); err == nil && len(extra) > 0 {
					say(fmt.Sprintf("boot %s: notice: that kernel has the %s config on top of the default one; the boot goals are about the default kernel: run `rig run --arch %s` without --config first",
						a.Name, strings.Join(extra, ", "), a.Name))
				}
				if argv, err := RawArgv(img, Variant{}, "console.log"); err == nil {
					r.Commands["boot "+a.Name+" raw"] = shellQuote(argv)
				}
				v, hasToday := TodayVariant(a.Name)
				if hasToday && ownTodayKernel(a) && o.What["boot"] {
					say(fmt.Sprintf("boot %s: building today's kernel for today's raw command (once: later a no-op make)", a.Name))
					if img.Today, err = BuildToday(ctx, o.Cache, a, o.Jobs, io.Discard); err != nil {
						img.TodayErr, hasToday = err.Error(), false
					}
				}
				if hasToday {
					if argv, err := RawArgv(img.withToday(), v, "console.log"); err == nil {
						r.Commands["boot "+a.Name+" today's raw"] = shellQuote(argv)
					}
				}
				if o.What["boot"] {
					r.Pairs = append(r.Pairs, BootPair(ctx, img, o.N, say)...)
				}
				if o.Reliability > 0 {
					if r.Reliability == nil {
						r.Reliability = map[string][2]int{}
					}
					r.Reliability[a.Name] = Reliability(ctx, img, o.Reliability, say)
				}
			}
		}
		if o.What["build"] {
			p, cmd := BuildPair(ctx, o.Root, o.Cache, a, o.BuildN, o.Jobs, say)
			r.Pairs = append(r.Pairs, p)
			if cmd != "" {
				r.Commands["rebuild "+a.Name+" plain"] = "touch " + TouchFile + " && " + cmd
			}
			if o.Cold {
				r.Singles = append(r.Singles, ColdBuild(ctx, o.Root, o.Cache, a, o.Jobs, say)...)
			}
		}
		if o.What["pack"] {
			r.Singles = append(r.Singles, Pack(ctx, o.Root, o.Cache, a, o.PackN, say)...)
		}
	}
	if o.What["whole"] {
		// A new patch (never cached: apply, config, incremental build),
		// then the series given (run twice: the second is warm).
		ro := run.Options{Arches: []string{"x86_64"}, Accels: []string{"tcg"}, Tests: o.Tests, Duration: o.Duration,
			Root: o.Root, Cache: o.Cache, Results: cache.BenchResults.Path(o.Cache)}
		if dir, err := os.MkdirTemp("", "rig-bench-series-"); err != nil {
			r.Whole = append(r.Whole, Whole{Error: err.Error()})
		} else {
			if ro.Series, err = NewPatch(ctx, o.Cache, dir); err != nil {
				r.Whole = append(r.Whole, Whole{Error: err.Error()})
			} else {
				w := WholeRun(ctx, ro)
				w.Series = "(a new one-line patch to " + TouchFile + ")"
				say(fmt.Sprintf("whole run, new patch: %s %s", secs(w.Wall), w.Status))
				r.Whole = append(r.Whole, w)
			}
			os.RemoveAll(dir)
		}
		ro.Series = o.Series
		for i := 0; i < 2 && ctx.Err() == nil; i++ {
			w := WholeRun(ctx, ro)
			say(fmt.Sprintf("whole run %d, %s: %s %s", i+1, o.Series, secs(w.Wall), w.Status))
			if i == 1 {
				r.Whole = append(r.Whole, w)
			}
		}
	}
	if o.What["verdicts"] {
		r.Verdicts = Verdicts(ctx, o, say)
		for _, v := range r.Verdicts {
			r.Commands["verdict "+v.Series] = v.Command
		}
	}
	if o.What["nightly"] && ctx.Err() == nil {
		n := NightlyRun(ctx, o, makeJobs, say)
		r.Nightly = &n
		r.Commands["nightly"] = n.Command
	}
	return r
}

// Reliability boots img n times the rig's way and counts the clean boots
// (a first event and a guest power-off).
func Reliability(ctx context.Context, img Image, n int, say func(string)) [2]int {
	var c [2]int
	for i := 0; i < n && ctx.Err() == nil; i++ {
		c[1]++
		if _, err := RigBoot(ctx, img); err == nil {
			c[0]++
		} else {
			say(fmt.Sprintf("reliability %s boot %d: %v", img.Arch, i+1, lines.First(err.Error())))
		}
		if (i+1)%10 == 0 {
			say(fmt.Sprintf("reliability %s: %d/%d clean", img.Arch, c[0], c[1]))
		}
	}
	return c
}

func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsAny(a, " \t'\"$,=") && !strings.HasPrefix(a, "-") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Parts are what Run can measure, in the order it measures them.
var Parts = []string{"boot", "build", "pack", "whole", "verdicts", "nightly"}

// DefaultParts are what `rig bench` measures unless --what says: all but
// the nightly, whose default plan takes hours.
var DefaultParts = Parts[:len(Parts)-1]

// DefaultSeries is the whole run's series unless told otherwise: the first
// patch of patches/example, a one-patch series.
const DefaultSeries = "patches/example/0001-futex-note-why-handle_futex_death-must-not-store-to-.patch"

// Prepare checks o and fills in what it leaves out: the rig's sources, the
// cache, and DefaultSeries from the rig checkout you are in (the base tree
// outside one).
// Bad input is a *run.UsageError.
func (o *Options) Prepare() error {
	for w := range o.What {
		if !slices.Contains(Parts, w) {
			return &run.UsageError{Err: fmt.Errorf("--what %q: want %s", w, strings.Join(Parts, ", "))}
		}
	}
	for _, a := range o.Arches {
		if _, err := arch.Lookup(a); err != nil {
			return &run.UsageError{Err: fmt.Errorf("--arch: %w", err)}
		}
	}
	if o.N < 1 || o.BuildN < 1 || o.PackN < 1 {
		return &run.UsageError{Err: errors.New("--n, --build-n and --pack-n must be at least 1")}
	}
	if o.CellJobs < 0 {
		return &run.UsageError{Err: errors.New("--jobs must not be negative")}
	}
	var err error
	if o.Root == "" {
		if o.Root, err = initramfs.Sources(); err != nil {
			return err
		}
	}
	if o.Cache == "" {
		if o.Cache, err = cache.Dir(); err != nil {
			return err
		}
	}
	wd, _ := os.Getwd()
	root := initramfs.Checkout(wd)
	if o.Series == "" && root != "" && fileExists(filepath.Join(root, DefaultSeries)) {
		o.Series = filepath.Join(root, DefaultSeries)
	}
	if o.Patches == "" && root != "" {
		o.Patches = filepath.Join(root, "patches")
	}
	if o.What["nightly"] {
		if o.Plan == "" && root != "" && fileExists(filepath.Join(root, DefaultPlan)) {
			o.Plan = filepath.Join(root, DefaultPlan)
		}
		if o.Plan != "" {
			// A bad plan is the user's to fix before anything runs.
			if _, err := matrix.Load(o.Plan, matrix.Check{Tests: run.TestNames(), KconfigDir: filepath.Join(o.Root, "kconfigs")}); err != nil {
				if matrix.IsPlanError(err) {
					return &run.UsageError{Err: fmt.Errorf("--plan: %w", err)}
				}
				return err
			}
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
