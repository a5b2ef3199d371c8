package run

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestCacheEntriesSpecialFiles: a FIFO in the cache where the record of
// the last kernel built or a kept base result belongs is an error naming
// it, not a hang of `rig boot` or of a run's baseline.
func TestCacheEntriesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	last := cache.LastBuilt.Path(dir, "x86_64")
	if err := os.MkdirAll(filepath.Dir(last), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(last, 0o600); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.json")
	if err := syscall.Mkfifo(base, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"Last":     func() error { _, _, err := Last(dir, "x86_64"); return err },
		"loadBase": func() error { _, err := loadBase(base); return err },
	} {
		if err := timebox.Call(t, 2*time.Second, name, f); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v, want a not-a-regular-file error", name, err)
		}
	}
}
