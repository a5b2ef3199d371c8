package source

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

// runGit runs git for test set-up, independently of the code under test.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

var fakeFiles = map[string]string{
	"Makefile":            "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 1\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n",
	"Kconfig":             "mainmenu \"Linux Kernel Configuration\"\n",
	"kernel/futex/core.c": "// SPDX-License-Identifier: GPL-2.0-or-later\nint futex_core;\n",
	"arch/x86/Kconfig":    "config X86\n\tdef_bool y\n",
	".gitignore":          "*\n", // like Debian's: the import must ignore it
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fakeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, fakeFiles)
	return dir
}

// snapshot records every path under dir (except skip) with its mode and
// content.
func snapshot(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if skip != "" && rel == skip {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		m[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckKernelTree(t *testing.T) {
	good := fakeTree(t)
	if err := checkKernelTree(good); err != nil {
		t.Fatalf("fake tree: %v", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noFutex := t.TempDir()
	writeFiles(t, noFutex, map[string]string{"Makefile": "x", "Kconfig": "x", "arch/x86/Kconfig": "x"})
	withConfig := fakeTree(t)
	writeFiles(t, withConfig, map[string]string{".config": "CONFIG_X=y\n"})

	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "does not exist"},
		{"file", file, "is not a directory"},
		{"empty dir", t.TempDir(), "is not a Linux kernel tree (no Makefile)"},
		{"no kernel/futex", noFutex, "is not a Linux kernel tree (no kernel/futex)"},
		{"in-tree .config", withConfig, "make mrproper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkKernelTree(tc.path)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *source.Error", err)
			}
			if se.Path != tc.path || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want the path and %q", err, tc.want)
			}
		})
	}
}

func TestMakefileVersion(t *testing.T) {
	for _, tc := range []struct{ makefile, want string }{
		{fakeFiles["Makefile"], "6.12.1"},
		{"VERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\n", "7.2.0-rc3"},
		{"VERSION=6\n", ""}, // not the kernel's spelling
		{"# no version\n", ""},
		{"KERNELVERSION = 6\nVERSION = 5\nPATCHLEVEL = 4\nSUBLEVEL = 3\n", "5.4.3"},
	} {
		d := t.TempDir()
		writeFiles(t, d, map[string]string{"Makefile": tc.makefile})
		if got := makefileVersion(d); got != tc.want {
			t.Errorf("makefileVersion(%q) = %q, want %q", tc.makefile, got, tc.want)
		}
	}
	if got := makefileVersion(t.TempDir()); got != "" {
		t.Errorf("no Makefile: %q", got)
	}
}

func TestOpenPlainTree(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	tree := fakeTree(t)
	before := snapshot(t, tree, "")
	cacheDir := t.TempDir()

	tr, err := Open(ctx, tree, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Version != "6.12.1" || tr.Desc != tree || tr.Notice != "" {
		t.Errorf("tree = %+v", tr)
	}
	if !strings.HasPrefix(tr.GitDir, cacheDir+string(filepath.Separator)) || len(tr.Commit) != 40 {
		t.Errorf("GitDir %s (want under %s), commit %q", tr.GitDir, cacheDir, tr.Commit)
	}

	work := filepath.Join(t.TempDir(), "slot", "src")
	w, err := tr.Checkout(ctx, work)
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, work, ".git"); !reflect.DeepEqual(got, before) {
		t.Errorf("work tree differs from the tree:\n got %v\nwant %v", got, before)
	}

	// A series changed a file and added one: Checkout restores the tree.
	writeFiles(t, work, map[string]string{"kernel/futex/core.c": "changed\n", "kernel/futex/new.c": "new\n", "newdir/x.c": "x"})
	if _, err := tr.Checkout(ctx, work); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, work, ".git"); !reflect.DeepEqual(got, before) {
		t.Errorf("after re-checkout:\n got %v\nwant %v", got, before)
	}

	// Re-opening an unchanged tree gives the same commit content.
	tr2, err := Open(ctx, tree, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	tree1 := strings.TrimSpace(runGit(t, tree, "--git-dir", tr.GitDir, "rev-parse", tr.Commit+"^{tree}"))
	tree2 := strings.TrimSpace(runGit(t, tree, "--git-dir", tr2.GitDir, "rev-parse", tr2.Commit+"^{tree}"))
	if tree1 != tree2 {
		t.Errorf("re-import of an unchanged tree: tree %s then %s", tree1, tree2)
	}
	id, err := w.TreeID(ctx)
	if err != nil || id != tree1 {
		t.Errorf("TreeID = %q, %v; want the commit's tree %s", id, err, tree1)
	}

	if after := snapshot(t, tree, ""); !reflect.DeepEqual(after, before) {
		t.Errorf("the original tree changed:\n got %v\nwant %v", after, before)
	}

	// A change in the original tree shows up in a new import.
	writeFiles(t, tree, map[string]string{"kernel/futex/core.c": "edited by the user\n"})
	tr3, err := Open(ctx, tree, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr3.Checkout(ctx, work); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "kernel/futex/core.c")); string(b) != "edited by the user\n" {
		t.Errorf("re-import missed the edit: %q", b)
	}
}

func TestOpenRejectsNonKernel(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is not a Linux kernel tree") {
		t.Errorf("err = %v", err)
	}
}

func TestOpenGitCheckout(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	tree := fakeTree(t)
	writeFiles(t, tree, map[string]string{".gitignore": "*.o\n"}) // a kernel checkout's: build output only
	runGit(t, tree, "init", "-q")
	runGit(t, tree, "add", "-A", ".")
	runGit(t, tree, "commit", "-q", "-m", "base")
	head := strings.TrimSpace(runGit(t, tree, "rev-parse", "HEAD"))
	committed := snapshot(t, tree, ".git")

	tr, err := Open(ctx, tree, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Commit != head || tr.Head != head || tr.Dirty || tr.GitDir != filepath.Join(tree, ".git") || tr.Notice != "" || tr.CheckoutDir != tree {
		t.Errorf("clean checkout: %+v, want HEAD %s in %s/.git and no notice", tr, head, tree)
	}

	// An uncommitted change, an untracked source file and an ignored
	// object: the working tree is tested (the object is not part of it).
	writeFiles(t, tree, map[string]string{"kernel/futex/core.c": "uncommitted\n", "kernel/futex/new.c": "new\n", "kernel/futex/core.o": "obj"})
	status := runGit(t, tree, "status", "--porcelain")
	userFiles := snapshot(t, tree, ".git")
	refs := runGit(t, tree, "for-each-ref")
	index, err := os.ReadFile(filepath.Join(tree, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}

	tr, err = Open(ctx, tree, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Commit == head || tr.Head != head || !tr.Dirty || !strings.Contains(tr.Notice, "uncommitted") || !strings.Contains(tr.Notice, tree) {
		t.Errorf("dirty checkout: %+v", tr)
	}
	if again, err := Snapshot(ctx, tree); err != nil || again != tr.Commit {
		t.Errorf("a second snapshot of the same changes: %s, %v; want %s", again, err, tr.Commit)
	}
	work := filepath.Join(t.TempDir(), "src")
	w, err := tr.Checkout(ctx, work)
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(userFiles)
	delete(want, "kernel/futex/core.o")
	if got := snapshot(t, work, ".git"); !reflect.DeepEqual(got, want) {
		t.Errorf("work tree is not the user's working tree:\n got %v\nwant %v", got, want)
	}

	// --committed: HEAD, with a notice.
	trc, err := OpenWith(ctx, tree, t.TempDir(), OpenOptions{Committed: true})
	if err != nil {
		t.Fatal(err)
	}
	if trc.Commit != head || trc.Dirty || !strings.Contains(trc.Notice, "--committed") {
		t.Errorf("--committed: %+v", trc)
	}
	if _, err := trc.Checkout(ctx, work); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, work, ".git"); !reflect.DeepEqual(got, committed) {
		t.Errorf("work tree is not HEAD:\n got %v\nwant %v", got, committed)
	}
	writeFiles(t, work, map[string]string{"Kconfig": "changed"})
	if _, err := w.Git(ctx, "add", "Kconfig"); err != nil {
		t.Fatal(err)
	}
	if _, err := trc.Checkout(ctx, work); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, work, ".git"); !reflect.DeepEqual(got, committed) {
		t.Errorf("re-checkout after a staged change:\n got %v\nwant %v", got, committed)
	}

	if got := runGit(t, tree, "status", "--porcelain"); got != status {
		t.Errorf("git status of the user's tree changed:\n%s\nwas\n%s", got, status)
	}
	if got, _ := os.ReadFile(filepath.Join(tree, ".git", "index")); !bytes.Equal(got, index) {
		t.Errorf("the user's index changed")
	}
	if got := snapshot(t, tree, ".git"); !reflect.DeepEqual(got, userFiles) {
		t.Errorf("the user's files changed")
	}
	if got := runGit(t, tree, "for-each-ref"); got != refs {
		t.Errorf("the user's refs changed:\n%s\nwas\n%s", got, refs)
	}
	if h := strings.TrimSpace(runGit(t, tree, "rev-parse", "HEAD")); h != head {
		t.Errorf("the user's HEAD moved to %s", h)
	}
}

func TestOpenGitWithoutCommit(t *testing.T) {
	needGit(t)
	tree := fakeTree(t)
	runGit(t, tree, "init", "-q")
	_, err := Open(context.Background(), tree, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "without a commit") {
		t.Errorf("err = %v", err)
	}
}

// A kernel tree inside another repository (not its top level) is imported,
// not taken as that repository.
func TestOpenTreeInsideRepo(t *testing.T) {
	needGit(t)
	outer := t.TempDir()
	runGit(t, outer, "init", "-q")
	tree := filepath.Join(outer, "linux")
	writeFiles(t, tree, fakeFiles)
	cacheDir := t.TempDir()
	tr, err := Open(context.Background(), tree, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tr.GitDir, cacheDir) {
		t.Errorf("GitDir = %s, want an import under %s", tr.GitDir, cacheDir)
	}
}

func TestTreeIDFollowsIndex(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	tr, err := Open(ctx, fakeTree(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := tr.Checkout(ctx, filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	id1, err := w.TreeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A change in the work tree alone is not in the index.
	writeFiles(t, w.Dir, map[string]string{"kernel/futex/core.c": "patched\n"})
	if id, _ := w.TreeID(ctx); id != id1 {
		t.Errorf("TreeID changed without an index change: %s -> %s", id1, id)
	}
	if _, err := w.Git(ctx, "add", "-f", "kernel/futex/core.c"); err != nil {
		t.Fatal(err)
	}
	id2, err := w.TreeID(ctx)
	if err != nil || id2 == id1 || len(id2) != 40 {
		t.Errorf("TreeID after staging a change = %q, %v (was %s)", id2, err, id1)
	}
	// Back to the base content: the same identity as before.
	if _, err := tr.Checkout(ctx, w.Dir); err != nil {
		t.Fatal(err)
	}
	if id, _ := w.TreeID(ctx); id != id1 {
		t.Errorf("TreeID after re-checkout = %s, want %s", id, id1)
	}
}

// A git checkout with no commit is refused by Check, before a run
// directory exists, not when the source stage opens it.
func TestCheckCheckoutWithoutCommit(t *testing.T) {
	tree := fakeTree(t)
	if out, err := exec.Command("git", "init", "-q", tree).CombinedOutput(); err != nil {
		t.Skipf("git init: %v %s", err, out)
	}
	if err := Check(tree); err == nil || !strings.Contains(err.Error(), "git checkout without a commit at HEAD") {
		t.Errorf("Check = %v, want the missing commit named", err)
	}
}
