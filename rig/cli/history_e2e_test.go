package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EMatrixHistory: rig matrix --history boots a real night and labels
// its flaky (cell, test)s in summary.md from the fixture's history: the
// x86_64 base-tree cell's random-coin flipped within its last 3 results
// (flaky under --flaky 1/3), its robust-owner-death never did.
func TestE2EMatrixHistory(t *testing.T) {
	_, results := e2e(t)
	hdir := t.TempDir()
	if code, _, stderr := runReport("history", "-o", hdir, "--flaky", "1/3", fixtureNights); code != ExitPass {
		t.Fatalf("history: exit %d %s", code, stderr)
	}
	hfile := filepath.Join(hdir, "history.json")
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(plan, []byte("series: [\"\"]\narches: [x86_64]\naccels: [tcg]\nconfigs: [[]]\ntests: [robust-owner-death]\nduration: 2s\n"), 0o644)
	// A history that is not one stops the night before it boots anything.
	bad := filepath.Join(t.TempDir(), "history.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if code, r, _, stderr := rig(t, "matrix", plan, "--results", results, "--history", bad); code != ExitUsage || r != nil || !strings.Contains(stderr, bad) {
		t.Errorf("matrix --history with a damaged file: exit %d, stderr %q", code, stderr)
	}

	prog := cc(t, "x86_64", t.TempDir(), "random-coin", "../history/testdata/nightly/random-coin.c")
	code, r, dir, _ := rig(t, "matrix", plan, "--results", results, "--history", hfile, "--exec", prog)
	if r == nil || len(r.Cells) != 1 || code == ExitUsage || code == ExitInfra {
		t.Fatalf("matrix: exit %d, run %+v", code, r)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Flaky, by the history in "+hfile)
	if !ok {
		t.Fatalf("summary.md has no flaky section:\n%s", b)
	}
	if !strings.Contains(sec, "| x86_64-tcg-base-unpatched-r1 | random-coin | "+r.Cells[0].Tests[1].Status+" | 1 | fail→pass") ||
		strings.Contains(sec, "robust-owner-death") {
		t.Errorf("flaky section, want random-coin with its flips and not robust-owner-death:\n%s", sec)
	}
}
