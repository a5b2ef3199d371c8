package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EMatrixShardsMerge runs a real 2-cell matrix as two shards and
// merges them: every cell passes, shards are disjoint, the merged run has
// both cells and its reports.
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
	for _, f := range []string{"summary.md", "junit.xml"} {
		b, err := os.ReadFile(filepath.Join(merged, f))
		if err != nil || !strings.Contains(string(b), m.Cells[1].ID) {
			t.Errorf("merged %s does not name cell %s (%v)", f, m.Cells[1].ID, err)
		}
	}
}
