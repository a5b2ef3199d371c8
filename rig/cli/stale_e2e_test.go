package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// defaultTree returns Debian's tree as the rig prepared it.
func defaultTree(t *testing.T) *source.Tree {
	t.Helper()
	cacheDir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := source.Default(context.Background(), cacheDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// baseFile is a file of the default tree at its commit.
func baseFile(t *testing.T, tree *source.Tree, path string) string {
	t.Helper()
	b, err := tree.ReadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gitIn runs git in dir as "Rig Example" on a fixed date (so commits are
// the same on every run) and returns its trimmed output.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Rig Example", "GIT_AUTHOR_EMAIL=rig@example.org", "GIT_COMMITTER_NAME=Rig Example",
		"GIT_COMMITTER_EMAIL=rig@example.org", "GIT_AUTHOR_DATE=2026-12-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-12-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeSeries writes a one-patch series (git format-patch output) that
// changes files of the default tree: edits maps a path to its new content.
func writeSeries(t *testing.T, tree *source.Tree, dir, subject string, edits map[string]string) string {
	t.Helper()
	repo := t.TempDir()
	run := func(args ...string) string { t.Helper(); return gitIn(t, repo, args...) }
	run("init", "-q")
	for path := range edits {
		p := filepath.Join(repo, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(baseFile(t, tree, path)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("add", ".")
	run("commit", "-q", "-m", "base")
	for path, content := range edits {
		if err := os.WriteFile(filepath.Join(repo, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("commit", "-q", "-am", subject)
	out := filepath.Join(dir, strings.NewReplacer(" ", "-", ":", "").Replace(subject))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	run("format-patch", "-q", "-1", "-o", out)
	return out
}

// breakKillInUnlock is patches/break-kill-in-unlock's change, applied to
// core.c's text: a pending robust entry is always treated as owned.
func breakKillInUnlock(t *testing.T, core string) string {
	t.Helper()
	const from = "\tif (owner != task_pid_vnr(curr)) {\n\t\tif (pending_op && !pi && (!owner || !(uval & FUTEX_WAITERS))) {"
	if !strings.Contains(core, from) {
		t.Fatal("kernel/futex/core.c no longer has the handle_futex_death lines the break replaces")
	}
	return strings.Replace(core, from, "\tif (owner != task_pid_vnr(curr) && !pending_op) {\n\t\tif (pending_op && !pi && (!owner || !(uval & FUTEX_WAITERS))) {", 1)
}

// cellOf is the run's one cell that tested the series.
func cellOf(t *testing.T, r *result.Run) result.Cell {
	t.Helper()
	if r == nil || len(patchedCells(r)) != 1 {
		t.Fatalf("want one patched cell, got %+v", r)
	}
	return patchedCells(r)[0]
}

// TestE2EStaleObjectNeverBoots reproduces staleness on purpose, in the
// order the stale-kernel report took (a pi.c series, then a core.c series
// that breaks robust-kill-in-unlock, on one slot), and shows that no stale
// kernel is booted, cached or reported:
//  1. the pi.c series builds and passes;
//  2. the core.c series is built with a poisoned compiler (a ccache prefix
//     that compiles core.c's base text): make does recompile core.o, ccache
//     stores the wrong object under the patched text's key, and the object
//     check catches it, rebuilds it without the cache, and the kernel that
//     boots has the break: robust-kill-in-unlock fails;
//  3. a later series with the same core.c and no poison hits the poisoned
//     ccache entry: caught again.
//
// The core.c text carries a token unique to this test run, so the poisoned
// entry is never hit by anything else.
func TestE2EStaleObjectNeverBoots(t *testing.T) {
	_, results := e2e(t)
	tree := defaultTree(t)
	series := t.TempDir()
	token := fmt.Sprintf("%d", time.Now().UnixNano())
	args := func(s string) []string {
		return []string{"run", "--arch", "x86_64", "--tests", "robust-kill-in-unlock", "--results", results, "--series", s}
	}
	pi := baseFile(t, tree, "kernel/futex/pi.c")
	core := breakKillInUnlock(t, baseFile(t, tree, "kernel/futex/core.c")) + "/* rig stale-object test " + token + " */\n"

	// 1. pi.c only.
	s1 := writeSeries(t, tree, series, "futex: pi comment "+token, map[string]string{"kernel/futex/pi.c": pi + "/* rig " + token + " */\n"})
	code, r, _, _ := rig(t, args(s1)...)
	if c := cellOf(t, r); code != ExitPass || c.ObjectCheck == nil || !slices.Contains(c.ObjectCheck.Checked, "kernel/futex/pi.c") {
		t.Fatalf("pi.c series: exit %d, object check %+v; want a pass with pi.c checked", code, c.ObjectCheck)
	}

	// 2. core.c, compiled from its base text by a poisoned compiler.
	old := t.TempDir()
	for _, f := range []string{"core.c", "futex.h"} {
		p := filepath.Join(old, "kernel/futex", f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(baseFile(t, tree, "kernel/futex/"+f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	poison := filepath.Join(t.TempDir(), "poison")
	script := "#!/bin/sh\n# a compiler that builds kernel/futex/core.c from its old text\nn=$#\nwhile [ $n -gt 0 ]; do a=$1; shift; n=$((n-1))\n  case \"$a\" in */kernel/futex/core.c) a=" + filepath.Join(old, "kernel/futex/core.c") + ";; esac\n  set -- \"$@\" \"$a\"\ndone\nexec \"$@\"\n"
	if err := os.WriteFile(poison, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s2 := writeSeries(t, tree, series, "futex: break kill-in-unlock "+token, map[string]string{"kernel/futex/core.c": core})
	t.Setenv("CCACHE_PREFIX", poison)
	code, r, _, stderr := rig(t, args(s2)...)
	os.Unsetenv("CCACHE_PREFIX")
	c := cellOf(t, r)
	if c.ObjectCheck == nil || !slices.Contains(c.ObjectCheck.Repaired, "kernel/futex/core.c") {
		t.Fatalf("poisoned build: the stale core.o was not caught: object check %+v", c.ObjectCheck)
	}
	if !strings.Contains(stderr, "did not match a fresh compile") {
		t.Errorf("no notice of the stale object on the terminal")
	}
	if code != ExitFail || !regexp.MustCompile(`robust-kill-in-unlock`).MatchString(c.Cause) {
		t.Fatalf("poisoned build: exit %d, cause %q: the kernel that booted lacks the series", code, c.Cause)
	}

	// 3. The same core.c with another pi.c (a new tree, so a new build):
	// ccache serves the poisoned entry, the check catches it again.
	s3 := writeSeries(t, tree, series, "futex: break kill-in-unlock again "+token, map[string]string{
		"kernel/futex/core.c": core, "kernel/futex/pi.c": pi + "/* rig again " + token + " */\n"})
	code, r, _, _ = rig(t, args(s3)...)
	c = cellOf(t, r)
	if c.ObjectCheck == nil || !slices.Contains(c.ObjectCheck.Repaired, "kernel/futex/core.c") {
		t.Fatalf("hit on the poisoned entry: not caught: object check %+v", c.ObjectCheck)
	}
	if code != ExitFail || !strings.Contains(c.Cause, "robust-kill-in-unlock") {
		t.Fatalf("hit on the poisoned entry: exit %d, cause %q", code, c.Cause)
	}
	// Every verdict names what it booted.
	if c.KernelSHA256 == "" || c.BuildID == "" || !strings.HasPrefix(c.BootedVersion, "#"+c.BuildID+" ") || c.TreeID == "" || c.ConfigSHA256 == "" {
		t.Errorf("identity not recorded: sha %q build %q booted %q tree %q config %q", c.KernelSHA256, c.BuildID, c.BootedVersion, c.TreeID, c.ConfigSHA256)
	}
}
