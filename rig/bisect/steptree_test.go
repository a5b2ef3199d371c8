package bisect

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKernelRepo makes a git repository that passes the rig's kernel tree
// check, with two commits; it returns its top and the two commits.
func fakeKernelRepo(t *testing.T) (top, first, second string) {
	t.Helper()
	top = t.TempDir()
	for _, d := range []string{"kernel/futex", "arch/x86"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, c := range map[string]string{"Makefile": "VERSION = 6\n", "Kconfig": "", "kernel/futex/core.c": "int x;\n", "arch/x86/Kconfig": ""} {
		if err := os.WriteFile(filepath.Join(top, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, top, "init", "-q")
	git(t, top, "add", ".")
	git(t, top, "commit", "-q", "-m", "base")
	first = git(t, top, "rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(top, "kernel/futex/core.c"), []byte("int y;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, top, "commit", "-q", "-am", "futex: change y")
	second = git(t, top, "rev-parse", "HEAD")
	return top, first, second
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestResolveStepTreeUsesTheCheckoutItRunsIn(t *testing.T) {
	top, first, second := fakeKernelRepo(t)
	git(t, top, "bisect", "start", second, first)
	// git bisect has checked out a commit; the step runs in a subdirectory.
	head := git(t, top, "rev-parse", "HEAD")
	st, err := ResolveStepTree(context.Background(), filepath.Join(top, "kernel", "futex"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !samePath(st.Path, top) || st.Commit != head || !st.Bisecting {
		t.Fatalf("got %+v, want %s at %s, bisecting", st, top, head)
	}
	// --kernel-src naming the same checkout is accepted.
	if st, err = ResolveStepTree(context.Background(), top, "."); err != nil || st.Commit != head {
		t.Fatalf("--kernel-src .: %+v, %v", st, err)
	}
}

func TestResolveStepTreeRefusesOtherTrees(t *testing.T) {
	bisected, first, second := fakeKernelRepo(t)
	git(t, bisected, "bisect", "start", second, first)
	other, _, _ := fakeKernelRepo(t)
	plain := t.TempDir()
	for _, d := range []string{"kernel/futex", "arch/x86"} {
		os.MkdirAll(filepath.Join(plain, d), 0o755)
	}
	os.WriteFile(filepath.Join(plain, "Makefile"), nil, 0o644)
	os.WriteFile(filepath.Join(plain, "Kconfig"), nil, 0o644)
	notKernel := t.TempDir()
	git(t, notKernel, "init", "-q")

	for _, c := range []struct {
		name, cwd, src, want string
	}{
		{"no checkout, no flag", t.TempDir(), "", "not inside a git checkout"},
		{"a git checkout that is no kernel", notKernel, "", "not a kernel tree"},
		{"another checkout than the bisected one", bisected, other, "git is bisecting"},
		{"a plain tree", bisected, plain, "not the top of a git checkout"},
		{"a subdirectory of the checkout", bisected, filepath.Join(bisected, "kernel"), "not a Linux kernel tree"},
	} {
		_, err := ResolveStepTree(context.Background(), c.cwd, c.src)
		var wt *WrongTreeError
		if !errors.As(err, &wt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a WrongTreeError saying %q", c.name, err, c.want)
		}
	}
}

func TestResolveStepTreeByHandOutsideABisection(t *testing.T) {
	top, _, second := fakeKernelRepo(t)
	st, err := ResolveStepTree(context.Background(), t.TempDir(), top)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bisecting || st.Commit != second || st.Subject != "futex: change y" {
		t.Fatalf("got %+v", st)
	}
}
