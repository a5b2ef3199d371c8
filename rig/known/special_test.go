package known

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestLoadFIFO: a FIFO as the known-issues file is refused at once
// (os.Open of a FIFO waits for a writer before any fstat can refuse it).
func TestLoadFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "known-issues.yaml")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	err := timebox.Call(t, 2*time.Second, "known.Load", func() error { _, err := Load(p, time.Now()); return err })
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load of a FIFO = %v", err)
	}
}
