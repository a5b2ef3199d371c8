package kconfig

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestResolveSpecialFile: a FIFO or device given as a config fragment is
// refused at once, naming it, instead of blocking or reading forever.
func TestResolveSpecialFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "x.config")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() { _, err := Resolve(t.TempDir(), []string{p}); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Resolve(%s) = %v, want a not-a-regular-file error", p, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Resolve(%s) blocked", p)
		}
	}
}
