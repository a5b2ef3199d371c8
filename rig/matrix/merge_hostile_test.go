package matrix

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
	"github.com/rig-kernel/rig/rig/result"
)

// hostileShard writes a shard run directory with the given cells under
// parent/name and returns its path.
func hostileShard(t *testing.T, parent, name string, ids ...string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := &result.Run{ID: name, Status: result.Pass, Started: time.Now()}
	for _, id := range ids {
		r.Cells = append(r.Cells, result.Cell{ID: id, Arch: "x86_64", Status: result.Pass})
	}
	if err := result.Save(dir, r); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMergeCellIDEscapes: a shard whose cell ID leads out of the run
// directory is refused, and nothing is created beside the output.
func TestMergeCellIDEscapes(t *testing.T) {
	for _, id := range []string{"../.ssh", "..", "/tmp/x", "a/../../b"} {
		parent := t.TempDir()
		in := hostileShard(t, parent, "shard", "x86_64", id)
		if err := os.MkdirAll(filepath.Join(parent, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(parent, "out")
		if _, err := Merge(out, []string{in}, nil, nil); err == nil {
			t.Errorf("cell id %q: merge succeeded", id)
		} else if !strings.Contains(err.Error(), "run.json") {
			t.Errorf("cell id %q: error does not name run.json: %v", id, err)
		}
		ents, _ := os.ReadDir(filepath.Join(parent, ".ssh"))
		if len(ents) != 0 {
			t.Errorf("cell id %q: merge wrote %d files beside its output", id, len(ents))
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("cell id %q: output created for a refused shard", id)
		}
	}
}

// TestMergeCopiesOnlyCellFiles: of a cell directory holding a symlink to a
// file outside the shard, a FIFO and a symlink to a file inside the cell,
// merge copies the file inside (as a file) and nothing else, without
// blocking; a cell directory that is itself a symlink out of the shard is
// not followed.
func TestMergeCopiesOnlyCellFiles(t *testing.T) {
	parent := t.TempDir()
	secret := filepath.Join(parent, "secret")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := hostileShard(t, parent, "shard", "cell", "linked")
	cell := filepath.Join(in, "cell")
	if err := os.MkdirAll(filepath.Join(cell, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cell, "sub", "console.log"), []byte("Linux version\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"abs.log": secret, "rel.log": "../../secret", "console.log": "sub/console.log"} {
		if err := os.Symlink(target, filepath.Join(cell, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(cell, "fifo.log"), 0o600); err != nil {
		t.Fatal(err)
	}
	outsideCell := filepath.Join(parent, "elsewhere")
	if err := os.MkdirAll(outsideCell, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outsideCell, "console.log"), []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideCell, filepath.Join(in, "linked")); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(parent, "out")
	if err := timebox.Call(t, 5*time.Second, "merge", func() error { _, err := Merge(out, []string{in}, nil, nil); return err }); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		got = append(got, rel)
		if d.Type()&os.ModeSymlink != 0 || !d.Type().IsRegular() {
			t.Errorf("%s: not a regular file in the merged run (%v)", rel, d.Type())
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "SECRET") {
			t.Errorf("%s holds a file from outside the shard", rel)
		}
		return nil
	})
	want := map[string]bool{"cell/console.log": true, "cell/sub/console.log": true}
	for _, g := range got {
		delete(want, g)
	}
	if len(want) != 0 {
		t.Errorf("merged files %v; missing %v", got, want)
	}
}

// TestMergeOutputSpecialFile: an output path that is a FIFO or a file is
// refused at once, naming what it is.
func TestMergeOutputSpecialFile(t *testing.T) {
	parent := t.TempDir()
	in := hostileShard(t, parent, "shard", "x86_64")
	out := filepath.Join(parent, "out")
	if err := syscall.Mkfifo(out, 0o600); err != nil {
		t.Fatal(err)
	}
	err := timebox.Call(t, 2*time.Second, "merge into a FIFO", func() error { _, err := Merge(out, []string{in}, nil, nil); return err })
	if err == nil || !strings.Contains(err.Error(), "is a FIFO") {
		t.Errorf("merge into a FIFO: %v", err)
	}
}
