package run

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/source"
)

// gitKernelTree is fakeKernelTree as a git checkout: main at base, and a
// branch topic one commit on.
func gitKernelTree(t *testing.T) (top, base, tip string) {
	t.Helper()
	top = fakeKernelTree(t)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = top
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, d := range []string{"kernel/futex", "arch/x86", "include/linux"} {
		os.WriteFile(filepath.Join(top, d, "Kconfig"), nil, 0o644) // git keeps no empty directory
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "base")
	base = git("rev-parse", "HEAD")
	git("checkout", "-q", "-b", "topic")
	os.WriteFile(filepath.Join(top, "kernel/futex/core.c"), []byte("int x;\n"), 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "futex: add core.c")
	tip = git("rev-parse", "HEAD")
	git("checkout", "-q", "main")
	return top, base, tip
}

func TestPrepareResolvesTheSeries(t *testing.T) {
	top, base, tip := gitKernelTree(t)
	// A branch of the checkout: its commits since the merge base.
	o, err := prepared(t, Options{KernelSrc: top, Series: "topic"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Input.Base != base || !strings.Contains(o.Input.Range, "topic") || len(o.Patches) != 1 || o.Patches[0].Name != "commit "+tip[:12] {
		t.Fatalf("input %+v, patches %d", o.Input, len(o.Patches))
	}
	// A b4 mbox states its base and prerequisites.
	b4, _ := filepath.Abs("../patch/testdata/b4.mbox")
	o, err = prepared(t, Options{KernelSrc: top, Series: b4})
	if err != nil {
		t.Fatal(err)
	}
	if in := o.Input; in.Base != in.Stated || in.Stated == "" || in.By != "base-commit: in b4.mbox#1" || len(in.Prerequisites) != 2 || len(o.Patches) != 3 {
		t.Fatalf("input %+v, patches %d", in, len(o.Patches))
	}
	// --base wins over the stated base, and says so.
	if o, err = prepared(t, Options{KernelSrc: top, Series: b4, Base: "main"}); err != nil || o.Input.Base != "main" || !strings.Contains(o.Input.By, "states base-commit") {
		t.Fatalf("--base main: %+v, %v", o.Input, err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{KernelSrc: top, Base: "main"}, "needs --series"},
		{Options{KernelSrc: top, Series: "nosuch"}, "neither a file nor a commit"},
		{Options{KernelSrc: source.DefaultName, Series: "main..topic"}, "needs the git checkout"},
		{Options{KernelSrc: top, Series: "topic..main"}, "not an ancestor"},
		{Options{KernelSrc: top, Series: "main"}, "no commits between"},
	} {
		_, err := prepared(t, tc.o)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want a usage error saying %q", tc.o, err, tc.want)
		}
	}
}

// A cell applies its series on the base; a base the tree lacks is a
// patch-error that names it and what to fetch.
func TestCellBase(t *testing.T) {
	top, base, tip := gitKernelTree(t)
	ctx := context.Background()
	open := func() *source.Tree {
		tr, err := source.OpenWith(ctx, top, t.TempDir(), source.OpenOptions{Committed: true})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	ps := []patch.Patch{{Name: "p"}}
	tr := open()
	c := &cell{spec: Spec{Patches: ps, Input: &Input{Base: tip, Stated: tip, By: "base-commit: in s.mbox#1"}}}
	b, err := c.base(ctx, tr)
	if err != nil || tr.Commit != tip || b.Commit != tip || b.Head != base || b.Tree == "" || !strings.Contains(tr.Notice, "the series applies to") ||
		tr.Desc != top+" at "+tip[:12]+" (base-commit: in s.mbox#1)" {
		t.Errorf("stated base: tree %+v, base %+v, %v", tr, b, err)
	}
	missing := strings.Repeat("ab", 20)
	c.spec.Input = &Input{Base: missing, Stated: missing, By: "base-commit: in s.mbox#1"}
	_, err = c.base(ctx, open())
	if pe, ok := errors.AsType[*patch.PatchError](err); !ok || pe.Patch != "s.mbox#1" || !strings.Contains(pe.Error(), missing) || !strings.Contains(pe.Error(), "fetch") {
		t.Errorf("missing base: %v", err)
	}
	c.spec.Input = &Input{}
	tr = open()
	if b, err := c.base(ctx, tr); err != nil || b.Commit != base || !strings.HasPrefix(b.Why, "not stated: tested on HEAD of "+top) || !strings.Contains(tr.Notice, "states no base-commit") {
		t.Errorf("no base: %+v, %v, notice %q", b, err, tr.Notice)
	}
}
