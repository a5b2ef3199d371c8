package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rig-kernel/rig/rig/internal/execx"
)

// OpenOptions say which commit of a git checkout Open uses.
type OpenOptions struct {
	// Committed tests HEAD alone: uncommitted changes are left out, with a
	// notice. Without it the working tree is tested as it is.
	Committed bool
}

// gitCheckout opens the git checkout at top: at HEAD with Committed or a
// clean tree, else at a snapshot of its working tree.
func gitCheckout(ctx context.Context, t *Tree, top string, oo OpenOptions) (*Tree, error) {
	// The objects live in the common directory (a linked worktree's own
	// git dir holds only its HEAD and index).
	gd, err := git(ctx, top, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return nil, &Error{Path: top, Msg: "git: " + err.Error()}
	}
	// A git checkout without commits has nothing to check out.
	head, err := git(ctx, top, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return nil, &Error{Path: top, Msg: "git checkout without a commit at HEAD: commit the tree first"}
	}
	t.GitDir, t.Commit, t.Head, t.CheckoutDir = gd, head, head, top
	snap, err := Snapshot(ctx, top)
	if err != nil {
		return nil, &Error{Path: top, Msg: "taking a snapshot of the working tree: " + err.Error()}
	}
	switch {
	case snap == "":
	case oo.Committed:
		t.Notice = fmt.Sprintf("%s has uncommitted changes; --committed tests HEAD (%.12s) without them", top, head)
	default:
		t.Commit, t.Dirty = snap, true
		t.Notice = fmt.Sprintf("%s has uncommitted changes: testing them (snapshot %.12s on HEAD %.12s, untracked files included; --committed tests HEAD alone)", top, snap, head)
	}
	return t, nil
}

// Snapshot returns a commit of the checkout's working tree on top of HEAD,
// untracked files included (ignored ones not), or "" when the working tree
// matches HEAD. Like `git stash create` it touches neither the refs nor
// the index: the files are added to a copy of the index (its stat data
// makes that one stat a file) and the commit is an object no ref names.
// git gc keeps such objects two weeks (gc.pruneExpire), far longer than a
// run. The commit's author and dates are fixed, so the same changes give
// the same commit.
func Snapshot(ctx context.Context, top string) (string, error) {
	index, err := git(ctx, top, "rev-parse", "--path-format=absolute", "--git-path", "index")
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "rig-snapshot-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	tmpIndex := filepath.Join(tmp, "index")
	if b, err := os.ReadFile(index); err == nil {
		if err := os.WriteFile(tmpIndex, b, 0o600); err != nil {
			return "", err
		}
		// git judges a racily clean entry by the index's mtime: keep it.
		if st, err := os.Stat(index); err == nil {
			_ = os.Chtimes(tmpIndex, st.ModTime(), st.ModTime())
		}
	}
	withIndex := func(args ...string) (string, error) {
		out, err := execx.Output(ctx, execx.Cmd{Argv: append([]string{"git"}, args...), Dir: top,
			Env: append(append([]string{}, gitEnv...), "GIT_INDEX_FILE="+tmpIndex)})
		return strings.TrimSpace(string(out)), err
	}
	if _, err := withIndex("add", "-A", "."); err != nil {
		return "", err
	}
	tree, err := withIndex("write-tree")
	if err != nil {
		return "", err
	}
	headTree, err := git(ctx, top, "rev-parse", "HEAD^{tree}")
	if err != nil {
		return "", err
	}
	if tree == headTree {
		return "", nil
	}
	return git(ctx, top, "commit-tree", tree, "-p", "HEAD", "-m", "rig: snapshot of the uncommitted changes in "+top)
}

// Resolve returns the commit rev names in the tree's repository, or an
// error when the repository does not have it.
func (t *Tree) Resolve(ctx context.Context, rev string) (string, error) {
	if t.CheckoutDir != "" {
		// In the checkout itself, so HEAD is a linked worktree's own.
		return git(ctx, t.CheckoutDir, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	}
	return git(ctx, "", "--git-dir", t.GitDir, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
}

// Range is a git revision range of a checkout taken as a series: the
// commits of Base..Tip, oldest first, as git format-patch writes them.
type Range struct {
	Spec    string   // as given: "A..B" or a branch
	Base    string   // the commit the series applies to
	Tip     string   // the range's last commit
	Commits []string // oldest first
	Mbox    []byte   // git format-patch --stdout of Commits
}

// String names the range for the report: "v6.12..topic (3 commits on 1a2b3c4d5e6f)".
func (r *Range) String() string {
	return fmt.Sprintf("%s (%d commits on %.12s)", r.Spec, len(r.Commits), r.Base)
}

// IsRevision reports whether spec names commits in the checkout at top
// (a range "A..B" or a commit-ish such as a branch) rather than a file.
func IsRevision(ctx context.Context, top, spec string) bool {
	if strings.Contains(spec, "..") && !strings.Contains(spec, "...") {
		return true
	}
	_, err := git(ctx, top, "rev-parse", "--verify", "--quiet", spec+"^{commit}")
	return err == nil
}

// ResolveRange turns spec into a series of the checkout at top: "A..B" is
// the commits from A (the base, an ancestor of B) to B; a branch is its
// commits since its merge base with base ("" = HEAD). Merge commits are
// refused: a series of patches cannot hold them.
func ResolveRange(ctx context.Context, top, spec, base string) (*Range, error) {
	fail := func(format string, a ...any) (*Range, error) {
		return nil, &Error{Path: top, Msg: "--series " + spec + ": " + fmt.Sprintf(format, a...)}
	}
	commit := func(rev string) (string, error) {
		return git(ctx, top, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	}
	r := &Range{Spec: spec}
	if a, b, ok := strings.Cut(spec, ".."); ok {
		if base != "" {
			return fail("a range names its base (A in A..B): drop --base %s", base)
		}
		if a == "" || b == "" {
			return fail("want A..B, both named")
		}
		var err error
		if r.Base, err = commit(a); err != nil {
			return fail("%s is no commit of this checkout", a)
		}
		if r.Tip, err = commit(b); err != nil {
			return fail("%s is no commit of this checkout", b)
		}
		if _, err := git(ctx, top, "merge-base", "--is-ancestor", r.Base, r.Tip); err != nil {
			return fail("%s is not an ancestor of %s, so the range's commits do not start from it (--series %s --base %s tests %s's commits since their merge base)", a, b, b, a, b)
		}
	} else {
		var err error
		if r.Tip, err = commit(spec); err != nil {
			return fail("neither a file nor a commit of this checkout")
		}
		against := "HEAD"
		if base != "" {
			against = base
		}
		to, err := commit(against)
		if err != nil {
			return fail("--base %s is no commit of this checkout", against)
		}
		if r.Base, err = git(ctx, top, "merge-base", r.Tip, to); err != nil {
			return fail("no merge base with %s", against)
		}
		r.Spec = fmt.Sprintf("%s (since its merge base with %s)", spec, against)
	}
	list, err := git(ctx, top, "rev-list", "--reverse", "--topo-order", r.Base+".."+r.Tip)
	if err != nil {
		return nil, err
	}
	if list == "" {
		return fail("no commits between %.12s and %.12s", r.Base, r.Tip)
	}
	r.Commits = strings.Fields(list)
	if merges, _ := git(ctx, top, "rev-list", "--merges", r.Base+".."+r.Tip); merges != "" {
		return fail("holds merge commit %.12s, which no patch series can: test a range without merges, or the tip itself (check it out and run without --series)", merges)
	}
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{"git", "format-patch", "--stdout", "--no-signature", "--full-index", "--binary",
		"--topo-order", r.Base + ".." + r.Tip}, Dir: top, Env: gitEnv})
	if err != nil {
		return nil, err
	}
	r.Mbox = out
	return r, nil
}

// GitTop returns path's absolute form when it is the top of a git
// checkout, else "" (a plain tree, or a tree inside another repository).
func GitTop(ctx context.Context, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if top, err := git(ctx, abs, "rev-parse", "--show-toplevel"); err == nil && samePath(top, abs) {
		return abs
	}
	return ""
}

// TreeHash returns the git tree hash of the tree's commit.
func (t *Tree) TreeHash(ctx context.Context) (string, error) {
	return git(ctx, "", "--git-dir", t.GitDir, "rev-parse", t.Commit+"^{tree}")
}

// SetCommit makes the tree another commit of its repository (a series'
// base): no longer a snapshot, with that commit's version.
func (t *Tree) SetCommit(ctx context.Context, commit string) {
	t.Commit, t.Dirty = commit, false
	if mk, err := t.ReadFile(ctx, "Makefile"); err == nil {
		if v := parseMakefileVersion(mk); v != "" {
			t.Version = v
		}
	}
}
