package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// reportRun saves a one-cell run whose test has the given status.
func reportRun(t *testing.T, id, status string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	st := result.Pass
	if status != "pass" {
		st = result.Fail
	}
	now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	r := &result.Run{ID: id, Started: now, Status: st, Cells: []result.Cell{{
		ID: "x86_64-kvm-base", Arch: "x86_64", Accel: "kvm", Config: "base+x86_64", Status: st,
		Tests:  []result.Test{{Name: "robust-unmap-remap", Status: status}},
		Stages: []result.Stage{{Name: "build", Start: now, Elapsed: time.Minute}, {Name: "boot", Start: now.Add(time.Minute), Elapsed: 3 * time.Second}, {Name: "tests", Start: now.Add(63 * time.Second), Elapsed: 10 * time.Second}},
	}}}
	if err := os.MkdirAll(filepath.Join(dir, "x86_64-kvm-base"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x86_64-kvm-base", "console.log"), []byte("Linux version 6.12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := result.Save(dir, r); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runReport(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), append([]string{"report"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestReportCommands(t *testing.T) {
	good := reportRun(t, "20261124-200000-aaaaaa", "pass")
	bad := reportRun(t, "20261125-200000-bbbbbb", "fail")
	notRun := t.TempDir()

	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, ExitUsage, "usage: rig report"},
		{[]string{"bogus"}, ExitUsage, `unknown command "bogus"`},
		{[]string{"html"}, ExitUsage, "missing DIR"},
		{[]string{"html", good, "extra"}, ExitUsage, `unexpected argument "extra"`},
		{[]string{"html", filepath.Join(notRun, "nope")}, ExitUsage, "nope"},
		{[]string{"html", notRun}, ExitUsage, "no run.json"},
		{[]string{"diff", good}, ExitUsage, "missing NEW"},
		{[]string{"diff", notRun, good}, ExitUsage, "OLD " + notRun},
		{[]string{"kcidb", "--origin", "Not OK", good}, ExitUsage, "origin"},
		{[]string{"kcidb", "--series", filepath.Join(notRun, "none.patch"), good}, ExitUsage, "--series"},
		{[]string{"html", good}, ExitPass, ""},
		{[]string{"kcidb", good}, ExitPass, ""},
		{[]string{"diff", good, good}, ExitPass, ""},
		{[]string{"diff", good, bad}, ExitFail, ""},
		{[]string{"diff", bad, good}, ExitPass, ""},
	} {
		code, _, stderr := runReport(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("rig report %q: exit %d, want %d; stderr %q should contain %q", tc.args, code, tc.code, stderr, tc.inStderr)
		}
	}
	for _, f := range []string{"report.html", "kcidb.json"} {
		if _, err := os.Stat(filepath.Join(good, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	code, stdout, _ := runReport("diff", good, bad)
	if code != ExitFail || !strings.Contains(stdout, "new failures (1):") || !strings.Contains(stdout, "x86_64-kvm-base robust-unmap-remap: pass -> fail") {
		t.Errorf("diff text (exit %d):\n%s", code, stdout)
	}
	code, stdout, _ = runReport("diff", "--json", good, bad)
	var d struct {
		Regressed   bool
		NewFailures []struct{ Cell, Test, Old, New string } `json:"new_failures"`
	}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil || code != ExitFail || !d.Regressed || len(d.NewFailures) != 1 {
		t.Errorf("diff --json (exit %d, %v): %s", code, err, stdout)
	}
}
