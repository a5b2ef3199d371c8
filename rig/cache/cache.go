// Package cache locates the rig's cache (~/.cache/rig, or $RIG_CACHE) and
// provides the two primitives every cached artifact needs: an exclusive lock
// (flock on a file, released by the kernel if the process dies, so a crashed
// run never leaves a stale lock) and atomic publication (write to a temporary
// name in the same directory, then rename), so a half-written entry is never
// picked up by another process.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Dir returns the rig's cache directory, creating it: $RIG_CACHE if set, else
// $XDG_CACHE_HOME/rig, else ~/.cache/rig.
func Dir() (string, error) {
	d := os.Getenv("RIG_CACHE")
	if d == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("cache directory: %w (set RIG_CACHE)", err)
		}
		d = filepath.Join(base, "rig")
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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	told := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told && wait != nil {
			wait()
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Release drops the lock.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}

// WriteFile writes data to path atomically (temp file + fsync + rename).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteWith(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith creates path atomically from what fill writes.
func WriteWith(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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
	f, err := os.Open(path)
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
