package kconfig

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestResolveSpecialFile: a FIFO or device given as a config fragment is
// refused at once, naming it, instead of blocking or reading forever.
func TestResolveSpecialFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "x.config")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		err := timebox.Call(t, 2*time.Second, "Resolve "+p, func() error { _, err := Resolve(t.TempDir(), []string{p}); return err })
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Resolve(%s) = %v, want a not-a-regular-file error", p, err)
		}
	}
}
