package matrix

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// runShards runs shards 1/n..n/n of specs with the fake, as CI jobs would,
// and returns their run directories.
func runShards(t *testing.T, specs []Spec, n int, f *fakeExec) []string {
	t.Helper()
	var dirs []string
	for i := 1; i <= n; i++ {
		dir, r := newRun(t)
		r.KernelSource = "debian:linux-source-6.12"
		if err := (&Runner{Exec: f, Jobs: 2}).Run(context.Background(), Select(specs, Shard{i, n}), dir, r); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func TestMerge(t *testing.T) {
	specs := specsOf(t, bigPlan)
	f := &fakeExec{decide: func(s Spec) (result.Status, bool) {
		if s.ID == "x86_64-tcg-lockdep-unpatched-r2" {
			return result.Fail, false
		}
		return result.Pass, false
	}}
	dirs := runShards(t, specs, 3, f)
	var starts []time.Time
	var latest time.Time
	for _, d := range dirs {
		r, err := result.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, r.Started)
		if r.Finished.After(latest) {
			latest = r.Finished
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })

	out := filepath.Join(t.TempDir(), "nightly")
	// The last shard first: the merged cells are sorted all the same.
	m, err := Merge(out, []string{dirs[2], dirs[0], dirs[1]}, []string{"rig", "report", "merge"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	on, err := result.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(on.Cells) != len(specs) || len(m.Cells) != len(specs) {
		t.Fatalf("merged %d cells, want %d", len(on.Cells), len(specs))
	}
	for i, c := range on.Cells {
		if c.ID != specs[i].ID {
			t.Errorf("cell %d is %s, want %s (sorted)", i, c.ID, specs[i].ID)
		}
		b, err := os.ReadFile(filepath.Join(out, c.ID, "console.log"))
		if err != nil || !strings.Contains(string(b), c.ID) {
			t.Errorf("cell directory %s not copied: %v", c.ID, err)
		}
	}
	if on.Status != result.Fail || !strings.Contains(on.Cause, "OWNER_DIED") {
		t.Errorf("merged status %s (%s), want the worst: fail", on.Status, on.Cause)
	}
	if !on.Started.Equal(starts[0]) || !on.Finished.Equal(latest) {
		t.Errorf("merged started %v finished %v, want %v and %v", on.Started, on.Finished, starts[0], latest)
	}
	if on.ID != "nightly" || on.KernelSource != "debian:linux-source-6.12" {
		t.Errorf("merged run %q from %q", on.ID, on.KernelSource)
	}
	for _, name := range []string{"summary.md", "junit.xml"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !strings.Contains(string(b), "x86_64-tcg-lockdep-unpatched-r2") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Merging into an existing, non-empty directory is refused.
	if _, err := Merge(out, dirs, nil, nil); err == nil {
		t.Error("merged into a non-empty directory")
	}
}

func TestMergeInterruptedWins(t *testing.T) {
	specs := specsOf(t, "arches: [x86_64, arm64]\n")
	dirs := runShards(t, specs, 2, &fakeExec{})
	r, err := result.Load(dirs[1])
	if err != nil {
		t.Fatal(err)
	}
	r.Status, r.Cause = result.Interrupted, "interrupted (terminated)"
	if err := result.Save(dirs[1], r); err != nil {
		t.Fatal(err)
	}
	m, err := Merge(filepath.Join(t.TempDir(), "m"), dirs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != result.Interrupted {
		t.Errorf("merged %s", m.Status)
	}
}

func TestMergeDuplicate(t *testing.T) {
	specs := specsOf(t, "arches: [x86_64, arm64]\n")
	dirs := runShards(t, specs, 2, &fakeExec{})
	out := filepath.Join(t.TempDir(), "m")
	_, err := Merge(out, []string{dirs[0], dirs[1], dirs[0]}, nil, nil)
	var de *DuplicateCellError
	if !errors.As(err, &de) || de.ID != "arm64-auto-base-unpatched-r1" || de.First != dirs[0] || de.Second != dirs[0] {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused merge wrote its output")
	}
}

func TestMergeMissingRunJSON(t *testing.T) {
	specs := specsOf(t, "arches: [x86_64, arm64]\n")
	dirs := runShards(t, specs, 2, &fakeExec{})
	empty := t.TempDir()
	out := filepath.Join(t.TempDir(), "m")
	_, err := Merge(out, []string{dirs[0], empty}, nil, nil)
	var me *MissingRunError
	if !errors.As(err, &me) || me.Dir != empty || !strings.Contains(err.Error(), "run.json") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused merge wrote its output")
	}
	if _, err := Merge(out, nil, nil, nil); err == nil {
		t.Error("merged nothing")
	}
}
