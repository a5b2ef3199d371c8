package report_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden renders one run every way a plain-text renderer does and
// compares each with its golden file; `go test ./rig/report -run Golden
// -update` rewrites them after a deliberate change, for review in the
// diff.
func TestGolden(t *testing.T) {
	for prefix, r := range map[string]*result.Run{"": renderRun(), "series-": seriesRun()} {
		golden(t, prefix, r)
	}
}

// golden compares the screen summary, summary.md and junit.xml of r with
// testdata/golden/<prefix><file>.
func golden(t *testing.T, prefix string, r *result.Run) {
	dir := t.TempDir() // no console logs: the renderers say so
	junit, err := report.JUnit(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{
		"screen.txt": []byte(report.Screen(r, "results/"+r.ID)),
		"summary.md": []byte(report.Markdown(r)),
		"junit.xml":  junit,
	} {
		checkGolden(t, prefix+name, got)
	}
}

// checkGolden compares got with testdata/golden/name, or rewrites the file
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s (run with -update after a deliberate change):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// seriesRun is a series judged against the tree without it: the race
// fails on both (still-failing) and a WARNING shows on both, so the run
// passes, naming them.
func seriesRun() *result.Run {
	r := renderRun()
	r.Status, r.Cause = result.Pass, ""
	patched := r.Cells[0]
	patched.ID, patched.Verdict, patched.Reproduce = "x86_64", result.Pass, "reproduce.sh"
	patched.VerdictCause = "fails without the series too (pre-existing): robust-unlock, " + patched.Oopses[0].Title
	base := r.Cells[0]
	base.ID, base.Role, base.Series, base.Patches, base.QEMUArgv, base.Reproduce = "x86_64-baseline", "baseline", "", nil, nil, "reproduce.sh"
	base.Tests = []result.Test{{Name: "pi-owner", Status: "pass"}, {Name: "robust-unlock", Status: "fail", Reason: "word corrupted"}}
	r.Cells = []result.Cell{base, patched}
	return r
}
