package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestLockFIFO: a FIFO where a cache lock belongs (the lock of a slot, of
// prune) makes Acquire, held and Prune fail at once with an error naming
// it and what to do, instead of blocking in open forever.
func TestLockFIFO(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "slot.lock")
	if err := syscall.Mkfifo(lock, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, pruneLock), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Acquire": func() error {
			l, err := Acquire(context.Background(), lock, nil)
			l.Release()
			return err
		},
		"held":  func() error { _, err := held(lock); return err },
		"Prune": func() error { _, err := Prune(context.Background(), dir, time.Hour, true); return err },
	}
	for name, f := range calls {
		err := timebox.Call(t, 2*time.Second, name, f)
		var nr *safefile.NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%s: %v, want a not-a-regular-file error saying to remove it", name, err)
		}
	}
}

// TestAlternatesFIFO: a FIFO as a slot's objects/info/alternates is an
// error, not a hang.
func TestAlternatesFIFO(t *testing.T) {
	slot := t.TempDir()
	info := filepath.Join(slot, "src", ".git", "objects", "info")
	if err := os.MkdirAll(info, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(info, "alternates"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := timebox.Call(t, 2*time.Second, "alternates", func() error { _, err := alternates(slot); return err }); err == nil {
		t.Error("alternates of a FIFO: no error")
	}
}
