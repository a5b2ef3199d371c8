package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/history"
)

// fixtureNights is the real nightly fixture (rig/history/testdata/nightly,
// made by its make.sh).
const fixtureNights = "../history/testdata/nightly/runs"

// TestReportHistory: rig report history on the fixture writes both files
// where -o says, and bad arguments are usage errors naming what is wrong.
func TestReportHistory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hist")
	code, stdout, stderr := runReport("history", "-o", out, "--flaky", "3/10", fixtureNights)
	if code != ExitPass {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	h, err := history.Read(filepath.Join(out, history.File))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "17 nights") || len(h.Nights) != 17 || h.Flaky != (history.Rule{Flips: 3, Runs: 10}) {
		t.Errorf("stdout %q, %d nights, rule %v", stdout, len(h.Nights), h.Flaky)
	}
	// Night dirs are relative to OUT, so the page's links resolve.
	if _, err := os.Stat(filepath.Join(out, h.Nights[0].Dir, "report.html")); err != nil {
		t.Errorf("night 1's report.html from %s: %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(out, "history.html")); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"history"}, "want at least one RUN"},
		{[]string{"history", "--flaky", "3", fixtureNights}, "want N/M"},
		{[]string{"history", "--flaky", "5/3", fixtureNights}, "want N/M"},
		{[]string{"history", t.TempDir()}, "no run.json in it"},
		{[]string{"history", "/nonexistent/nights"}, "/nonexistent/nights"},
	} {
		code, _, stderr := runReport(tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("rig report %q: exit %d stderr %q, want exit %d saying %q", tc.args, code, stderr, ExitUsage, tc.want)
		}
	}
}

// TestMergeHistoryFlaky: rig report merge --history labels the flaky
// (cell, test)s of the merged night in summary.md with their flips; a
// history file that is not one is a usage error before anything is
// written.
func TestMergeHistoryFlaky(t *testing.T) {
	hdir := t.TempDir()
	if code, _, stderr := runReport("history", "-o", hdir, fixtureNights); code != ExitPass {
		t.Fatalf("history: exit %d %s", code, stderr)
	}
	hfile := filepath.Join(hdir, history.File)
	out := filepath.Join(t.TempDir(), "merged")
	night := filepath.Join(fixtureNights, "16-break-owner-death") // its patched cells ran random-coin
	code, _, stderr := runReport("merge", "--history", hfile, out, night)
	if code != ExitPass {
		t.Fatalf("merge: exit %d %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	_, sec, ok := strings.Cut(s, "## Flaky, by the history in "+hfile)
	if !ok {
		t.Fatalf("summary.md has no flaky section:\n%s", s)
	}
	// The fixture's random-coin rows of the patched cells are the flaky
	// ones (TestFixtureHistory in rig/history): one line each.
	for _, cell := range []string{"arm64-tcg-base-break-owner-death-r1 | random-coin", "x86_64-tcg-base-break-owner-death-r1 | random-coin"} {
		if !strings.Contains(sec, cell) {
			t.Errorf("flaky section lacks %q:\n%s", cell, sec)
		}
	}
	if strings.Contains(sec, "robust-owner-death") || !strings.Contains(sec, "pass→fail 20261207-") {
		t.Errorf("flaky section labels a regression as flaky, or lists no flips:\n%s", sec)
	}

	bad := filepath.Join(t.TempDir(), "history.json")
	os.WriteFile(bad, []byte(`{"version": 7}`), 0o644)
	out2 := filepath.Join(t.TempDir(), "merged")
	if code, _, stderr := runReport("merge", "--history", bad, out2, night); code != ExitUsage || !strings.Contains(stderr, "version 7") {
		t.Errorf("merge with a bad history: exit %d stderr %q", code, stderr)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Errorf("merge with a bad history wrote %s", out2)
	}
}
