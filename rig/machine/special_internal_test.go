package machine

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestReadCacheFIFO: a FIFO as the cached KVM probe result reads as an
// empty cache (probe again) instead of hanging every run.
func TestReadCacheFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kvm-probe.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	var m map[string]cacheEntry
	timebox.Call(t, 2*time.Second, "readCache", func() error { m = readCache(p); return nil })
	if len(m) != 0 {
		t.Errorf("readCache of a FIFO = %v, want empty", m)
	}
}
