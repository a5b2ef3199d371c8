package run

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// A series is judged by what it changed: failures the base shares are
// named but do not fail the run; a regression, an error or a new kernel
// report does; a cell that never reached its tests counts as it is.
func TestJudgeSeries(t *testing.T) {
	tst := func(name, status string) result.Test { return result.Test{Name: name, Status: status, Reason: "why"} }
	oops := func(title string) result.Oops { return result.Oops{Kind: "WARNING", Title: title} }
	for _, tc := range []struct {
		name          string
		base, patched result.Cell
		verdict       result.Status // "" = Status counts
		cause         string        // substring of VerdictCause
	}{
		{"both pass", result.Cell{Status: result.Pass, Tests: []result.Test{tst("a", "pass")}},
			result.Cell{Status: result.Pass, Tests: []result.Test{tst("a", "pass")}}, result.Pass, ""},
		{"still failing is pre-existing", result.Cell{Status: result.Fail, Tests: []result.Test{tst("race", "fail"), tst("a", "pass")}},
			result.Cell{Status: result.Fail, Tests: []result.Test{tst("race", "fail"), tst("a", "pass")}}, result.Pass, "pre-existing): race"},
		{"regressed fails", result.Cell{Status: result.Pass, Tests: []result.Test{tst("a", "pass")}},
			result.Cell{Status: result.Fail, Tests: []result.Test{tst("a", "fail")}}, result.Fail, "test a regressed"},
		{"a regression beside a pre-existing failure fails", result.Cell{Status: result.Fail, Tests: []result.Test{tst("race", "fail"), tst("a", "pass")}},
			result.Cell{Status: result.Fail, Tests: []result.Test{tst("race", "fail"), tst("a", "fail")}}, result.Fail, "test a regressed"},
		{"fixed passes", result.Cell{Status: result.Fail, Tests: []result.Test{tst("race", "fail")}},
			result.Cell{Status: result.Pass, Tests: []result.Test{tst("race", "pass")}}, result.Pass, ""},
		{"a test error fails", result.Cell{Status: result.Pass, Tests: []result.Test{tst("a", "pass")}},
			result.Cell{Status: result.Fail, Tests: []result.Test{tst("a", "error")}}, result.Fail, "test a failed"},
		{"a new kernel report fails", result.Cell{Status: result.Pass, Tests: []result.Test{tst("a", "pass")}},
			result.Cell{Status: result.Fail, Tests: []result.Test{tst("a", "pass")}, Oopses: []result.Oops{oops("WARNING in futex_wake")}}, result.Fail, "new kernel report"},
		{"a report the base shows too is pre-existing", result.Cell{Status: result.Fail, Oopses: []result.Oops{oops("WARNING in x")}, Tests: []result.Test{tst("a", "pass")}},
			result.Cell{Status: result.Fail, Oopses: []result.Oops{oops("WARNING in x")}, Tests: []result.Test{tst("a", "pass")}}, result.Pass, "WARNING in x"},
		{"a build error counts as it is", result.Cell{Status: result.Pass}, result.Cell{Status: result.BuildError}, "", ""},
		{"an undecided base judges nothing", result.Cell{Status: result.BootError}, result.Cell{Status: result.Fail, Tests: []result.Test{tst("a", "fail")}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Label(&tc.base.Tests, &tc.patched.Tests)
			JudgeSeries(&tc.base, &tc.patched)
			if tc.patched.Verdict != tc.verdict || !strings.Contains(tc.patched.VerdictCause, tc.cause) {
				t.Errorf("verdict %q (%s), want %q containing %q", tc.patched.Verdict, tc.patched.VerdictCause, tc.verdict, tc.cause)
			}
			r := result.Run{Cells: []result.Cell{tc.base, tc.patched}}
			r.Cells[0].Role = "baseline"
			r.Finish(r.Started)
			want := tc.verdict
			if want == "" {
				want = tc.patched.Status
			}
			if r.Status != want {
				t.Errorf("run status %s, want %s", r.Status, want)
			}
		})
	}
}

// natural is a statistical test's result with its counts.
func natural(status, kills, hits string) result.Test {
	return result.Test{Name: "robust-unmap-remap", Status: status, Evidence: map[string]string{evKills: kills, evCorruptions: hits}}
}

// A base is booted until its statistical tests have minBaseKills kills
// behind them, or a corruption (the guest stops at the first), their
// counts summed over the boots; then its results are reused without a
// boot.
func TestBaseResultsKept(t *testing.T) {
	env := &fakeEnv{outcome: poweredOff}
	o := Options{Duration: 1, Seed: 7, BootTimeout: 1 << 40, Cache: t.TempDir(), Root: "../..", UI: nil}
	base := func(kills, hits string) *cell {
		c := newTestCell(t, env, o, []string{"robust-unmap-remap"}, []patch.Patch{})
		c.spec.Role, c.opts.Cache = "baseline", o.Cache
		status := "pass"
		if hits != "0" {
			status = "fail"
		}
		env.events = []event.Event{hello("rig-fake"), {Ev: event.Start, Test: "robust-unmap-remap"},
			{Ev: event.Result, Test: "robust-unmap-remap", Status: status, Evidence: map[string]string{evKills: kills, evCorruptions: hits}}, {Ev: event.Done}}
		return c
	}
	initrd := filepath.Join(t.TempDir(), "initramfs.cpio")
	if err := os.WriteFile(initrd, []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	kern := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kern, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	boots := 0
	for i, step := range []struct {
		kills, hits      string
		booted           bool
		sumKills, sumHit string
	}{
		{"60", "0", true, "60", "0"}, // 60 < 100: boot again next time
		{"5", "1", true, "65", "1"},  // summed: the race shows, which decides it (65 < 100 or not)
		{"70", "0", false, "65", "1"},
	} {
		c := base(step.kills, step.hits)
		c.res.BuildID = "rig-fake"
		p, err := c.basePath(initrd)
		if err != nil {
			t.Fatal(err)
		}
		if c.reuseBase(p, kern, initrd) {
			if step.booted {
				t.Fatalf("step %d: reused, want a boot", i)
			}
		} else {
			if !step.booted {
				t.Fatalf("step %d: booted, want the kept results", i)
			}
			c.boot(context.Background(), kern, initrd)
			boots++
			if err := c.keepBase(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
		e, err := loadBase(p)
		if err != nil || e == nil || len(e.Tests) != 1 {
			t.Fatalf("step %d: kept %+v, %v", i, e, err)
		}
		if got := e.Tests[0].Evidence; got[evKills] != step.sumKills || got[evCorruptions] != step.sumHit {
			t.Errorf("step %d: kept counts %v, want %s kills %s corrupted", i, got, step.sumKills, step.sumHit)
		}
		if step.sumHit != "0" && (e.Status != result.Fail || e.Tests[0].Status != "fail") {
			t.Errorf("step %d: the base's race was seen but it is kept as %s/%s", i, e.Status, e.Tests[0].Status)
		}
		if !step.booted && (c.res.Status != result.Fail || len(c.res.Tests) != 1 || c.res.Accel != "tcg") {
			t.Errorf("step %d: reused cell %s accel %q %+v", i, c.res.Status, c.res.Accel, c.res.Tests)
		}
		// Reused or booted, a failing base can be replayed without the cache.
		if c.res.Reproduce != ReproduceScript || !slices.Contains(c.res.Kept, "vmlinux") || !slices.Contains(c.res.Kept, keptInitramfs) {
			if step.sumHit != "0" {
				t.Errorf("step %d: base %s has script %q, kept %v", i, c.res.Status, c.res.Reproduce, c.res.Kept)
			}
		}
	}
	if boots != 2 {
		t.Errorf("%d boots, want 2", boots)
	}
}

// Flakiness is compared with the base: a selftest that passed only on a
// rerun is named on each side.
func TestLabelComparesFlaky(t *testing.T) {
	base := []result.Test{{Name: "kselftest-futex", Status: "pass"}}
	patched := []result.Test{{Name: "kselftest-futex", Status: "pass", Evidence: map[string]string{event.Flaky: "futex_requeue,futex_wait"}}}
	Label(&base, &patched)
	if got := patched[0].Compare; got != "flaky with the series: futex_requeue, futex_wait; without: none" {
		t.Errorf("compare %q", got)
	}
	if patched[0].Label != LabelPassing {
		t.Errorf("label %q: flaky is a label on the parts, the test passes", patched[0].Label)
	}
}
