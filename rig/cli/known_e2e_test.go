package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EKnownIssues boots the default tree, whose robust-unmap-remap fails
// (the 6.12 unlock race), three ways: without known issues it fails (exit
// 1); with patches/known-issues.yaml (plus an entry nothing matches) the
// failure is known in run.json, summary.md, junit.xml and kcidb.json, the
// extra entry is reported as probably fixed, and the run exits 0 (so does a
// matrix whose plan names the file); with the entry expired, the run stops
// before anything is built, exit 2, naming the file, the line and the date.
func TestE2EKnownIssues(t *testing.T) {
	root, results := e2e(t)
	args := []string{"run", "--arch", "x86_64", "--tests", "robust-unmap-remap", "--duration", "3s", "--results", results}

	code, r, _, stderr := rig(t, args...)
	if code != 1 || r == nil || r.Status != result.Fail {
		t.Fatalf("without --known: exit %d, want 1 (the race fails)\n%s", code, stderr)
	}

	shipped, err := os.ReadFile(filepath.Join(root, "patches/known-issues.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const gone = "https://example.org/bug/fixed-long-ago"
	file := filepath.Join(t.TempDir(), "known-issues.yaml")
	extra := "- title: 'BUG: this report never happens'\n  link: " + gone + "\n"
	if err := os.WriteFile(file, append(shipped, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, r, dir, stderr := rig(t, append(args, "--known", file)...)
	if code != 0 || r == nil || r.Status != result.Pass {
		t.Fatalf("with --known: exit %d, want 0 (the only failure is known)\n%s", code, stderr)
	}
	c := r.Cells[0]
	if c.Status != result.Fail || c.Known == "" || len(c.Tests) != 1 || c.Tests[0].Status != "fail" || c.Tests[0].Known != c.Known {
		t.Fatalf("cell: %s known %q, tests %+v: want a failing robust-unmap-remap marked known", c.Status, c.Known, c.Tests)
	}
	link := c.Known
	if !strings.Contains(string(shipped), link) {
		t.Errorf("known link %q is not the shipped entry's", link)
	}
	if !strings.Contains(stderr, "probably fixed") || !strings.Contains(stderr, gone) {
		t.Errorf("stderr does not report the unmatched entry as probably fixed:\n%s", stderr)
	}
	if r.KnownIssues == nil || len(r.KnownIssues.Unmatched) != 1 || !strings.Contains(r.KnownIssues.Unmatched[0], gone) {
		t.Errorf("run.json known_issues: %+v", r.KnownIssues)
	}
	mustFile(t, filepath.Join(dir, "summary.md"), "Every failure of this run is a known issue")
	mustFile(t, filepath.Join(dir, "summary.md"), "**Probably fixed**")
	mustFile(t, filepath.Join(dir, "junit.xml"), `<skipped message="known issue `+link)
	if b, err := os.ReadFile(filepath.Join(dir, "junit.xml")); err != nil || strings.Contains(string(b), "<failure") {
		t.Errorf("junit.xml still has a failure (%v)", err)
	}
	var k struct {
		Issues    []struct{ ID, ReportURL string } `json:"issues"`
		Incidents []struct {
			IssueID string `json:"issue_id"`
			TestID  string `json:"test_id"`
		} `json:"incidents"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kcidb.json"))
	if err == nil {
		err = json.Unmarshal(b, &k)
	}
	if err != nil || len(k.Issues) != 1 || len(k.Incidents) == 0 || k.Incidents[0].IssueID != k.Issues[0].ID {
		t.Errorf("kcidb.json: issues %+v incidents %+v (%v)", k.Issues, k.Incidents, err)
	}
	seen := false
	for _, in := range k.Incidents {
		seen = seen || strings.HasSuffix(in.TestID, "/rig.robust-unmap-remap")
	}
	if !seen {
		t.Errorf("kcidb.json: no incident for rig.robust-unmap-remap: %+v", k.Incidents)
	}

	// A matrix plan's known_issues: key, relative to the plan, does the same.
	planDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(planDir, "known.yaml"), shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(planDir, "plan.yaml")
	if err := os.WriteFile(plan, []byte("arches: [x86_64]\naccels: [tcg]\ntests: [robust-unmap-remap]\nduration: 3s\nknown_issues: known.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, r, dir, stderr = rig(t, "matrix", plan, "--results", results)
	if code != 0 || r == nil || r.Status != result.Pass || len(r.Cells) != 1 || r.Cells[0].Known != link {
		t.Fatalf("rig matrix with known_issues: exit %d, run %+v\n%s", code, r, stderr)
	}
	mustFile(t, filepath.Join(dir, "summary.md"), "Every failure of this run is a known issue")
	mustFile(t, filepath.Join(dir, "report.html"), link)

	expired := strings.Replace(string(shipped), "expires: 2027-06-30", "expires: 2020-01-01", 1)
	if expired == string(shipped) {
		t.Fatal("patches/known-issues.yaml has no expires: 2027-06-30 line to move back")
	}
	if err := os.WriteFile(file, []byte(expired), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(results)
	code, r, _, stderr = rig(t, append(args, "--known", file)...)
	after, _ := os.ReadDir(results)
	if code != ExitUsage || r != nil || len(after) != len(before) {
		t.Fatalf("expired entry: exit %d (want %d), run %v, %d -> %d run directories\n%s", code, ExitUsage, r != nil, len(before), len(after), stderr)
	}
	for _, want := range []string{file + ":", "robust-unmap-remap", "expired on 2020-01-01"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("expired entry: stderr does not name %q:\n%s", want, stderr)
		}
	}
}
