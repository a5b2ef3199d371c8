package cache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A lock taken on a lock file that Prune removed (and someone recreated) in
// the meantime excludes nobody: it must not count as taken.
func TestLockOnRemovedFileIsStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slot.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := lockOpened(f, path); !errors.Is(err, errStale) {
		t.Errorf("lock on a removed file: %v, want errStale", err)
	}
	other, err := tryLock(path) // a newcomer creates and locks a new file
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if err := lockOpened(f, path); !errors.Is(err, errStale) {
		t.Errorf("lock on a replaced file: %v, want errStale", err)
	}
	if _, err := tryLock(path); !errors.Is(err, errBusy) {
		t.Errorf("second lock on the new file: %v, want errBusy", err)
	}
}
