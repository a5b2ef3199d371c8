package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// GetOrBuild makes sure the cache entry dir exists, built once whoever
// asks: if done(dir) says it is there, it returns at once (hit); else it
// takes dir's lock (calling wait once if another rig holds it), looks
// again, and otherwise runs build into a fresh temporary directory beside
// dir and renames that into place, so no reader ever sees a half-built
// entry. A failed or interrupted build leaves nothing behind.
func GetOrBuild(ctx context.Context, dir string, done func(dir string) bool, wait func(), build func(tmp string) error) (hit bool, err error) {
	if done(dir) {
		return true, nil
	}
	lock, err := Acquire(ctx, dir+".lock", wait)
	if err != nil {
		return false, err
	}
	defer lock.Release()
	if done(dir) { // built while we waited
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-*")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := build(tmp); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return false, err
	}
	// An entry that is there but not done (a leftover of an older rig)
	// is replaced.
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return false, fmt.Errorf("publishing %s: %w", dir, err)
	}
	return false, nil
}
