package cache_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rig-kernel/rig/rig/cache"
)

func hasFile(name string) func(string) bool {
	return func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
}

// Eight callers at once: one builds, the others wait and find the entry.
func TestGetOrBuildOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images", "x86_64-key")
	var builds, hits atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hit, err := cache.GetOrBuild(context.Background(), dir, hasFile("image"), nil, func(tmp string) error {
				builds.Add(1)
				return os.WriteFile(filepath.Join(tmp, "image"), []byte("built"), 0o644)
			})
			if err != nil {
				t.Error(err)
			}
			if hit {
				hits.Add(1)
			}
		}()
	}
	wg.Wait()
	if builds.Load() != 1 || hits.Load() != 7 {
		t.Errorf("%d builds, %d hits; want 1 and 7", builds.Load(), hits.Load())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "image")); string(b) != "built" {
		t.Errorf("entry holds %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range ents {
		if e.Name() != "x86_64-key" && e.Name() != "x86_64-key.lock" {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

// A failed build publishes nothing and leaves no temporary; the next call
// builds again. A leftover entry that is not done is replaced.
func TestGetOrBuildFailureAndLeftover(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "e")
	boom := errors.New("boom")
	_, err := cache.GetOrBuild(context.Background(), dir, hasFile("ok"), nil, func(tmp string) error {
		os.WriteFile(filepath.Join(tmp, "partial"), nil, 0o644)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	if len(ents) != 1 || ents[0].Name() != "e.lock" {
		t.Errorf("after a failed build: %v", ents)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
	hit, err := cache.GetOrBuild(context.Background(), dir, hasFile("ok"), nil, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "ok"), nil, 0o644)
	})
	if err != nil || hit {
		t.Fatalf("hit %v err %v", hit, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); err == nil {
		t.Error("the leftover entry's file survived")
	}
}
