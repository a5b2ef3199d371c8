package cache_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
)

var (
	now     = time.Now()
	longAgo = now.Add(-30 * 24 * time.Hour)
	anHour  = now.Add(-time.Hour)
)

// fakeCache is a cache layout in a temporary directory, shaped as the rig
// writes it (see prune.go), with small files standing in for the big ones.
type fakeCache struct {
	t   *testing.T
	dir string
}

func newFakeCache(t *testing.T) fakeCache {
	c := fakeCache{t: t, dir: t.TempDir()}
	c.file("kernels/x86_64-0123456789abcdef01234567/bzImage", 5000, now)
	c.file("src/debian-1.0.git/objects/pack/p.pack", 7000, now)
	c.file("src/debian-1.0.git.lock", 0, now)
	return c
}

func (c fakeCache) path(rel string) string { return filepath.Join(c.dir, rel) }

// file writes size bytes at rel with the given mtime.
func (c fakeCache) file(rel string, size int, mtime time.Time) {
	c.t.Helper()
	p := c.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.chtimes(rel, mtime)
}

func (c fakeCache) chtimes(rel string, mtime time.Time) {
	c.t.Helper()
	if err := os.Chtimes(c.path(rel), mtime, mtime); err != nil {
		c.t.Fatal(err)
	}
}

// slot makes slots/<name> borrowing objects from the repository at objects
// (absolute, or relative to the cache), stamped as last used at used; a zero
// used leaves it without a stamp, for the mtime fallback.
func (c fakeCache) slot(name, objects string, used time.Time) {
	c.t.Helper()
	if !filepath.IsAbs(objects) {
		objects = c.path(objects)
	}
	d := "slots/" + name
	c.file(d+"/src/.git/objects/info/alternates", 0, longAgo)
	if err := os.WriteFile(c.path(d+"/src/.git/objects/info/alternates"), []byte(objects+"\n"), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.file(d+"/src/.git/index", 3000, longAgo)
	c.file(d+"/src/kernel/futex/core.c", 9000, longAgo)
	c.file(d+"/out/vmlinux", 20000, longAgo)
	c.file(d+"/out/.config", 100, longAgo)
	c.file("slots/"+name+".lock", 0, longAgo)
	if !used.IsZero() {
		c.file(d+"/"+cache.LastUsedFile, 0, used)
	}
	c.chtimes(d, longAgo)
}

// obsoleteSource makes src/<name>/ in the old layout: a repository with a
// work tree.
func (c fakeCache) obsoleteSource(name string) {
	c.file("src/"+name+"/.git/objects/pack/p.pack", 7000, longAgo)
	c.file("src/"+name+"/Makefile", 4000, longAgo)
	c.file("src/"+name+".lock", 0, longAgo)
}

// hold takes the lock at rel as a running rig would, until the test ends.
func (c fakeCache) hold(rel string) {
	c.t.Helper()
	l, err := cache.Acquire(context.Background(), c.path(rel), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(l.Release)
}

func (c fakeCache) exists(rel string) bool {
	_, err := os.Lstat(c.path(rel))
	return err == nil
}

// tree lists every path under the cache with its mode, size and mtime, to
// see that nothing changed.
func (c fakeCache) tree() string {
	c.t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.dir, p)
		fmt.Fprintf(&b, "%s %v %d %v\n", rel, info.Mode(), info.Size(), info.ModTime())
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return b.String()
}

const debianObjects = "src/debian-1.0.git/objects"

// standardCache is a layout with one slot of each kind Prune tells apart.
func standardCache(t *testing.T) fakeCache {
	c := newFakeCache(t)
	c.slot("x86_64-0000000000000001", debianObjects, longAgo)                     // old: goes
	c.slot("x86_64-0000000000000002", debianObjects, anHour)                      // recent: stays
	c.slot("arm64-0000000000000003", debianObjects, longAgo)                      // old but in use: stays
	c.slot("x86_64-0000000000000004", "src/debian-0.9/.git/objects", anHour)      // borrows from an obsolete tree: goes
	c.slot("x86_64-0000000000000005", "/nonexistent/linux/.git/objects", anHour)  // its repository is gone, recent: stays
	c.slot("x86_64-0000000000000008", "/nonexistent/linux/.git/objects", longAgo) // its repository is gone, old: goes
	c.slot("arm64-0000000000000006", debianObjects, time.Time{})                  // no stamp, everything old: goes
	c.slot("arm64-0000000000000007", debianObjects, time.Time{})                  // no stamp, built an hour ago: stays
	c.chtimes("slots/arm64-0000000000000007/out/.config", anHour)
	c.obsoleteSource("debian-0.9")
	c.file("slots/.trash-123/x86_64-0000000000000009/out/vmlinux", 20000, longAgo)
	c.hold("slots/arm64-0000000000000003.lock")
	c.file("kernels/.kernel-42/bzImage", 90000, longAgo) // left by a killed rig
	return c
}

var (
	wantRemoved = []string{
		"slots/.trash-123",
		"slots/arm64-0000000000000006",
		"slots/x86_64-0000000000000001",
		"slots/x86_64-0000000000000004",
		"slots/x86_64-0000000000000008",
		"src/debian-0.9",
	}
	wantKept = []string{
		"slots/x86_64-0000000000000002",
		"slots/arm64-0000000000000003",
		"slots/arm64-0000000000000007",
		"slots/x86_64-0000000000000005",
		"src/debian-1.0.git",
		"kernels/x86_64-0123456789abcdef01234567/bzImage",
	}
)

func names(rs []cache.Removal) []string {
	var n []string
	for _, r := range rs {
		n = append(n, r.Name)
	}
	sort.Strings(n)
	return n
}

func sumSizes(rs []cache.Removal) int64 {
	var n int64
	for _, r := range rs {
		if r.Size <= 0 {
			return -1
		}
		n += r.Size
	}
	return n
}

func checkReport(t *testing.T, r *cache.Report) {
	t.Helper()
	if got := names(r.Removed); strings.Join(got, " ") != strings.Join(wantRemoved, " ") {
		t.Errorf("removed %q, want %q", got, wantRemoved)
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Name != "slots/arm64-0000000000000003" || r.Skipped[0].Reason != "in use" {
		t.Errorf("skipped %+v, want only the locked old slot, in use", r.Skipped)
	}
	if s := sumSizes(r.Removed); s <= 0 || r.Freed != s {
		t.Errorf("freed %d, want the sum of the removed sizes, each positive (%d)", r.Freed, s)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
}

func TestPrune(t *testing.T) {
	c := standardCache(t)
	r, err := cache.Prune(context.Background(), c.dir, 14*24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, r)
	for _, rel := range wantRemoved {
		if c.exists(rel) {
			t.Errorf("%s still exists", rel)
		}
	}
	for _, rel := range wantKept {
		if !c.exists(rel) {
			t.Errorf("%s was removed", rel)
		}
	}
	for _, rel := range []string{"slots/x86_64-0000000000000001.lock", "slots/x86_64-0000000000000008.lock", "src/debian-0.9.lock"} {
		if c.exists(rel) {
			t.Errorf("lock file %s of a removed entry is left", rel)
		}
	}
	for _, rel := range []string{"slots/arm64-0000000000000003.lock", "slots/x86_64-0000000000000002.lock"} {
		if !c.exists(rel) {
			t.Errorf("lock file %s of a kept slot was removed", rel)
		}
	}
	for _, d := range []string{"slots", "src"} {
		ents, _ := os.ReadDir(c.path(d))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".trash-") {
				t.Errorf("trash left in %s: %s", d, e.Name())
			}
		}
	}
	// Removed lock files do not break the next user of the slot.
	l, err := cache.Acquire(context.Background(), c.path("slots/x86_64-0000000000000001.lock"), nil)
	if err != nil {
		t.Fatalf("lock of a pruned slot: %v", err)
	}
	l.Release()
}

// A dry run changes nothing and reports what the real prune then does.
func TestPruneDryRun(t *testing.T) {
	c := standardCache(t)
	// As left by an earlier prune: the one file a dry run may create.
	c.file("prune.lock", 0, longAgo)
	before := c.tree()
	dry, err := cache.Prune(context.Background(), c.dir, 14*24*time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun {
		t.Error("report of a dry run says it was not one")
	}
	checkReport(t, dry)
	if after := c.tree(); after != before {
		t.Errorf("dry run changed the cache:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	real, err := cache.Prune(context.Background(), c.dir, 14*24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if d, r := names(dry.Removed), names(real.Removed); strings.Join(d, " ") != strings.Join(r, " ") || dry.Freed != real.Freed {
		t.Errorf("dry run reported %q (%d bytes), the real prune removed %q (%d bytes)", d, dry.Freed, r, real.Freed)
	}
}

// An obsolete source tree stays while a slot in use borrows from it:
// removing it would break that slot under the rig using it.
func TestPruneKeepsSourceOfSlotInUse(t *testing.T) {
	c := newFakeCache(t)
	c.obsoleteSource("debian-0.9")
	c.slot("x86_64-0000000000000004", "src/debian-0.9/.git/objects", longAgo)
	c.hold("slots/x86_64-0000000000000004.lock")
	r, err := cache.Prune(context.Background(), c.dir, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Removed) != 0 {
		t.Errorf("removed %+v, want nothing", r.Removed)
	}
	if got := names(r.Skipped); strings.Join(got, " ") != "slots/x86_64-0000000000000004 src/debian-0.9" {
		t.Errorf("skipped %q, want the slot and its source", got)
	}
	if !c.exists("src/debian-0.9/Makefile") || !c.exists("slots/x86_64-0000000000000004/out/vmlinux") {
		t.Error("the slot in use or its source was removed")
	}
}

// An obsolete source tree whose own lock is held stays.
func TestPruneSkipsLockedSource(t *testing.T) {
	c := newFakeCache(t)
	c.obsoleteSource("debian-0.9")
	c.hold("src/debian-0.9.lock")
	r, err := cache.Prune(context.Background(), c.dir, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Name != "src/debian-0.9" || r.Skipped[0].Reason != "in use" || len(r.Removed) != 0 {
		t.Errorf("report %+v, want src/debian-0.9 skipped as in use", r)
	}
	if !c.exists("src/debian-0.9/Makefile") {
		t.Error("locked source removed")
	}
}

func TestPruneRefusesConcurrentPrune(t *testing.T) {
	c := newFakeCache(t)
	c.hold("prune.lock")
	if _, err := cache.Prune(context.Background(), c.dir, time.Hour, false); err == nil || !strings.Contains(err.Error(), "another rig cache prune") {
		t.Errorf("err = %v, want another prune running", err)
	}
}

func TestPruneStopsWhenCancelled(t *testing.T) {
	c := standardCache(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := cache.Prune(ctx, c.dir, time.Hour, false)
	if err == nil {
		t.Fatal("Prune with a cancelled context succeeded")
	}
	if !c.exists("slots/x86_64-0000000000000001") {
		t.Error("a cancelled prune removed a slot")
	}
}

func TestList(t *testing.T) {
	c := standardCache(t)
	l, err := cache.List(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	bySlot := map[string]cache.Slot{}
	var order []string
	for _, s := range l.Slots {
		bySlot[s.Name] = s
		order = append(order, s.Name)
		if s.Size < 20000+9000+3000 {
			t.Errorf("%s: size %d, less than its files", s.Name, s.Size)
		}
	}
	if len(l.Slots) != 8 {
		t.Fatalf("slots %q, want 8", order)
	}
	if s := bySlot["arm64-0000000000000003"]; s.Arch != "arm64" || !s.InUse || !s.LastUsed.Equal(longAgo) {
		t.Errorf("locked slot: %+v, want arm64, in use, last used %v", s, longAgo)
	}
	if s := bySlot["x86_64-0000000000000002"]; s.Arch != "x86_64" || s.InUse || !s.LastUsed.Equal(anHour) || s.Obsolete != "" {
		t.Errorf("recent slot: %+v", s)
	}
	if s := bySlot["arm64-0000000000000007"]; !s.LastUsed.Equal(anHour) {
		t.Errorf("slot without a stamp: last used %v, want its .config's mtime %v", s.LastUsed, anHour)
	}
	if s := bySlot["x86_64-0000000000000004"]; !strings.Contains(s.Obsolete, "src/debian-0.9") {
		t.Errorf("slot borrowing from the obsolete tree: Obsolete = %q", s.Obsolete)
	}
	if s := bySlot["x86_64-0000000000000005"]; s.Missing != "/nonexistent/linux/.git/objects" || s.Obsolete != "" {
		t.Errorf("slot whose repository is gone: Missing = %q, Obsolete = %q", s.Missing, s.Obsolete)
	}
	for i := 1; i < len(l.Slots); i++ {
		if l.Slots[i].LastUsed.After(l.Slots[i-1].LastUsed) {
			t.Errorf("slots not most recent first: %q", order)
			break
		}
	}
	entryNames := func(es []cache.Entry) string {
		var n []string
		for _, e := range es {
			if e.Size <= 0 {
				t.Errorf("%s: size %d", e.Name, e.Size)
			}
			n = append(n, e.Name)
		}
		return strings.Join(n, " ")
	}
	if got := entryNames(l.Obsolete); got != "src/debian-0.9" {
		t.Errorf("obsolete %q", got)
	}
	if got := entryNames(l.Trash); got != "slots/.trash-123" {
		t.Errorf("trash %q", got)
	}
	if got := entryNames(l.Other); got != "src/debian-1.0.git kernels kernels/.kernel-42" {
		t.Errorf("other %q, want the current source, the outputs and the leftover temporary, no lock files", got)
	}
	var kernels, leftover int64
	for _, e := range l.Other {
		switch e.Name {
		case "kernels":
			kernels = e.Size
		case "kernels/.kernel-42":
			leftover = e.Size
		}
	}
	if kernels < 5000 || kernels >= 90000 || leftover < 90000 {
		t.Errorf("kernels %d bytes, the leftover in it %d: want it counted once, on its own", kernels, leftover)
	}
}
