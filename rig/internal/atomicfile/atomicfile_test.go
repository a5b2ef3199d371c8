package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "entry.bin")
	if err := atomicfile.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "hello" {
		t.Fatalf("content = %q, %v", b, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if n := dirNames(t, filepath.Dir(path)); len(n) != 1 || n[0] != "entry.bin" {
		t.Errorf("directory holds %q, want only entry.bin (no temporary files)", n)
	}
	// Overwrite.
	if err := atomicfile.WriteFile(path, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "second" {
		t.Errorf("after overwrite: %q", b)
	}
}

func TestWriteWithFillError(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("boom")
	fail := func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return boom
	}
	path := filepath.Join(dir, "new.bin")
	if err := atomicfile.WriteWith(path, 0o644, fail); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fill error", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("target exists after a failed fill: %v", err)
	}
	if n := dirNames(t, dir); len(n) != 0 {
		t.Errorf("leftover files after a failed fill: %q", n)
	}
	// A failed rewrite keeps the previous content.
	old := filepath.Join(dir, "old.bin")
	if err := atomicfile.WriteFile(old, []byte("good"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteWith(old, 0o644, fail); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fill error", err)
	}
	if b, _ := os.ReadFile(old); string(b) != "good" {
		t.Errorf("failed rewrite changed the file to %q", b)
	}
	if n := dirNames(t, dir); len(n) != 1 {
		t.Errorf("leftover files: %q", n)
	}
}

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "sub", "dst")
	if err := os.WriteFile(src, []byte("image"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Copy(src, dst); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dst)
	st, _ := os.Stat(dst)
	if string(b) != "image" || st.Mode().Perm() != 0o755 {
		t.Errorf("copy: %q mode %v", b, st.Mode().Perm())
	}
	if err := atomicfile.Copy(filepath.Join(dir, "nope"), dst); err == nil {
		t.Error("copy of a missing file: no error")
	}
}
