package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// kernelLikeTarball packs a tree under a top directory, as Debian's
// linux-source tarball is, with what a real tree holds besides plain files:
// an executable script, a symlink, a hard link and awkward names.
func kernelLikeTarball(t *testing.T) (tarball, tree string) {
	t.Helper()
	top := t.TempDir()
	tree = filepath.Join(top, "linux-source-6.12")
	writeFiles(t, tree, fakeFiles)
	writeFiles(t, tree, map[string]string{
		"scripts/checkpatch.pl":          "#!/usr/bin/perl\n",
		"Documentation/a name \"q\".txt": "spaces and quotes\n",
		"Documentation/café\\x.rst":      "non-ASCII and a backslash\n",
		"kernel/futex/empty.c":           "",
	})
	if err := os.Chmod(filepath.Join(tree, "scripts/checkpatch.pl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../kernel/futex/core.c", filepath.Join(tree, "scripts/core-link.c")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(tree, "Kconfig"), filepath.Join(tree, "Kconfig.hardlink")); err != nil {
		t.Fatal(err)
	}
	tarball = filepath.Join(t.TempDir(), "linux-source-6.12.tar.xz")
	if out, err := exec.Command("tar", "-cJf", tarball, "-C", top, "linux-source-6.12").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return tarball, tree
}

func TestImportTarballMatchesGitAdd(t *testing.T) {
	needGit(t)
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed")
	}
	ctx := context.Background()
	tarball, tree := kernelLikeTarball(t)

	repo := filepath.Join(t.TempDir(), "debian.git")
	if err := importTarball(ctx, tarball, repo, "pristine", "pristine test"); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(runGit(t, "", "--git-dir", repo, "rev-parse", "refs/heads/pristine^{tree}"))

	// The same files through `git add`, independently of the code under test.
	ref := t.TempDir()
	runGit(t, ref, "init", "-q")
	runGit(t, ref, "--work-tree", tree, "add", "-f", "-A", ".")
	want := strings.TrimSpace(runGit(t, ref, "write-tree"))
	if got != want {
		t.Errorf("imported tree %s, git add gives %s\nimported:\n%s", got, want,
			runGit(t, "", "--git-dir", repo, "ls-tree", "-r", "refs/heads/pristine"))
	}

	// A slot checks it out byte for byte, modes and links included.
	runGit(t, "", "--git-dir", repo, "symbolic-ref", "HEAD", "refs/heads/pristine")
	tr, err := openPrepared(ctx, repo, "test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Version != "6.12.1" {
		t.Errorf("Version = %q, want 6.12.1 (from the Makefile in the repository)", tr.Version)
	}
	w, err := tr.Checkout(ctx, filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := snapshot(t, w.Dir, ".git"), snapshot(t, tree, ""); !reflect.DeepEqual(got, want) {
		t.Errorf("checkout differs from the tarball's tree:\n got %v\nwant %v", got, want)
	}
}

func TestImportTarballErrors(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	tarball, _ := kernelLikeTarball(t)
	b, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "truncated.tar.xz")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	err = importTarball(ctx, cut, filepath.Join(t.TempDir(), "r.git"), "pristine", "x")
	if err == nil || !strings.Contains(err.Error(), cut) {
		t.Errorf("truncated archive: err = %v, want an error naming %s", err, cut)
	}

	err = importTarball(ctx, filepath.Join(t.TempDir(), "linux.zip"), filepath.Join(t.TempDir(), "r.git"), "pristine", "x")
	if err == nil || !strings.Contains(err.Error(), "unknown archive type") {
		t.Errorf("zip: err = %v", err)
	}

	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := importTarball(ctx2, tarball, filepath.Join(t.TempDir(), "r.git"), "pristine", "x"); err == nil {
		t.Error("cancelled import succeeded")
	}
}

func TestQuotePath(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/futex/core.c": "kernel/futex/core.c",
		"a b":                 `"a b"`,
		`q"uote`:              `"q\"uote"`,
		`back\slash`:          `"back\\slash"`,
		"café":                `"caf\303\251"`,
		"tab\there":           `"tab\011here"`,
	} {
		if got := quotePath(in); got != want {
			t.Errorf("quotePath(%q) = %s, want %s", in, got, want)
		}
	}
}
