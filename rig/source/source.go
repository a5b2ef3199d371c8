// Package source turns the tree a run builds from (Debian's tarball, a
// git checkout, a plain tree) into a git commit the rig can check out
// without touching the original, and gives each build slot its own work
// tree (docs/design.md, "Which tree is tested").
package source

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/execx"
)

// DebianTarball is where Debian's linux-source-6.12 package puts the source.
const DebianTarball = "/usr/src/linux-source-6.12.tar.xz"

// DebianPackage is the package that provides the default tree.
const DebianPackage = "linux-source-6.12"

// Tree is a kernel source at one commit.
type Tree struct {
	GitDir  string // the repository holding the commit's objects
	Commit  string // the base commit
	Desc    string // human description: "Debian linux-source-6.12 6.12.117-1~deb12u1", a path
	Version string // kernel version from the top Makefile, e.g. "6.12.117"
	// Notice is a one-line warning for the user, e.g. uncommitted changes
	// in a git checkout that the run does not include.
	Notice string
	// CheckoutDir is the top of the user's git checkout the tree comes
	// from ("" for Debian's tree and imported plain trees), Head its HEAD.
	CheckoutDir, Head string
	// Dirty: Commit is a snapshot of the checkout's uncommitted changes
	// on Head (see Snapshot).
	Dirty bool
	// Pristine, if set, is the cache entry of a shared work tree of
	// Commit (Debian's tree: cache.PristineCheckouts). A slot's first
	// Checkout hard-links its files from there instead of writing the
	// whole tree once more (see linkTree).
	Pristine string
}

// Error is a tree that cannot be used; it names the path and what to do.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("kernel tree %s: %s", e.Path, e.Msg) }

// gitEnv makes the rig's commits the same whoever makes them and whenever.
var gitEnv = []string{"GIT_AUTHOR_NAME=rig", "GIT_AUTHOR_EMAIL=rig@localhost", "GIT_COMMITTER_NAME=rig",
	"GIT_COMMITTER_EMAIL=rig@localhost", "GIT_AUTHOR_DATE=2000-01-01T00:00:00Z",
	"GIT_COMMITTER_DATE=2000-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C"}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := execx.Output(ctx, execx.Cmd{Argv: append([]string{"git"}, args...), Dir: dir, Env: gitEnv})
	return strings.TrimSpace(string(out)), err
}

// Default prepares Debian's linux-source-6.12 in the cache (once) and
// returns it. progress, if not nil, gets one line per step.
func Default(ctx context.Context, cacheDir string, progress func(string)) (*Tree, error) {
	if _, err := os.Stat(DebianTarball); err != nil {
		return nil, &Error{Path: DebianTarball, Msg: fmt.Sprintf("not found: install the Debian package %s (run `rig setup`) or pass --kernel-src PATH", DebianPackage)}
	}
	pkgVer := debianVersion(ctx)
	// A bare repository: slots check the tree out, nothing else reads it.
	dir := cache.DebianSources.Path(cacheDir, sanitize(pkgVer))
	desc := "Debian " + DebianPackage + " " + pkgVer
	done := func(d string) bool { _, err := openPrepared(ctx, d, desc); return err == nil }
	wait := func() { say(progress, "waiting for "+desc+" to be imported (by this run's other arch or another rig)") }
	_, err := cache.GetOrBuild(ctx, dir, done, wait, func(tmp string) error {
		say(progress, "importing "+DebianTarball+" into the cache (once, about 20 s)")
		if err := importTarball(ctx, DebianTarball, tmp, "pristine", "pristine "+desc); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return &Error{Path: DebianTarball, Msg: fmt.Sprintf("cannot be imported: %v (reinstall it: apt-get install --reinstall %s)", err, DebianPackage)}
		}
		_, err := git(ctx, "", "--git-dir", tmp, "symbolic-ref", "HEAD", "refs/heads/pristine")
		return err
	})
	if err != nil {
		return nil, err
	}
	t, err := openPrepared(ctx, dir, desc)
	if err != nil {
		return nil, err
	}
	t.Pristine = cache.PristineCheckouts.Path(cacheDir, sanitize(pkgVer))
	return t, nil
}

// openPrepared opens the bare repository prepared by Default.
func openPrepared(ctx context.Context, gitDir, desc string) (*Tree, error) {
	commit, err := git(ctx, "", "--git-dir", gitDir, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return nil, err
	}
	t := &Tree{GitDir: gitDir, Commit: commit, Desc: desc}
	mk, _ := t.ReadFile(ctx, "Makefile")
	t.Version = parseMakefileVersion(mk)
	return t, nil
}

// ReadFile returns the content of path (relative to the tree's top) at the
// tree's commit.
func (t *Tree) ReadFile(ctx context.Context, path string) ([]byte, error) {
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{"git", "--git-dir", t.GitDir, "cat-file", "blob", t.Commit + ":" + path}, Env: gitEnv})
	if err != nil {
		return nil, fmt.Errorf("%s at %.12s: %w", path, t.Commit, err)
	}
	return out, nil
}

// commitAll commits every file of work tree into the repository gitDir
// (created if needed), ignoring .gitignore (Debian's ignores everything).
func commitAll(ctx context.Context, gitDir, work, msg string) error {
	if _, err := os.Stat(filepath.Join(gitDir, ".git")); err != nil {
		if _, err := git(ctx, gitDir, "init", "-q"); err != nil {
			return err
		}
	}
	if _, err := git(ctx, work, "--git-dir", filepath.Join(gitDir, ".git"), "--work-tree", work, "add", "-f", "-A", "."); err != nil {
		return fmt.Errorf("importing %s: %w", work, err)
	}
	if _, err := git(ctx, work, "--git-dir", filepath.Join(gitDir, ".git"), "--work-tree", work, "commit", "-q", "--allow-empty", "-m", msg); err != nil {
		return fmt.Errorf("importing %s: %w", work, err)
	}
	return nil
}

// Open returns the tree at path: a git checkout is used as its working tree
// is (a snapshot when it has uncommitted changes, see Snapshot) through its
// object store; any other kernel tree is imported into the cache.
func Open(ctx context.Context, path, cacheDir string) (*Tree, error) {
	return OpenWith(ctx, path, cacheDir, OpenOptions{})
}

// OpenWith is Open with the choice of commit oo makes.
func OpenWith(ctx context.Context, path, cacheDir string, oo OpenOptions) (*Tree, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := checkKernelTree(abs); err != nil {
		return nil, err
	}
	t := &Tree{Desc: abs, Version: makefileVersion(abs)}
	if top, err := git(ctx, abs, "rev-parse", "--show-toplevel"); err == nil && samePath(top, abs) {
		return gitCheckout(ctx, t, abs, oo)
	}
	// A plain tree: import it (the index makes a re-import of an unchanged
	// tree cost a stat of each file).
	repo := cache.ImportedSources.Path(cacheDir, cache.Key(abs))
	lock, err := cache.Acquire(ctx, repo+".lock", nil)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return nil, err
	}
	if err := commitAll(ctx, repo, abs, "import of "+abs); err != nil {
		return nil, &Error{Path: abs, Msg: err.Error()}
	}
	commit, err := git(ctx, repo, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return nil, err
	}
	t.GitDir, t.Commit = filepath.Join(repo, ".git"), commit
	return t, nil
}

func samePath(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// DefaultName is the --kernel-src value that names Debian's tree
// explicitly, for a run started inside another kernel tree.
const DefaultName = "debian"

// Enclosing returns the top of the kernel source tree that contains dir (dir
// itself or a parent), or "" when dir is in none. It only looks: whether the
// tree is usable is Check's business, so a tree with a problem is reported,
// never silently replaced by the default tree.
func Enclosing(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if looksLikeKernel(d) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func looksLikeKernel(d string) bool {
	for _, f := range []string{"Makefile", "Kconfig", "kernel", "arch", "include/linux"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			return false
		}
	}
	return true
}

// Check reports whether path is a usable kernel source tree, before any
// work starts (an *Error naming the path and what to do).
func Check(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := checkKernelTree(abs); err != nil {
		return err
	}
	// Found here, before a run directory exists, not when the tree is
	// opened in the run's source stage.
	ctx := context.Background()
	if GitTop(ctx, abs) != "" {
		if _, err := git(ctx, abs, "rev-parse", "--verify", "HEAD^{commit}"); err != nil {
			return &Error{Path: abs, Msg: "git checkout without a commit at HEAD: commit the tree first"}
		}
	}
	return nil
}

// checkKernelTree refuses a path that is not a kernel source tree.
func checkKernelTree(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return &Error{Path: dir, Msg: "does not exist (give --kernel-src a kernel source tree or git checkout)"}
	}
	if !st.IsDir() {
		return &Error{Path: dir, Msg: "is not a directory (give --kernel-src a kernel source tree or git checkout)"}
	}
	for _, f := range []string{"Makefile", "Kconfig", "kernel/futex", "arch/x86"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return &Error{Path: dir, Msg: fmt.Sprintf("is not a Linux kernel tree (no %s)", f)}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".config")); err == nil {
		return &Error{Path: dir, Msg: "has a .config from an in-tree build; the rig builds out of tree: run `make mrproper` there first"}
	}
	return nil
}

var mkVar = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION) = ?(.*)$`)

// makefileVersion reads VERSION.PATCHLEVEL.SUBLEVEL from the top Makefile.
func makefileVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return ""
	}
	return parseMakefileVersion(b)
}

// parseMakefileVersion reads the version from the top Makefile's text.
func parseMakefileVersion(b []byte) string {
	if len(b) > 4096 {
		b = b[:4096]
	}
	v := map[string]string{}
	for _, m := range mkVar.FindAllSubmatch(b, -1) {
		v[string(m[1])] = strings.TrimSpace(string(m[2]))
	}
	if v["VERSION"] == "" {
		return ""
	}
	return v["VERSION"] + "." + v["PATCHLEVEL"] + "." + v["SUBLEVEL"] + v["EXTRAVERSION"]
}

func debianVersion(ctx context.Context) string {
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{"dpkg-query", "-W", "-f=${Version}", DebianPackage}})
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func say(p func(string), s string) {
	if p != nil {
		p(s)
	}
}

// Worktree is a build slot's private checkout.
type Worktree struct {
	Dir string
}

// Checkout makes dir a work tree of t at t.Commit: created on first use
// (borrowing t's objects), reset on later uses. Only files that differ from
// the previous checkout are rewritten; untracked files (a previous series'
// new files) are removed.
func (t *Tree) Checkout(ctx context.Context, dir string) (*Worktree, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if t.Pristine != "" {
			// The checkout below then finds every file in place and
			// rewrites only what differs from the pristine tree.
			if err := t.linkPristine(ctx, dir); err != nil {
				return nil, err
			}
		} else {
			if err := initWorkTree(ctx, dir); err != nil {
				return nil, err
			}
		}
	}
	alt := filepath.Join(dir, ".git", "objects", "info", "alternates")
	if err := os.WriteFile(alt, []byte(filepath.Join(t.GitDir, "objects")+"\n"), 0o644); err != nil {
		return nil, err
	}
	// Remove a leftover lock of an interrupted git command (the slot is
	// ours: the caller holds the slot lock).
	_ = os.Remove(filepath.Join(dir, ".git", "index.lock"))
	if _, err := git(ctx, dir, "checkout", "-q", "-f", "--detach", t.Commit); err != nil {
		return nil, fmt.Errorf("checking out %.12s in %s: %w", t.Commit, dir, err)
	}
	if _, err := git(ctx, dir, "clean", "-q", "-f", "-d", "-x"); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", dir, err)
	}
	return &Worktree{Dir: dir}, nil
}

// TreeID returns the git tree hash of the work tree's index: the identity of
// the source content after a series was applied with `git apply --index`.
func (w *Worktree) TreeID(ctx context.Context) (string, error) {
	return git(ctx, w.Dir, "write-tree")
}

// Git runs git in the work tree (for callers such as rig/patch tests).
func (w *Worktree) Git(ctx context.Context, args ...string) (string, error) {
	return git(ctx, w.Dir, args...)
}
