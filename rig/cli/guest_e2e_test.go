package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EBreakPatches: each series in patches/ that breaks one futex
// property must make `rig run` FAIL naming the test that checks it, while
// the kernel itself stays healthy enough to boot.
// breakSeries names each patches/break-* series and the test it breaks.
// duration is --duration: 5 s for most; pi-giveup, which aims at a
// race, gets 30 s, because in CI it runs beside other packages' tests on
// 2 cores and makes half its idle rate of rounds (on an idle machine it
// caught break-pi-leaving within 2.5 s in 40 of 40 runs).
var breakSeries = []struct{ series, test, duration string }{
	{"break-owner-death", "robust-owner-death", "5s"},
	{"break-kill-in-lock", "robust-kill-in-lock", "5s"},
	{"break-kill-in-unlock", "robust-kill-in-unlock", "5s"},
	{"break-pi-owner", "pi-consistency", "5s"},
	{"break-pi-waiters", "pi-handover", "5s"},
	{"break-pi-leaving", "pi-giveup", "30s"},
}

// TestE2EPIBreaksWithUnrelatedPatch: the PI tests aimed at a state catch
// the series that breaks it whatever unrelated change comes with it (the
// random contention of pi-consistency missed such a break on builds that
// differed by one comment line in requeue.c), on both arches, with the
// default duration: pi-handover catches break-pi-waiters (the handover
// without FUTEX_WAITERS), pi-giveup catches break-pi-leaving (an unlock
// that returns 0 when its only waiter is leaving, without releasing).
func TestE2EPIBreaksWithUnrelatedPatch(t *testing.T) {
	root, results := e2e(t)
	tree := defaultTree(t)
	comment := writeSeries(t, tree, t.TempDir(), "futex: a comment in requeue.c", map[string]string{
		"kernel/futex/requeue.c": baseFile(t, tree, "kernel/futex/requeue.c") + "/* rig: an unrelated comment */\n"})
	for _, tc := range []struct {
		series, test, cause string
		args                []string
	}{
		{"break-pi-waiters", "pi-handover", "FUTEX_WAITERS kept", nil},
		// The unlock that does not release shows in whichever unlock the
		// race hits first: a plain one ("... which believes it has
		// unlocked") or the release of a FUTEX_TRYLOCK_PI ("word after
		// ..."), both the unlock invariant.
		{"break-pi-leaving", "pi-giveup", "unlock invariant broken", []string{"--duration", "30s"}}, // see breakSeries
	} {
		t.Run(tc.series, func(t *testing.T) {
			dir := t.TempDir()
			var patches []string
			for _, d := range []string{filepath.Join(root, "patches", tc.series), comment} {
				p, _ := filepath.Glob(filepath.Join(d, "*.patch"))
				patches = append(patches, p...)
			}
			for i, p := range patches {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d%s", i+1, filepath.Base(p)[4:])), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, r, _, _ := rig(t, append([]string{"run", "--series", dir, "--results", results, "--tests", tc.test}, tc.args...)...)
			if r == nil || code != ExitFail || len(patchedCells(r)) != 2 {
				t.Fatalf("exit %d, run %+v; want both arches failing", code, r)
			}
			for _, c := range patchedCells(r) {
				if !strings.Contains(c.Cause, "test "+tc.test+" failed") || !strings.Contains(c.Cause, tc.cause) {
					t.Errorf("%s: %s (%s); want %s failing with %q", c.ID, c.Status, c.Cause, tc.test, tc.cause)
				}
			}
		})
	}
}

func TestE2EBreakPatches(t *testing.T) {
	root, results := e2e(t)
	for _, tc := range breakSeries {
		t.Run(tc.series, func(t *testing.T) {
			code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches", tc.series),
				"--results", results, "--tests", tc.test, "--duration", tc.duration)
			if r == nil || code != 1 || r.Status != result.Fail {
				t.Fatalf("exit %d, run %+v", code, r)
			}
			// Judged against the tree without the series, where the
			// test passes: the series broke it.
			if want := "test " + tc.test + " regressed"; !strings.Contains(r.Cause, want) {
				t.Errorf("cause %q does not say %q", r.Cause, want)
			}
			if c := patched(t, r); !strings.Contains(c.Cause, "test "+tc.test+" failed") {
				t.Errorf("cell cause %q does not say the test failed", c.Cause)
			}
		})
	}
}

// TestE2EBaseTreeVerdicts: on the unpatched default tree every test passes
// except robust-unmap-remap, which reproduces the corruption (the tree has
// no FUTEX_ROBUST_UNLOCK fix) with its evidence.
func TestE2EBaseTreeVerdicts(t *testing.T) {
	_, results := e2e(t)
	code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--duration", "5s")
	if r == nil || code != 1 || r.Status != result.Fail {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	c := r.Cells[0]
	if len(c.Tests) < 5 {
		t.Errorf("only %d tests ran: %+v", len(c.Tests), c.Tests)
	}
	for _, tr := range c.Tests {
		switch {
		case tr.Name == "robust-unmap-remap":
			if tr.Status != "fail" || tr.Evidence["det_corrupted"] == "" || tr.Evidence["det_corrupted"] != tr.Evidence["det_trials"] {
				t.Errorf("robust-unmap-remap: %s (%s) evidence %v; want every deterministic trial corrupted", tr.Status, tr.Reason, tr.Evidence)
			}
			// The natural mode (the real unlock, no window held open) hits
			// within about a second here; 5 s without one is a regression.
			if c := tr.Evidence["natural_corruptions"]; c == "" || c == "0" || tr.Evidence["natural_control_corruptions"] != "0" {
				t.Errorf("robust-unmap-remap natural mode: %s corruptions, controls %s; want >0 and 0", c, tr.Evidence["natural_control_corruptions"])
			}
		case tr.Status != "pass" && tr.Status != "skip":
			t.Errorf("%s: %s (%s)", tr.Name, tr.Status, tr.Reason)
		}
	}
	if !strings.Contains(r.Cause, "robust-unmap-remap") {
		t.Errorf("cause %q does not name robust-unmap-remap", r.Cause)
	}
	if len(c.Oopses) > 0 {
		t.Errorf("kernel reports on the base tree: %+v", c.Oopses)
	}
}

// TestE2EBaselineLabels: --baseline runs the tree without the series too
// and labels each test.
func TestE2EBaselineLabels(t *testing.T) {
	root, results := e2e(t)
	code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--baseline", "--series", filepath.Join(root, "patches/break-kill-in-lock"),
		"--results", results, "--tests", "robust-kill-in-lock,robust-owner-death", "--duration", "3s")
	if r == nil || code != 1 || len(r.Cells) != 2 {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	if r.Cells[0].Role != "baseline" || r.Cells[0].Status != result.Pass {
		t.Errorf("baseline cell: role %q status %s (%s)", r.Cells[0].Role, r.Cells[0].Status, r.Cells[0].Cause)
	}
	labels := map[string]string{}
	for _, tr := range r.Cells[1].Tests {
		labels[tr.Name] = tr.Label
	}
	if labels["robust-kill-in-lock"] != "regressed" || labels["robust-owner-death"] != "passing" {
		t.Errorf("labels %v", labels)
	}
}
