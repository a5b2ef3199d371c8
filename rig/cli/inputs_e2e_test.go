package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// inputsCheckout is a git checkout of the default tree (D) with main one
// commit on (M1, which also lets .gitignore see untracked files) and a branch topic of two commits on D (T1, T2), whose
// messages carry trailers. Commits have fixed dates, so the commits and
// trees are the same on every run: the kernel cache serves what an earlier
// run built. It lives at a fixed place in the cache so that its build slot
// is reused (incremental builds); a fixture already at the expected
// commits is reset and reused.
func inputsCheckout(t *testing.T, tree *source.Tree) (string, map[string]string) {
	t.Helper()
	cacheDir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	repo := cache.TestFixtures.Path(cacheDir, "inputs-git")
	git := func(args ...string) string { t.Helper(); return gitIn(t, repo, args...) }
	commit := func(file, line, msg string) string {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(repo, file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line + "\n")
		f.Close()
		git("commit", "-q", "-a", "-m", msg)
		return git("rev-parse", "HEAD")
	}
	const marker = "rig inputs fixture v2: main"
	if _, err := os.Stat(filepath.Join(repo, ".git")); err == nil {
		if msg := git("log", "-1", "--format=%s", "main"); msg == marker {
			git("checkout", "-q", "-f", "main")
			git("clean", "-q", "-f", "-d")
			return repo, map[string]string{"D": git("rev-parse", "main~1"), "M1": git("rev-parse", "main"),
				"T1": git("rev-parse", "topic~1"), "T2": git("rev-parse", "topic")}
		}
	}
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git("clone", "--shared", "-q", tree.GitDir, ".")
	git("checkout", "-q", "-B", "main", tree.Commit)
	c := map[string]string{"D": tree.Commit}
	git("checkout", "-q", "-b", "topic")
	trailers := "\n\nReviewed-by: Some Reviewer <reviewer@example.org>\nLink: https://lore.kernel.org/r/rig-inputs@example.org\nSigned-off-by: Rig Example <rig@example.org>"
	c["T1"] = commit("kernel/futex/core.c", "/* rig inputs e2e: topic 1 */", "futex: topic one"+trailers)
	c["T2"] = commit("kernel/futex/pi.c", "/* rig inputs e2e: topic 2 */", "futex: topic two"+trailers)
	git("checkout", "-q", "main")
	// Debian's .gitignore ends with "/*", which ignores every untracked
	// file; a kernel checkout's does not.
	ignore, err := os.ReadFile(filepath.Join(repo, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, ".gitignore"), []byte(strings.Replace(string(ignore), "\n/*\n", "\n", 1)), 0o644)
	c["M1"] = commit("kernel/futex/requeue.c", "/* rig inputs e2e: main */", marker)
	return repo, c
}

// TestE2EInputs runs every input form on one checkout, three kernel
// builds in all (HEAD with an uncommitted edit, HEAD, and D with the topic
// branch, which five of the runs share through the kernel cache):
//   - A..B, a branch, a branch with --base: the commits applied on their base;
//   - a b4-style mbox (cover letter, trailers, base-commit) applies on its
//     stated base, not on HEAD; with a base the tree lacks it is a
//     patch-error naming the base and what to fetch; with no base stated
//     it applies to the tree as it is and says so;
//   - inside the checkout with an uncommitted edit that breaks
//     robust-owner-death, the edit is tested (the test fails); --committed
//     tests HEAD (it passes).
func TestE2EInputs(t *testing.T) {
	_, results := e2e(t)
	tree := defaultTree(t)
	repo, c := inputsCheckout(t, tree)
	gitOut := func(args ...string) string { t.Helper(); return gitIn(t, repo, args...) }
	topicTree := gitOut("rev-parse", c["T2"]+"^{tree}")
	var last *result.Run // the last run's record
	run := func(t *testing.T, extra ...string) (int, result.Cell, string) {
		t.Helper()
		args := append([]string{"run", "--arch", "x86_64", "--tests", "robust-owner-death", "--duration", "2s", "--results", results}, extra...)
		code, r, _, stderr := rig(t, args...)
		last = r
		return code, cellOf(t, r), stderr
	}
	passOn := func(t *testing.T, code int, cell result.Cell, base string, patches int) {
		t.Helper()
		if code != ExitPass || cell.Status != result.Pass {
			t.Fatalf("exit %d, %s: %s", code, cell.Status, cell.Cause)
		}
		if cell.Base == nil || cell.Base.Commit != base || cell.Base.Dirty {
			t.Errorf("base %+v, want commit %s, clean", cell.Base, base)
		}
		if len(cell.Patches) != patches {
			t.Errorf("patches %+v, want %d", cell.Patches, patches)
		}
	}

	t.Run("range", func(t *testing.T) {
		code, cell, _ := run(t, "--kernel-src", repo, "--series", c["D"][:12]+"..topic")
		passOn(t, code, cell, c["D"], 2)
		if cell.TreeID != topicTree || !strings.Contains(cell.Base.Range, "..topic") || cell.Patches[0].Name != "commit "+c["T1"][:12] {
			t.Errorf("tree %s (want topic's %s), range %q, patches %+v", cell.TreeID, topicTree, cell.Base.Range, cell.Patches)
		}
	})
	t.Run("branch", func(t *testing.T) {
		t.Chdir(repo) // the tree you are in
		code, cell, _ := run(t, "--series", "topic")
		passOn(t, code, cell, c["D"], 2)
		if cell.TreeID != topicTree || !strings.Contains(cell.Base.Range, "merge base with HEAD") {
			t.Errorf("tree %s (want topic's %s), range %q", cell.TreeID, topicTree, cell.Base.Range)
		}
		// summary.md and report.html name the range and the commit tested.
		if !strings.Contains(last.Series, "merge base with HEAD") || !strings.Contains(last.KernelSource, "at "+c["D"][:12]) {
			t.Errorf("run series %q, kernel source %q", last.Series, last.KernelSource)
		}
	})
	t.Run("branch-base", func(t *testing.T) {
		code, cell, _ := run(t, "--kernel-src", repo, "--series", "topic", "--base", "topic~1")
		passOn(t, code, cell, c["T1"], 1)
		if cell.TreeID != topicTree {
			t.Errorf("tree %s, want topic's %s", cell.TreeID, topicTree)
		}
	})

	// A b4-style mbox of topic: cover letter, trailers, base-commit.
	mbox := filepath.Join(t.TempDir(), "topic.mbox")
	if err := os.WriteFile(mbox, []byte(gitOut("format-patch", "--stdout", "--cover-letter", "--base="+c["D"], c["D"]+"..topic")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(mbox)
	if !strings.Contains(string(text), "base-commit: "+c["D"]) || !strings.Contains(string(text), "Subject: [PATCH 0/2]") || !strings.Contains(string(text), "Reviewed-by:") {
		t.Fatalf("the mbox is not b4-like:\n%s", lastN(string(text), 30))
	}
	t.Run("mbox-base", func(t *testing.T) {
		code, cell, stderr := run(t, "--kernel-src", repo, "--series", mbox)
		passOn(t, code, cell, c["D"], 2) // on D, not on HEAD (M1)
		if cell.TreeID != topicTree || cell.Base.Stated != c["D"] || !strings.Contains(stderr, "the series applies to "+c["D"][:12]) {
			t.Errorf("tree %s (want %s), base %+v", cell.TreeID, topicTree, cell.Base)
		}
	})
	t.Run("mbox-missing-base", func(t *testing.T) {
		missing := "0123456789abcdef0123456789abcdef01234567"
		bad := filepath.Join(t.TempDir(), "missing.mbox")
		os.WriteFile(bad, []byte(strings.ReplaceAll(string(text), "base-commit: "+c["D"], "base-commit: "+missing)), 0o644)
		code, cell, _ := run(t, "--kernel-src", repo, "--series", bad)
		if code != ExitFail || cell.Status != result.PatchError || !strings.Contains(cell.Cause, missing) || !strings.Contains(cell.Cause, "fetch") {
			t.Fatalf("exit %d, %s: %q; want a patch-error naming %s and what to fetch", code, cell.Status, cell.Cause, missing)
		}
		if _, ok := stage(cell, "build"); ok {
			t.Errorf("built without its base")
		}
	})
	t.Run("mbox-no-base", func(t *testing.T) {
		none := filepath.Join(t.TempDir(), "none.mbox")
		os.WriteFile(none, []byte(strings.ReplaceAll(string(text), "base-commit: "+c["D"], "")), 0o644)
		code, cell, stderr := run(t, "--kernel-src", source.DefaultName, "--series", none)
		passOn(t, code, cell, tree.Commit, 2) // Debian's tree as it is (D)
		if !strings.HasPrefix(cell.Base.Why, "not stated") || !strings.Contains(stderr, "states no base-commit") {
			t.Errorf("why %q; stderr does not say the base was not stated", cell.Base.Why)
		}
	})

	// An uncommitted edit that breaks robust-owner-death and an untracked
	// file: the working tree is what the rig tests.
	core := filepath.Join(repo, "kernel/futex/core.c")
	orig, err := os.ReadFile(core)
	if err != nil {
		t.Fatal(err)
	}
	const from = "mval = (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED;"
	if !strings.Contains(string(orig), from) {
		t.Fatal("core.c no longer has the line the edit changes")
	}
	// A token unique to this run: the kernel is built, not served from
	// the kernel cache, so the object check is exercised.
	edit := strings.Replace(string(orig), from, "mval = (uval & FUTEX_WAITERS) | (pending_op ? FUTEX_OWNER_DIED : 0);", 1) + fmt.Sprintf("/* rig inputs e2e %d */\n", time.Now().UnixNano())
	os.WriteFile(core, []byte(edit), 0o644)
	os.WriteFile(filepath.Join(repo, "kernel/futex/rig-untracked.txt"), []byte("untracked\n"), 0o644)
	defer func() {
		gitOut("checkout", "-q", "-f", "main")
		os.Remove(filepath.Join(repo, "kernel/futex/rig-untracked.txt"))
	}()
	t.Run("dirty", func(t *testing.T) {
		t.Chdir(filepath.Join(repo, "kernel")) // below the top, as a developer is
		code, cell, stderr := run(t)
		if code != ExitFail || !strings.Contains(cell.Cause, "robust-owner-death") {
			t.Fatalf("exit %d, %s: %q: the uncommitted edit was not tested", code, cell.Status, cell.Cause)
		}
		b := cell.Base
		if b == nil || !b.Dirty || b.Head != c["M1"] || b.Commit == c["M1"] || b.Tree == gitOut("rev-parse", "HEAD^{tree}") || cell.TreeID != b.Tree {
			t.Errorf("base %+v, tree %s: want a dirty snapshot on HEAD %s", b, cell.TreeID, c["M1"])
		}
		if !strings.Contains(last.KernelSource, "uncommitted changes on HEAD "+c["M1"][:12]) {
			t.Errorf("kernel source %q does not say the uncommitted changes were tested", last.KernelSource)
		}
		if !strings.Contains(gitOut("ls-tree", "-r", "--name-only", b.Tree, "kernel/futex"), "rig-untracked.txt") {
			t.Errorf("the snapshot lacks the untracked file")
		}
		// The edit is what the object check compares with a fresh compile.
		if cell.ObjectCheck == nil || !slices.Contains(cell.ObjectCheck.Checked, "kernel/futex/core.c") {
			t.Errorf("the edited file's object was not checked: %+v", cell.ObjectCheck)
		}
		if !strings.Contains(stderr, "uncommitted changes: testing them") {
			t.Errorf("no notice that uncommitted changes are tested")
		}
		if st := gitOut("status", "--porcelain"); !strings.Contains(st, "M kernel/futex/core.c") || !strings.Contains(st, "?? kernel/futex/rig-untracked.txt") {
			t.Errorf("the user's status changed:\n%s", st)
		}
	})
	t.Run("committed", func(t *testing.T) {
		t.Chdir(repo)
		code, cell, stderr := run(t, "--committed")
		passOn(t, code, cell, c["M1"], 0)
		if !strings.Contains(stderr, "--committed tests HEAD") {
			t.Errorf("no notice that uncommitted changes are left out")
		}
	})
}
