// Package cache owns the rig's cache (~/.cache/rig, or $RIG_CACHE): its
// layout (the table of entry kinds, layout.go), entry locks (flock, released
// if the process dies), keys, building an entry once (GetOrBuild), and List
// and Prune (prune.go), which keep it from growing without bound.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// Dir returns the rig's cache directory, creating it: $RIG_CACHE if set, else
// $XDG_CACHE_HOME/rig, else ~/.cache/rig.
func Dir() (string, error) {
	d, err := Path()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	return d, nil
}

// Lock is an exclusive advisory lock on a file.
type Lock struct{ f *os.File }

// Acquire takes the lock at path, waiting until ctx is done. wait, if not
// nil, is called once when the lock is busy (to tell the user why nothing
// happens).
func Acquire(ctx context.Context, path string, wait func()) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	told := false
	for {
		l, err := tryLock(path)
		switch {
		case err == nil:
			return l, nil
		case errors.Is(err, errStale):
			continue // the file was replaced under us: lock the new one
		case !errors.Is(err, errBusy):
			return nil, err
		}
		if !told && wait != nil {
			wait()
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var (
	// errBusy: another process holds the lock.
	errBusy = errors.New("lock busy")
	// errStale: the lock was taken on a file that is no longer at its path.
	errStale = errors.New("lock file replaced")
)

// tryLock opens (creating) the lock file at path and takes its lock without
// waiting.
func tryLock(path string) (*Lock, error) {
	f, err := openLock(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	if err := lockOpened(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// openLock opens the lock file at path without blocking, and only if it is
// a regular file: a FIFO put there (by mistake or not) would block open or
// read forever. The error says what to do.
func openLock(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = &safefile.NotRegularError{Path: path, Mode: st.Mode()}
		}
		return nil, fmt.Errorf("lock %s: %w (remove it; the rig recreates it)", path, err)
	}
	return f, nil
}

// lockOpened flocks f, opened from path. Prune removes the lock file of
// what it deleted while holding the lock, so a process that opened the file
// before the removal gets the lock on an unlinked file, which excludes
// nobody who opens path afterwards: that lock is errStale, and the caller
// opens path again.
func lockOpened(f *os.File, path string) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		return errBusy
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	if err := stillAt(f, path); err != nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return err
	}
	return nil
}

// stillAt returns errStale if f is no longer the file at path.
func stillAt(f *os.File, path string) error {
	held, err := f.Stat()
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	cur, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errStale
	case err != nil:
		return fmt.Errorf("lock %s: %w", path, err)
	case !os.SameFile(held, cur):
		return errStale
	}
	return nil
}

// Release drops the lock.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}

// Key hashes its parts (each length-prefixed, so parts never run together)
// into a short hex cache key.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// HashFile returns the sha256 of a file's content.
func HashFile(path string) (string, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Path is the cache directory Dir would create, without creating it: for
// commands that only look (rig cache, rig setup --check).
func Path() (string, error) {
	if d := os.Getenv("RIG_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w (set RIG_CACHE)", err)
	}
	return filepath.Join(base, "rig"), nil
}
