package bisect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/source"
)

// StepTree is the tree one `rig bisect-step` judges: the HEAD of the git
// checkout that `git bisect run` left it in.
type StepTree struct {
	Path      string // top of the checkout
	Commit    string // HEAD
	Subject   string // HEAD's subject line
	Bisecting bool   // a bisection is in progress in that repository
}

// WrongTreeError is a step that would judge a tree other than the one git
// is bisecting: the step must abort the bisection, not answer for it.
type WrongTreeError struct{ Msg string }

func (e *WrongTreeError) Error() string { return e.Msg }

// ResolveStepTree decides which tree a bisect step tests. With no
// kernelSrc, it is the kernel git checkout that contains cwd (where `git
// bisect run` runs the step); there is no default tree to fall back to. With
// kernelSrc, it must be a git checkout too and, when cwd is inside a
// repository that is being bisected, that same repository.
func ResolveStepTree(ctx context.Context, cwd, kernelSrc string) (*StepTree, error) {
	here, _ := gitTop(ctx, cwd)
	hereBisecting := here != "" && bisecting(ctx, here)
	if kernelSrc == "" {
		if here == "" {
			return nil, &WrongTreeError{fmt.Sprintf("%s is not inside a git checkout and no --kernel-src was given: run `git bisect run rig bisect-step ...` from the kernel checkout being bisected", cwd)}
		}
		if err := source.Check(here); err != nil {
			return nil, &WrongTreeError{fmt.Sprintf("the git checkout at %s is not a kernel tree the rig can build (%v): bisect-step judges the checkout it runs in", here, err)}
		}
		return describe(ctx, here, hereBisecting)
	}
	abs := kernelSrc
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	if err := source.Check(abs); err != nil {
		return nil, &WrongTreeError{fmt.Sprintf("--kernel-src: %v", err)}
	}
	top, err := gitTop(ctx, abs)
	if err != nil || !samePath(top, abs) {
		return nil, &WrongTreeError{fmt.Sprintf("--kernel-src %s is not the top of a git checkout: git bisect moves a checkout's HEAD, and a plain tree never changes between steps", abs)}
	}
	if hereBisecting && !samePath(here, top) {
		return nil, &WrongTreeError{fmt.Sprintf("git is bisecting %s, but --kernel-src is %s: the step would judge a tree git is not bisecting (drop --kernel-src, or run from inside %s)", here, top, top)}
	}
	return describe(ctx, top, bisecting(ctx, top))
}

func describe(ctx context.Context, top string, bisecting bool) (*StepTree, error) {
	out, err := gitOut(ctx, top, "log", "-1", "--format=%H%x00%s", "HEAD")
	if err != nil {
		return nil, &WrongTreeError{fmt.Sprintf("%s: no commit at HEAD (%v)", top, err)}
	}
	commit, subject, _ := strings.Cut(out, "\x00")
	return &StepTree{Path: top, Commit: commit, Subject: subject, Bisecting: bisecting}, nil
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := execx.Output(ctx, execx.Cmd{Argv: append([]string{"git"}, args...), Dir: dir, Env: []string{"LC_ALL=C"}})
	return strings.TrimSpace(string(out)), err
}

func gitTop(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		return "", errors.New("no directory")
	}
	return gitOut(ctx, dir, "rev-parse", "--show-toplevel")
}

// bisecting reports whether `git bisect start` is in effect in the
// repository of the checkout at top.
func bisecting(ctx context.Context, top string) bool {
	p, err := gitOut(ctx, top, "rev-parse", "--git-path", "BISECT_START")
	if err != nil {
		return false
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(top, p)
	}
	_, err = os.Stat(p)
	return err == nil
}

func samePath(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}
