package cache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// example returns the path of an entry of kind k, named from the example
// values of its parts.
func example(dir string, k Kind) string {
	var parts []string
	for _, p := range kinds[k].parts {
		parts = append(parts, p.example)
	}
	return k.Path(dir, parts...)
}

// Every kind has a row, and the name Path makes is read back as that kind
// (not as an earlier row's, nor as unknown).
func TestKindsTable(t *testing.T) {
	for k := Kind(0); k < numKinds; k++ {
		r := kinds[k]
		if r.holds == "" || r.prefix+r.suffix == "" && len(r.parts) == 0 {
			t.Errorf("kind %d has no row in the table", k)
			continue
		}
		if r.judge != Kept && r.judge != Trash && !r.locked {
			t.Errorf("%s: Prune removes it, but rigs take no lock to use it", k)
		}
		p := example("/c", k)
		if got := kindOf(r.dir, filepath.Base(p), r.isDir); got != k || filepath.Dir(p) != filepath.Join("/c", r.dir) {
			t.Errorf("%s: %s is read back as %s", k, p, got)
		}
	}
}

// Path refuses a name List would not know as the kind's.
func TestPathRefusesForeignNames(t *testing.T) {
	for _, c := range []struct {
		k     Kind
		parts []string
	}{
		{Kernels, []string{"x86_64"}},                // a part missing
		{Kernels, []string{"x86_64", "not-a-key"}},   // not a key
		{Slots, []string{"X86", "0123456789abcdef"}}, // not an arch
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s.Path(%q) did not panic", c.k, c.parts)
				}
			}()
			c.k.Path("/c", c.parts...)
		}()
	}
}

// One entry of every kind, made where producers make it (Kind.Path): List
// lists each as its kind, and Prune removes exactly those whose judgement
// says they go. A kind added to the table that List or Prune does not
// handle fails here.
func TestListAndPruneKnowEveryKind(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-30 * 24 * time.Hour)
	for k := Kind(0); k < numKinds; k++ {
		p := example(dir, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if kinds[k].isDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			p = filepath.Join(p, "content")
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if kinds[k].locked {
			if err := os.WriteFile(example(dir, k)+".lock", nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(example(dir, k), old, old); err != nil {
			t.Fatal(err)
		}
	}
	l, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]Kind{}
	for _, e := range l.Entries {
		listed[e.Name] = e.Kind
	}
	for k := Kind(0); k < numKinds; k++ {
		rel, _ := filepath.Rel(dir, example(dir, k))
		if got, ok := listed[rel]; !ok || got != k {
			t.Errorf("%s: List has %s as %s (listed: %v)", k, rel, got, ok)
		}
	}
	if len(l.Entries) != int(numKinds) {
		t.Errorf("List found %d entries, want one per kind (%d): %+v", len(l.Entries), numKinds, l.Entries)
	}
	if len(l.Slots) != 1 || len(l.Obsolete) != 1 || len(l.Trash) != 2 {
		t.Errorf("slots %d, obsolete %d, trash %d; want 1, 1 and 2", len(l.Slots), len(l.Obsolete), len(l.Trash))
	}

	r, err := Prune(context.Background(), dir, 14*24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 0 || len(r.Skipped) != 0 {
		t.Errorf("errors %v, skipped %+v", r.Errors, r.Skipped)
	}
	for k := Kind(0); k < numKinds; k++ {
		_, err := os.Stat(example(dir, k))
		if gone, want := err != nil, k.Judgement() != Kept; gone != want {
			t.Errorf("%s (%v): removed %v, want %v", k, k.Judgement(), gone, want)
		}
	}
}
