package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// fakeNightly is a matrix run as run.json records it, in seconds from t0:
// a base cell whose build was cached and that waited 3 s for its build
// slot; an example cell that built its kernel and booted its baseline
// first; an example cell whose baseline was judged from kept results
// (a cached boot) and whose machine wedged; a build-error cell; an
// interrupted cell that never got a stage.
func fakeNightly(t0 time.Time) *result.Run {
	st := func(name string, from, to float64, cached bool) result.Stage {
		return result.Stage{Name: name, Start: t0.Add(time.Duration(from * float64(time.Second))),
			Elapsed: time.Duration((to - from) * float64(time.Second)), Cached: cached}
	}
	return &result.Run{ID: "fake", Started: t0, Finished: t0.Add(120 * time.Second), Status: result.Fail, Cells: []result.Cell{
		{ID: "x86_64-tcg-base", Status: result.Pass, Stages: []result.Stage{
			st("source", 0, 1, false), st("apply", 4, 4.5, false), st("build", 4.5, 4.6, true), st("kselftest", 4.6, 4.8, false),
			st("pack", 4.8, 5.1, true), st("accel", 5.1, 5.2, false), st("boot", 5.2, 7.2, false), st("tests", 7.2, 17.2, false),
			st("poweroff", 17.2, 17.7, false)}},
		{ID: "x86_64-tcg-example", Status: result.Pass,
			BaselineStages: []result.Stage{st("source", 20, 21, false), st("apply", 21, 21.5, false), st("build", 21.5, 21.6, true),
				st("pack", 21.6, 21.9, true), st("accel", 21.9, 22, false), st("boot", 22, 24.5, false), st("tests", 24.5, 35.5, false),
				st("poweroff", 35.5, 35.9, false)},
			Stages: []result.Stage{st("source", 36, 37, false), st("apply", 37, 37.5, false), st("config", 37.5, 39.5, false),
				st("build", 39.5, 99.5, false), st("verify", 99.5, 100.5, false), st("pack", 100.5, 101.5, false), st("accel", 101.5, 101.6, false),
				st("boot", 101.6, 104.6, false), st("tests", 104.6, 116.6, false), st("poweroff", 116.6, 117, false)}},
		{ID: "arm64-tcg-example", Status: result.Fail,
			BaselineStages: []result.Stage{st("source", 0, 1, false), st("apply", 1, 1.5, false), st("build", 1.5, 1.6, true),
				st("pack", 1.6, 1.8, true), st("boot", 1.8, 1.85, true)},
			Stages: []result.Stage{st("source", 2, 3, false), st("apply", 3, 3.5, false), st("build", 3.5, 3.6, true), st("pack", 3.6, 3.8, true),
				st("accel", 3.8, 3.9, false), st("boot", 3.9, 5.9, false), st("tests", 5.9, 25.9, false), st("wedged", 25.9, 28.9, false)}},
		{ID: "arm64-tcg-kasan", Status: result.BuildError, Stages: []result.Stage{st("source", 30, 31, false), st("apply", 31, 31.5, false),
			st("config", 31.5, 33.5, false), st("build", 33.5, 63.5, false)}},
		{ID: "x86_64-tcg-kcsan", Status: result.Interrupted},
	}}
}

// TestMinimalWork: a run's minimal work is its builds that built, its
// boots (a baseline's included, a kept baseline's not) and its tests;
// the rest of the cells' time is named per stage, the slot wait between
// stages included, and the run's idle time counts overlapping cells once.
// The run goes through run.json on disk, as `rig bench` reads it.
func TestMinimalWork(t *testing.T) {
	dir := t.TempDir()
	if err := result.Save(dir, fakeNightly(time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	r, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := MinimalWork(r)
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	near := func(what string, got, want time.Duration) {
		t.Helper()
		if d := got - want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("%s = %s, want %s", what, got, want)
		}
	}
	// boot+tests 2+10; baseline 2.5+11 and build 60 + 3+12; kept
	// baseline 0 and 2+20 (the wedged grace is not work); the failed
	// build's 30.
	near("minimal", w.Minimal, s(12+13.5+75+0+22+30))
	near("build", w.Build, s(60+30))
	near("boot", w.Boot, s(2+2.5+3+2))
	near("tests", w.Tests, s(10+11+12+20))
	if w.Builds != 2 || w.Boots != 4 || w.BaselineBoots != 1 || w.BaselinesKept != 1 || w.CellCount != 5 {
		t.Errorf("builds %d boots %d baseline boots %d kept %d cells %d; want 2, 4, 1, 1, 5", w.Builds, w.Boots, w.BaselineBoots, w.BaselinesKept, w.CellCount)
	}
	over := map[string]time.Duration{}
	var sum time.Duration
	for _, o := range w.Overhead {
		over[o.Name] = o.Elapsed
		sum += o.Elapsed
	}
	near("between stages", over[BetweenStages], s(3))
	near("build (cached)", over["build (cached)"], s(0.4))
	near("boot (cached)", over["boot (cached)"], s(0.05))
	near("wedged", over["wedged"], s(3))
	near("poweroff", over["poweroff"], s(0.5+0.4+0.4))
	near("config", over["config"], s(2+2))
	if _, ok := over["build"]; ok {
		t.Errorf("a build that built is counted as overhead: %v", w.Overhead)
	}
	if last := w.Overhead[len(w.Overhead)-1].Name; last != BetweenStages {
		t.Errorf("overhead ends with %q, want %q", last, BetweenStages)
	}
	near("busy", w.Busy, s(17.7+15.9+81+1.85+26.9+33.5))
	near("busy = minimal + overhead", w.Busy, w.Minimal+sum)
	// Cells cover [0, 117] of the run's 120 s (the x86_64 baseline's
	// [20, 35.9] bridges arm64's [2, 28.9] and [30, 63.5]).
	near("span", w.Span, s(120))
	near("idle", w.Idle, s(3))
	if len(w.Cells) != 6 || !w.Cells[1].Twin || w.Cells[1].ID != "x86_64-tcg-example-baseline" || w.Cells[2].Twin {
		t.Errorf("cells: %+v", w.Cells)
	}
	near("example's baseline", w.Cells[1].Minimal, s(13.5))
	near("example", w.Cells[2].Minimal, s(75))
	near("example's span", w.Cells[2].Span, s(81))

	n := Nightly{Plan: "nightly.yaml", Command: "rig matrix nightly.yaml -j 2", Status: "fail", Jobs: 2, Parallel: 2, Wall: s(125)}
	n.setWork(w)
	if n.Ratio < 0.8196 || n.Ratio > 0.8197 || n.RatioShared < 1.6393 || n.RatioShared > 1.6394 {
		t.Errorf("ratio %.4f shared %.4f; want 125/152.5 = 0.8197 and twice that", n.Ratio, n.RatioShared)
	}
	var b bytes.Buffer
	(&Report{Nightly: &n}).Print(&b)
	for _, want := range []string{"5 cells + 1 baseline(s) booted (1 kept), 2 kernels built", "152.5s", "builds 90.0s, boots 9.50s, tests 53.0s",
		" 0.82 ", " 1.64 ", "below 1", BetweenStages, "arm64-tcg-kasan", "no cell in a stage"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table has no %q:\n%s", want, b.String())
		}
	}
}

// TestCovered: overlapping spans count once, and only inside the run.
func TestCovered(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	spans := [][2]time.Time{{at(5), at(8)}, {at(-2), at(3)}, {at(6), at(12)}, {at(9), at(10)}}
	if got := covered(spans, t0, at(11)); got != 3*time.Second+6*time.Second {
		t.Errorf("covered %s, want 9s", got)
	}
}
