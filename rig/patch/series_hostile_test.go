package patch

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
)

const onePatch = "Subject: [PATCH] fix a thing\n\n---\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-a\n+b\n"

// readWithin runs ReadSeries, failing t if it blocks for 2 s.
func readWithin(t *testing.T, path string) ([]Patch, error) {
	t.Helper()
	var ps []Patch
	err := timebox.Call(t, 2*time.Second, "ReadSeries "+path, func() (err error) { ps, err = ReadSeries(path); return err })
	return ps, err
}

// TestSeriesSymlinkOutside: a patch of a series directory, or of a quilt
// series, that is a symlink to a file outside the series is refused with
// an error naming it, and the target's first line is not taken as a
// subject; a symlink to a patch inside the series is read.
func TestSeriesSymlinkOutside(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("TOKEN=s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, quilt := range []bool{false, true} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "0001-a.patch"), []byte(onePatch), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "0002-b.patch")); err != nil {
			t.Fatal(err)
		}
		if quilt {
			if err := os.WriteFile(filepath.Join(dir, "series"), []byte("0001-a.patch\n0002-b.patch\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		ps, err := readWithin(t, dir)
		if err == nil {
			t.Errorf("quilt %v: read %d patches; subjects %q", quilt, len(ps), subjects(ps))
			continue
		}
		if !strings.Contains(err.Error(), "0002-b.patch") || !strings.Contains(err.Error(), "outside the series") {
			t.Errorf("quilt %v: error %q does not name the patch and why", quilt, err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("quilt %v: the error quotes the target: %q", quilt, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "real"), []byte(onePatch), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "0001-a.patch")); err != nil {
		t.Fatal(err)
	}
	if ps, err := readWithin(t, dir); err != nil || len(ps) != 1 || ps[0].Subject != "fix a thing" {
		t.Errorf("a symlink inside the series: %q, %v", subjects(ps), err)
	}
}

func subjects(ps []Patch) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Subject)
	}
	return s
}

// TestSeriesSpecialFiles: a FIFO or device as the series, as a patch of a
// directory, or as a quilt series file is refused at once, naming it.
func TestSeriesSpecialFiles(t *testing.T) {
	fifoDir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "0001-a.patch"), 0o600); err != nil {
		t.Fatal(err)
	}
	quiltDir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(quiltDir, "series"), 0o600); err != nil {
		t.Fatal(err)
	}
	lone := filepath.Join(t.TempDir(), "x.patch")
	if err := syscall.Mkfifo(lone, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifoDir, quiltDir, lone, "/dev/zero"} {
		_, err := readWithin(t, p)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadSeries(%s) = %v, want a not-a-regular-file error", p, err)
		}
	}
}
