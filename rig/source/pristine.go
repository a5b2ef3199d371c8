package source

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
)

// A cold run used to check the whole tree out once per build slot (one per
// arch): each checkout inflates and writes every file of the tree. Instead
// the tree is checked out once, into a pristine work tree in the cache
// (Tree.Pristine), and each new slot's work tree is made of hard links to
// its files, with a copy of its .git (so the slot has its own index, HEAD
// and config). docs/speed.md, part 3, has the measurements.
//
// A file shared this way must never be written in place. What writes a
// slot's work tree: git checkout and git apply replace a file they change
// (unlink, then create; TestLinkedSlotsStayApart checks both), git clean
// removes files, and the kernel's make writes to its O= dir, never to the
// source tree; the futex selftests are compiled into the cache. The
// pristine tree itself is only ever read.
//
// Hard links change a file's ctime (its link count changes), so the index
// of a linked tree would see every file as possibly modified and git
// checkout -f would rewrite them all: slots made this way set
// core.trustctime=false. git still compares size, mtime, inode and mode.

// initWorkTree makes dir an empty git work tree.
func initWorkTree(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_, err := git(ctx, dir, "init", "-q")
	return err
}

// linkPristine makes dir (absent) a work tree whose files are hard links to
// the pristine tree's, checking the pristine tree out first if it is not
// in the cache yet.
func (t *Tree) linkPristine(ctx context.Context, dir string) error {
	done := func(d string) bool { _, err := os.Stat(filepath.Join(d, ".git", "index")); return err == nil }
	_, err := cache.GetOrBuild(ctx, t.Pristine, done, nil, func(tmp string) error {
		if err := initWorkTree(ctx, tmp); err != nil {
			return err
		}
		if _, err := git(ctx, tmp, "config", "core.trustctime", "false"); err != nil {
			return err
		}
		alt := filepath.Join(tmp, ".git", "objects", "info", "alternates")
		if err := os.WriteFile(alt, []byte(filepath.Join(t.GitDir, "objects")+"\n"), 0o644); err != nil {
			return err
		}
		// Parallel workers: this one checkout is now every slot's.
		if _, err := git(ctx, tmp, "-c", "checkout.workers=0", "checkout", "-q", "-f", "--detach", t.Commit); err != nil {
			return fmt.Errorf("checking out %.12s in %s: %w", t.Commit, tmp, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the pristine work tree %s: %w", t.Pristine, err)
	}
	// A file's times are shared by every link: a touch in any slot (rig
	// bench's rebuilds touch kernel/futex/core.c) leaves the pristine
	// index's stat data stale, and the new slot's checkout would then
	// rewrite that file instead of keeping the link. Refreshing the
	// index reads contents only where stat data differ; a rig refreshing
	// at the same time holds index.lock, and this one goes on without.
	_, _ = git(ctx, t.Pristine, "update-index", "-q", "--refresh")
	if err := linkTree(t.Pristine, dir); err != nil {
		_ = os.RemoveAll(dir) // a half-linked tree has no .git: redone next time
		return fmt.Errorf("linking %s from %s: %w", dir, t.Pristine, err)
	}
	return nil
}

// linkTree makes dst (absent) a copy of the work tree src: directories are
// made, symlinks recreated, files under .git copied and every other file
// hard-linked. .git is copied last, so a tree interrupted half way has no
// .git and is remade from scratch by the next Checkout.
func linkTree(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	walk := func(root, to string, file func(from, to string) error) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			if root == src && rel == ".git" {
				return filepath.SkipDir
			}
			out := filepath.Join(to, rel)
			switch {
			case d.IsDir():
				return os.Mkdir(out, 0o755)
			case d.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return os.Symlink(target, out)
			case d.Type().IsRegular():
				return file(p, out)
			}
			return fmt.Errorf("%s: not a file, directory or symlink", p)
		})
	}
	if err := walk(src, dst, os.Link); err != nil {
		return err
	}
	tmpGit := filepath.Join(dst, ".git.tmp")
	if err := walk(filepath.Join(src, ".git"), tmpGit, atomicfile.Copy); err != nil {
		return err
	}
	return os.Rename(tmpGit, filepath.Join(dst, ".git"))
}
