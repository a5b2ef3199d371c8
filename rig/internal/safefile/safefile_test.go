package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
)

func TestSpecialFilesRefusedWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", "/dev/null", dir} {
		err := timebox.Call(t, 2*time.Second, p, func() error { _, err := ReadFile(p, 1<<20); return err })
		var nr *NotRegularError
		if !errors.As(err, &nr) {
			t.Errorf("ReadFile(%s) = %v, want a NotRegularError", p, err)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not name %s: %v", p, err)
		}
		if !IsRefused(err) {
			t.Errorf("IsRefused(%v) = false", err)
		}
	}
	err := timebox.Call(t, 2*time.Second, "ReadIn(fifo)", func() error { _, err := ReadIn(dir, "fifo", 1<<20); return err })
	var nr *NotRegularError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("ReadIn(fifo) = %v, want a NotRegularError naming a FIFO", err)
	}
}

func TestSizeBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 1001), 0o600); err != nil {
		t.Fatal(err)
	}
	var tl *TooLargeError
	if _, err := ReadFile(p, 1000); !errors.As(err, &tl) {
		t.Errorf("ReadFile over the bound = %v, want a TooLargeError", err)
	}
	if b, err := ReadFile(p, 1001); err != nil || len(b) != 1001 {
		t.Errorf("ReadFile at the bound = %d bytes, %v", len(b), err)
	}
}

func TestReadInStaysInside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "cell"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cell", "ok"), []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"abs": secret, "rel": "../../" + filepath.Base(outside) + "/secret", "inside": "ok"} {
		if err := os.Symlink(target, filepath.Join(dir, "cell", name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"cell/abs", "cell/rel", "../" + filepath.Base(outside) + "/secret", "/etc/passwd"} {
		b, err := ReadIn(dir, name, 1<<20)
		var ee *EscapeError
		if !errors.As(err, &ee) || !IsRefused(err) {
			t.Errorf("ReadIn(%s) = %q, %v; want an EscapeError", name, b, err)
		}
	}
	for _, c := range [][2]string{{"cell", "abs"}, {"cell", "rel"}, {"..", filepath.Base(outside) + "/secret"}, {"cell", "../cell/abs"}} {
		if RegularUnder(dir, c[0], c[1]) {
			t.Errorf("RegularUnder(%s, %s) = true for a file outside the directory", c[0], c[1])
		}
	}
	if err := os.Symlink(filepath.Join(dir, "cell"), filepath.Join(dir, "cell2")); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenUnder(dir, "cell2", "ok"); err == nil {
		f.Close()
		t.Error("OpenUnder followed an absolute symlink as the subdirectory")
	}
	if !RegularUnder(dir, "cell", "inside") {
		t.Error("RegularUnder refused a symlink inside the cell")
	}
	if b, err := ReadIn(dir, "cell/inside", 1<<20); err != nil || string(b) != "ok" {
		t.Errorf("a symlink inside the directory: %q, %v", b, err)
	}
}

func TestCheckName(t *testing.T) {
	for _, n := range []string{"", ".", "..", "../x", "a/b", "/abs", "a\x00b", strings.Repeat("x", 256)} {
		if CheckName(n) == nil {
			t.Errorf("CheckName(%q) accepted", n)
		}
	}
	for _, n := range []string{"x86_64", "arm64-kasan-tcg", "..x", "a..b"} {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v", n, err)
		}
	}
}
