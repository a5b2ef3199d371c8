package matrix

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/result"
)

// Known issues in a matrix: the runner matches them when a shard finishes,
// and merge matches them again over every shard's cells, judging the merged
// status from the cells.
func TestMatrixKnown(t *testing.T) {
	const failing = "x86_64-tcg-lockdep-unpatched-r2"
	specs := specsOf(t, bigPlan)
	f := &fakeExec{decide: func(s Spec) (result.Status, bool) {
		if s.ID == failing {
			return result.Fail, false
		}
		return result.Pass, false
	}}
	list := func(glob string) *known.List {
		l, err := known.Parse("k.yaml", []byte("- test: robust-owner-death\n  cell: '"+glob+"'\n  link: https://x.org/1\n- title: never\n  link: https://x.org/2\n"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	dir, r := newRun(t)
	if err := (&Runner{Exec: f, Jobs: 2, Known: list("x86_64-*-lockdep-*")}).Run(context.Background(), specs, dir, r); err != nil {
		t.Fatal(err)
	}
	if r.Status != result.Pass || r.KnownIssues == nil || len(r.KnownIssues.Unmatched) != 1 {
		t.Fatalf("runner with the failure known: %s, %+v", r.Status, r.KnownIssues)
	}
	for _, c := range r.Cells {
		if (c.ID == failing) != (c.Known != "") {
			t.Errorf("cell %s (%s): known %q", c.ID, c.Status, c.Known)
		}
	}

	dirs := runShards(t, specs, 3, f) // without known issues: the failing shard fails
	for _, tc := range []struct {
		glob string
		want result.Status
	}{{"x86_64-*", result.Pass}, {"arm64-*", result.Fail}} {
		m, err := Merge(filepath.Join(t.TempDir(), "m"), dirs, nil, list(tc.glob))
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != tc.want || m.KnownIssues == nil {
			t.Errorf("merged with %s known: %s (%s), want %s", tc.glob, m.Status, m.Cause, tc.want)
		}
	}
	m, err := Merge(filepath.Join(t.TempDir(), "m"), dirs, nil, nil)
	if err != nil || m.Status != result.Fail {
		t.Errorf("merged without known issues: %v %s", err, m.Status)
	}

	// A shard that was interrupted stays so, known issues or not.
	idir, ir := newRun(t)
	ir.Status, ir.Cause = result.Interrupted, "interrupted (signal)"
	ir.Cells = []result.Cell{{ID: "x86_64-extra", Arch: "x86_64", Status: result.Pass}}
	if err := result.Save(idir, ir); err != nil {
		t.Fatal(err)
	}
	m, err = Merge(filepath.Join(t.TempDir(), "m"), append(dirs, idir), nil, list("x86_64-*"))
	if err != nil || m.Status != result.Interrupted || m.Cause != ir.Cause {
		t.Errorf("merged with an interrupted shard: %v %s (%s)", err, m.Status, m.Cause)
	}
}
