package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
)

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// Two slots linked from one pristine tree: their files are the pristine
// tree's (hard links, nothing rewritten by the checkout), and what one
// slot's git apply and checkout change reaches neither the pristine tree
// nor the other slot.
func TestLinkedSlotsStayApart(t *testing.T) {
	needGit(t)
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed")
	}
	ctx := context.Background()
	tarball, _ := kernelLikeTarball(t)
	repo := filepath.Join(t.TempDir(), "src.git")
	if err := importTarball(ctx, tarball, repo, "pristine", "test"); err != nil {
		t.Fatal(err)
	}
	commit := strings.TrimSpace(runGit(t, "", "--git-dir", repo, "rev-parse", "refs/heads/pristine"))
	slots := t.TempDir()
	tr := &Tree{GitDir: repo, Commit: commit, Pristine: filepath.Join(slots, "pristine")}

	a, err := tr.Checkout(ctx, filepath.Join(slots, "a", "src"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Checkout(ctx, filepath.Join(slots, "b", "src"))
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, tr.Pristine, ".git")
	const core = "kernel/futex/core.c"
	for _, w := range []*Worktree{a, b} {
		if got := snapshot(t, w.Dir, ".git"); len(got) != len(want) {
			t.Fatalf("%s holds %d paths, the pristine tree %d", w.Dir, len(got), len(want))
		}
		for p, v := range want {
			if got := snapshot(t, w.Dir, ".git")[p]; got != v {
				t.Errorf("%s/%s = %q, pristine %q", w.Dir, p, got, v)
			}
		}
		if inode(t, filepath.Join(w.Dir, core)) != inode(t, filepath.Join(tr.Pristine, core)) {
			t.Errorf("%s/%s is not a hard link to the pristine tree's: the checkout rewrote it", w.Dir, core)
		}
		if out := runGit(t, w.Dir, "status", "--porcelain"); out != "" {
			t.Errorf("git status in %s: %q, want clean", w.Dir, out)
		}
		if id, err := w.TreeID(ctx); err != nil || id != strings.TrimSpace(runGit(t, "", "--git-dir", repo, "rev-parse", commit+"^{tree}")) {
			t.Errorf("TreeID of %s = %q, %v: not the commit's tree", w.Dir, id, err)
		}
	}

	// A series applied in a: git apply replaces the file.
	orig, _ := os.ReadFile(filepath.Join(tr.Pristine, core))
	patch := "--- a/" + core + "\n+++ b/" + core + "\n@@ -1,2 +1,3 @@\n " + strings.ReplaceAll(strings.TrimSuffix(string(orig), "\n"), "\n", "\n ") + "\n+int patched;\n"
	pf := filepath.Join(t.TempDir(), "p.diff")
	if err := os.WriteFile(pf, []byte(patch), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Git(ctx, "apply", "--index", pf); err != nil {
		t.Fatalf("git apply: %v %s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(a.Dir, core)); !strings.HasSuffix(string(got), "int patched;\n") {
		t.Fatalf("the patch did not apply in a: %q", got)
	}
	for _, d := range []string{tr.Pristine, b.Dir} {
		if got, _ := os.ReadFile(filepath.Join(d, core)); string(got) != string(orig) {
			t.Errorf("git apply in a changed %s/%s: %q", d, core, got)
		}
	}
	// And a's next checkout puts the base back, in a alone.
	if _, err := tr.Checkout(ctx, a.Dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(a.Dir, core)); string(got) != string(orig) {
		t.Errorf("re-checkout of a left %q", got)
	}
	if got := snapshot(t, tr.Pristine, ".git"); len(got) != len(want) {
		t.Errorf("the pristine tree changed: %d paths, was %d", len(got), len(want))
	}
	for p, v := range want {
		if got := snapshot(t, b.Dir, ".git")[p]; got != v {
			t.Errorf("b/%s = %q after a's apply and checkout, want %q", p, got, v)
		}
	}

	// A touch in b (rig bench touches kernel/futex/core.c) moves the
	// shared file's mtime under the pristine index: a new slot still
	// links it instead of writing a copy.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(b.Dir, core), later, later); err != nil {
		t.Fatal(err)
	}
	c, err := tr.Checkout(ctx, filepath.Join(slots, "c", "src"))
	if err != nil {
		t.Fatal(err)
	}
	if inode(t, filepath.Join(c.Dir, core)) != inode(t, filepath.Join(tr.Pristine, core)) {
		t.Errorf("after a touch in b, the new slot's %s is not the pristine tree's: its checkout rewrote it", core)
	}
	if out := runGit(t, c.Dir, "status", "--porcelain"); out != "" {
		t.Errorf("git status in %s: %q, want clean", c.Dir, out)
	}
}

// The real path: Debian's tree from the rig's cache and its pristine work
// tree, linked into two slots of the test's own; the README's example series applied in one slot with git
// apply leaves the pristine tree and the other slot as they were.
func TestLinkedDebianSlots(t *testing.T) {
	if testing.Short() {
		t.Skip("checks Debian's tree out (1.4 GiB)")
	}
	needGit(t)
	cacheDir, err := cache.Dir()
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tr, err := Default(ctx, cacheDir, func(s string) { t.Log(s) })
	if err != nil {
		t.Skipf("no default kernel tree: %v", err)
	}
	if !strings.HasPrefix(filepath.Base(tr.Pristine), "pristine-") {
		t.Errorf("Default's pristine tree is %q, want an entry of cache.PristineCheckouts", tr.Pristine)
	}
	// The cache's own pristine tree, as a run uses it: checked out once
	// per cache (the first run of this test, or the first new slot), then
	// only linked from. Should this test find it changed, it removes it,
	// so that the next run checks out a fresh one.
	t.Cleanup(func() {
		if t.Failed() {
			_ = os.RemoveAll(tr.Pristine)
		}
	})
	dir := t.TempDir()
	start := time.Now()
	a, err := tr.Checkout(ctx, filepath.Join(dir, "a", "src"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first slot (and the pristine checkout, if new): %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	b, err := tr.Checkout(ctx, filepath.Join(dir, "b", "src"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second slot: %v", time.Since(start).Round(time.Millisecond))
	const core = "kernel/futex/core.c"
	orig, err := os.ReadFile(filepath.Join(tr.Pristine, core))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []*Worktree{a, b} {
		if inode(t, filepath.Join(w.Dir, core)) != inode(t, filepath.Join(tr.Pristine, core)) ||
			inode(t, filepath.Join(w.Dir, "Makefile")) != inode(t, filepath.Join(tr.Pristine, "Makefile")) {
			t.Errorf("%s: files are not the pristine tree's", w.Dir)
		}
		if out, err := w.Git(ctx, "status", "--porcelain", "--untracked-files=all"); err != nil || out != "" {
			t.Errorf("git status in %s: %q, %v; want clean", w.Dir, out, err)
		}
	}
	for _, p := range []string{"0001-futex-note-why-handle_futex_death-must-not-store-to-.patch", "0002-futex-pr_debug-when-a-task-dies-holding-a-robust-fut.patch"} {
		abs, err := filepath.Abs(filepath.Join("..", "..", "patches", "example", p))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := a.Git(ctx, "apply", "--index", abs); err != nil {
			t.Fatalf("git apply %s: %v %s", p, err, out)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(a.Dir, core)); string(got) == string(orig) {
		t.Fatalf("the example series did not change %s in a", core)
	}
	for _, d := range []string{tr.Pristine, b.Dir} {
		if got, _ := os.ReadFile(filepath.Join(d, core)); string(got) != string(orig) {
			t.Errorf("the series applied in a changed %s/%s", d, core)
		}
	}
	if out, err := b.Git(ctx, "status", "--porcelain"); err != nil || out != "" {
		t.Errorf("git status in b after a's series: %q, %v", out, err)
	}
}
