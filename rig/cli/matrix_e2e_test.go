package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EMatrixShardsMerge runs a real 2-cell matrix as two shards and
// merges them: every cell passes, shards are disjoint, the merged run has
// both cells and a single run's reports (summary.md, junit.xml,
// report.html, kcidb.json). Merged again with --known, an entry that
// matches nothing is reported as probably fixed.
func TestE2EMatrixShardsMerge(t *testing.T) {
	root, results := e2e(t)
	plan := filepath.Join(root, "rig/cli/testdata/matrix-small.yaml")
	code, r, _, stderr := rig(t, "matrix", plan, "--list")
	if code != 0 {
		t.Fatalf("--list: exit %d %s", code, stderr)
	}
	_ = r
	var dirs []string
	cells := 0
	for i, shard := range []string{"1/2", "2/2"} {
		out := filepath.Join(results, "shard", shard[:1])
		code, r, dir, stderr := rig(t, "matrix", plan, "--shard", shard, "--results", out, "-j", "2")
		if code != 0 || r == nil || r.Status != result.Pass {
			t.Fatalf("shard %d: exit %d, run %+v\n%s", i+1, code, r, stderr)
		}
		for _, c := range r.Cells {
			if c.Status != result.Pass || len(c.Tests) != 1 || c.Tests[0].Status != "pass" {
				t.Errorf("cell %s: %s (%s) %+v", c.ID, c.Status, c.Cause, c.Tests)
			}
			if _, err := os.Stat(filepath.Join(dir, c.ID, "console.log")); err != nil {
				t.Errorf("cell %s: %v", c.ID, err)
			}
		}
		cells += len(r.Cells)
		dirs = append(dirs, dir)
	}
	if cells != 2 {
		t.Fatalf("the two shards ran %d cells, want 2", cells)
	}
	merged := filepath.Join(results, "merged")
	args := append([]string{"report", "merge", merged}, dirs...)
	if code, _, _, stderr := rig(t, args...); code != 0 {
		t.Fatalf("merge: exit %d %s", code, stderr)
	}
	m, err := result.Load(merged)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Cells) != 2 || m.Status != result.Pass {
		t.Fatalf("merged: %d cells, status %s", len(m.Cells), m.Status)
	}
	for _, f := range []string{"summary.md", "junit.xml", "report.html", "kcidb.json"} {
		for _, c := range m.Cells {
			b, err := os.ReadFile(filepath.Join(merged, f))
			if err != nil || !strings.Contains(string(b), c.ID) {
				t.Errorf("merged %s does not name cell %s (%v)", f, c.ID, err)
			}
		}
	}
	var k struct{ Builds, Tests []struct{ ID string } }
	if b, err := os.ReadFile(filepath.Join(merged, "kcidb.json")); err != nil || json.Unmarshal(b, &k) != nil || len(k.Builds) != 2 || len(k.Tests) < 2*4 {
		t.Errorf("merged kcidb.json: %d builds, %d tests (%v), want 2 and rig, rig.boot, the test and rig.kernel-oops each", len(k.Builds), len(k.Tests), err)
	}

	kf := filepath.Join(t.TempDir(), "known.yaml")
	// Entry 1 names a test both cells ran and passed: probably fixed.
	// Entry 2 names cells the plan has not got: not judged, not "fixed".
	if err := os.WriteFile(kf, []byte("- test: robust-owner-death\n  link: https://example.org/1\n- test: robust-owner-death\n  cell: 'riscv64-*'\n  link: https://example.org/2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	merged2 := filepath.Join(results, "merged-known")
	code, _, _, stderr = rig(t, append([]string{"report", "merge", "--known", kf, merged2}, dirs...)...)
	if code != 0 || !strings.Contains(stderr, "probably fixed") || !strings.Contains(stderr, kf+":1") {
		t.Fatalf("merge --known: exit %d, stderr does not name %s:1 as probably fixed:\n%s", code, kf, stderr)
	}
	if strings.Contains(stderr, kf+":3") {
		t.Errorf("merge --known: an entry for cells the run has not got is called probably fixed:\n%s", stderr)
	}
	mustFile(t, filepath.Join(merged2, "summary.md"), "**Probably fixed**")
	mustFile(t, filepath.Join(merged2, "summary.md"), "Not judged")
	if m2, err := result.Load(merged2); err != nil || m2.Status != result.Pass || m2.KnownIssues == nil {
		t.Errorf("merged with --known: %v %+v", err, m2)
	}
}
