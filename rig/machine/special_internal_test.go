package machine

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReadCacheFIFO: a FIFO as the cached KVM probe result reads as an
// empty cache (probe again) instead of hanging every run.
func TestReadCacheFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kvm-probe.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan map[string]cacheEntry, 1)
	go func() { done <- readCache(p) }()
	select {
	case m := <-done:
		if len(m) != 0 {
			t.Errorf("readCache of a FIFO = %v, want empty", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("readCache blocked on a FIFO")
	}
}
