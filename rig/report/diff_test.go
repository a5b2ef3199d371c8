package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// cloneRun deep-copies a run through its JSON form (as run.json would).
func cloneRun(t *testing.T, r *result.Run) *result.Run {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var c result.Run
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func cellByID(r *result.Run, id string) *result.Cell {
	for i := range r.Cells {
		if r.Cells[i].ID == id {
			return &r.Cells[i]
		}
	}
	return nil
}

func changes(l []report.Change) []string {
	var s []string
	for _, c := range l {
		s = append(s, c.Cell+"|"+c.Test+"|"+c.Old+"->"+c.New)
	}
	return s
}

func TestDiff(t *testing.T) {
	old, _ := fixtureRun(t)
	cur := cloneRun(t, old)
	cur.ID = "20261125-010000-def456"

	// x86_64-tcg-debug: pi-owner pass -> fail (new failure), a new WARNING
	// (kernel-oops pass -> fail), the skip becomes a pass (other change),
	// and the cell flips pass -> fail.
	c := cellByID(cur, "x86_64-tcg-debug")
	c.Status, c.Cause = result.Fail, "pi-owner: word names the wrong owner"
	c.Tests[2].Status, c.Tests[2].Reason = "fail", "word names the wrong owner"
	c.Tests[3].Status = "pass"
	c.Oopses = []result.Oops{{Kind: "WARNING", Title: "WARNING: kernel/futex/pi.c:99", Line: 7}}
	// x86_64-kvm-base: pi-owner fail -> pass (fix), the oops gone (fix).
	c = cellByID(cur, "x86_64-kvm-base")
	c.Status, c.Cause = result.Pass, ""
	c.Tests[2].Status, c.Tests[2].Reason = "pass", ""
	c.Oopses = nil
	// x86_64-tcg-kasan: robust-natural disappears, a new test appears.
	c = cellByID(cur, "x86_64-tcg-kasan")
	c.Tests = []result.Test{c.Tests[0], {Name: "pi-stress", Status: "pass"}}
	// arm64-kvm-base disappears; a new cell appears.
	var cells []result.Cell
	for _, x := range cur.Cells {
		if x.ID != "arm64-kvm-base" {
			cells = append(cells, x)
		}
	}
	cur.Cells = append(cells, result.Cell{ID: "riscv64-tcg-base", Status: result.Pass})

	d := report.Diff(old, cur)
	check := func(what string, got []report.Change, want ...string) {
		t.Helper()
		if strings.Join(changes(got), "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", what, changes(got), want)
		}
	}
	check("new failures", d.NewFailures,
		"x86_64-tcg-debug|pi-owner|pass->fail",
		"x86_64-tcg-debug|kernel-oops|pass->fail")
	check("fixes", d.Fixes,
		"x86_64-kvm-base|pi-owner|fail->pass",
		"x86_64-kvm-base|kernel-oops|fail->pass")
	check("changed", d.Changed, "x86_64-tcg-debug|kselftest:futex_requeue_pi|skip->pass")
	check("cell flips", d.CellFlips,
		"x86_64-kvm-base||fail->pass",
		"x86_64-tcg-debug||pass->fail")
	check("appeared", d.Appeared,
		"x86_64-tcg-kasan|pi-stress|->pass",
		"riscv64-tcg-base||->pass")
	check("disappeared", d.Disappeared,
		"x86_64-tcg-kasan|robust-natural|error->",
		"arm64-kvm-base||infra-error->")
	if !d.Regressed() {
		t.Error("Regressed() = false with new failures")
	}
	var b bytes.Buffer
	if err := report.WriteDiff(&b, d); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"new failures (2):\n  x86_64-tcg-debug pi-owner: pass -> fail: word names the wrong owner\n",
		"fixes (2):",
		"x86_64-tcg-debug: pass -> fail: pi-owner: word names the wrong owner [regression]",
		"disappeared (2):\n  x86_64-tcg-kasan robust-natural: was error\n  arm64-kvm-base: was infra-error\n",
		"verdict: REGRESSED",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diff text lacks %q:\n%s", want, text)
		}
	}

	// The reverse direction has fixes only, apart from the flip of
	// x86_64-kvm-base from pass to fail, which is a regression.
	back := report.Diff(cur, old)
	if len(back.NewFailures) != 2 || !back.Regressed() {
		t.Errorf("reverse: new failures %q, regressed %v", changes(back.NewFailures), back.Regressed())
	}
}

func TestDiffSameAndInfra(t *testing.T) {
	old, _ := fixtureRun(t)
	d := report.Diff(old, cloneRun(t, old))
	if !d.Empty() || d.Regressed() {
		t.Errorf("identical runs: %+v", d)
	}
	var b bytes.Buffer
	_ = report.WriteDiff(&b, d)
	if !strings.Contains(b.String(), "no changes") || !strings.Contains(b.String(), "verdict: no new failures") {
		t.Errorf("identical runs text:\n%s", b.String())
	}

	// A passing cell that now fails for infrastructure is a flip, not a
	// regression: the kernel is not to blame.
	cur := cloneRun(t, old)
	c := cellByID(cur, "x86_64-tcg-debug")
	c.Status, c.Tests, c.Cause = result.InfraError, nil, "qemu died"
	d = report.Diff(old, cur)
	if d.Regressed() || len(d.CellFlips) != 1 || len(d.Disappeared) != 5 {
		t.Errorf("infra flip: regressed %v, flips %q, disappeared %q", d.Regressed(), changes(d.CellFlips), changes(d.Disappeared))
	}
	// The same cell ending in a build error is a regression.
	c.Status = result.BuildError
	if d = report.Diff(old, cur); !d.Regressed() {
		t.Error("pass -> build-error should be a regression")
	}
}

// TestDiffHoles: each NEW could hide a regression from a diff that only
// looks for pass -> fail; the diff must fail (Failed) and say why.
func TestDiffHoles(t *testing.T) {
	base, _ := fixtureRun(t)
	for _, tc := range []struct {
		name      string
		edit      func(old, cur *result.Run)
		regressed bool   // a regression proper, not only a doubt
		why       string // in the text output
	}{
		{"no cells", func(_, cur *result.Run) { cur.Cells = nil }, false, "NEW has no cells"},
		{"pass to skip", func(_, cur *result.Run) {
			cellByID(cur, "x86_64-tcg-debug").Tests[0].Status = "skip"
		}, false, "pass -> skip"},
		{"failing cell renamed", func(_, cur *result.Run) {
			c := cellByID(cur, "x86_64-kvm-base")
			c.ID = "x86_64-kvm-renamed"
		}, true, "cell x86_64-kvm-base (fail in OLD) is missing from NEW"},
		{"duplicate failing cell", func(_, cur *result.Run) {
			dup := *cellByID(cur, "x86_64-tcg-debug")
			dup.Status, dup.Tests = result.Fail, []result.Test{{Name: "pi-owner", Status: "fail"}}
			cur.Cells = append(cur.Cells, dup)
		}, false, "NEW has cell id x86_64-tcg-debug twice"},
		{"duplicate failing test", func(_, cur *result.Run) {
			c := cellByID(cur, "x86_64-tcg-debug")
			c.Tests = append(c.Tests, result.Test{Name: c.Tests[0].Name, Status: "fail"})
		}, false, "has test " + cellByID(base, "x86_64-tcg-debug").Tests[0].Name + " twice"},
		{"appeared failures after a patch-error", func(old, cur *result.Run) {
			o := cellByID(old, "x86_64-tcg-debug")
			o.Status, o.Tests, o.Oopses = result.PatchError, nil, nil
			c := cellByID(cur, "x86_64-tcg-debug")
			c.Status = result.Fail
			c.Tests = []result.Test{{Name: "robust-owner-death", Status: "fail"}, {Name: "robust-kill-in-lock", Status: "fail"}}
		}, true, "robust-owner-death: fail"},
		{"pass to infra-error", func(_, cur *result.Run) {
			c := cellByID(cur, "x86_64-tcg-debug")
			c.Status, c.Tests, c.Oopses = result.InfraError, nil, nil
		}, false, "pass -> infra-error: its tests did not run"},
		{"unknown status", func(_, cur *result.Run) {
			cellByID(cur, "x86_64-tcg-debug").Tests[0].Status = "passed\x1b[2J"
		}, false, "unknown status passed?[2J"},
		{"one id, another cell", func(_, cur *result.Run) {
			cellByID(cur, "x86_64-tcg-debug").Config = "base+x86_64+kasan"
		}, false, "not the same cell"},
		{"skip to fail", func(_, cur *result.Run) {
			c := cellByID(cur, "x86_64-tcg-debug")
			for i := range c.Tests {
				if c.Tests[i].Status == "skip" {
					c.Tests[i].Status = "fail"
				}
			}
		}, true, "skip -> fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := cloneRun(t, base), cloneRun(t, base)
			tc.edit(old, cur)
			d := report.Diff(old, cur)
			if !d.Failed() || d.Regressed() != tc.regressed {
				t.Errorf("failed %v regressed %v (want true, %v); doubts %q", d.Failed(), d.Regressed(), tc.regressed, d.Doubts)
			}
			var b bytes.Buffer
			_ = report.WriteDiff(&b, d)
			text := b.String()
			if !strings.Contains(text, tc.why) || strings.Contains(text, "no new failures") {
				t.Errorf("text lacks %q or says no new failures:\n%s", tc.why, text)
			}
		})
	}
}

// TestDiffKnown: a failure a known issue explains is "known" on its side
// of the diff: the same known failure on both sides is no change, one that
// appears is listed but is no regression, and one that loses its known
// issue is a regression again.
func TestDiffKnown(t *testing.T) {
	old, _ := fixtureRun(t)
	const link = "https://example.org/known"
	// x86_64-tcg-debug passes its tests in the fixture: make one fail, known.
	cur := cloneRun(t, old)
	c := cellByID(cur, "x86_64-tcg-debug")
	c.Status, c.Known = result.Fail, link
	c.Tests[0].Status, c.Tests[0].Known = "fail", link
	d := report.Diff(old, cur)
	if d.Regressed() || d.Failed() {
		t.Errorf("pass -> known failure: regressed %v, doubts %q, new failures %q", d.Regressed(), d.Doubts, changes(d.NewFailures))
	}
	if len(d.Changed) != 1 || d.Changed[0].New != "known" || len(d.CellFlips) != 1 || d.CellFlips[0].New != "known" {
		t.Errorf("pass -> known failure is not listed as known: changed %q, flips %q", changes(d.Changed), changes(d.CellFlips))
	}
	// Known on both sides: no change at all.
	if d := report.Diff(cur, cloneRun(t, cur)); !d.Empty() || d.Failed() {
		t.Errorf("known on both sides: %+v", d)
	}
	// The known issue dropped (expired, or the file no longer names it):
	// the same failure is a regression against a passing OLD.
	bare := cloneRun(t, cur)
	bc := cellByID(bare, "x86_64-tcg-debug")
	bc.Known, bc.Tests[0].Known = "", ""
	if d := report.Diff(old, bare); !d.Regressed() {
		t.Errorf("the same failure without its known issue is no regression: %+v", d)
	}
}
