package history

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestReadFIFO: a FIFO given as --history FILE is refused at once instead
// of waiting for a writer.
func TestReadFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "history.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	err := timebox.Call(t, 2*time.Second, "history.Read", func() error { _, err := Read(p); return err })
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read of a FIFO = %v", err)
	}
}
