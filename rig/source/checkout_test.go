package source

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/patch"
)

// rangeRepo is a checkout with main (base, then one commit) checked out and
// a branch topic of two commits on base.
func rangeRepo(t *testing.T) (dir string, commits map[string]string) {
	t.Helper()
	dir = fakeTree(t)
	rev := func(r string) string { return strings.TrimSpace(runGit(t, dir, "rev-parse", r)) }
	commit := func(file, text, msg string) string {
		writeFiles(t, dir, map[string]string{file: text})
		runGit(t, dir, "add", "-f", file)
		runGit(t, dir, "commit", "-q", "-m", msg)
		return rev("HEAD")
	}
	runGit(t, dir, "init", "-q", "-b", "main")
	runGit(t, dir, "add", "-f", "-A", ".")
	runGit(t, dir, "commit", "-q", "-m", "base")
	commits = map[string]string{"base": rev("HEAD")}
	runGit(t, dir, "checkout", "-q", "-b", "topic")
	commits["t1"] = commit("kernel/futex/core.c", "int futex_core = 1;\n", "futex: one")
	commits["t2"] = commit("kernel/futex/new.c", "int futex_new;\n", "futex: two")
	runGit(t, dir, "checkout", "-q", "main")
	commits["main"] = commit("Kconfig", "mainmenu \"main\"\n", "kconfig: main")
	return dir, commits
}

func TestResolveRange(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	dir, c := rangeRepo(t)
	for _, tc := range []struct{ spec, base, wantBase string }{
		{"base..topic", "", c["base"]},
		{c["base"][:12] + ".." + c["t2"], "", c["base"]},
		{"topic", "", c["base"]},      // merge base with HEAD (main)
		{"topic", "topic~1", c["t1"]}, // merge base with --base
	} {
		if tc.spec == "base..topic" {
			tc.spec = c["base"] + "..topic"
		}
		t.Run(tc.spec+" "+tc.base, func(t *testing.T) {
			if !IsRevision(ctx, dir, tc.spec) {
				t.Errorf("IsRevision(%s) = false", tc.spec)
			}
			r, err := ResolveRange(ctx, dir, tc.spec, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{c["t1"], c["t2"]}
			if tc.wantBase == c["t1"] {
				want = want[1:]
			}
			if r.Base != tc.wantBase || r.Tip != c["t2"] || !reflect.DeepEqual(r.Commits, want) {
				t.Errorf("range %+v, want base %s commits %v", r, tc.wantBase, want)
			}
			ps, st, err := patch.ParseMbox("range", r.Mbox)
			if err != nil || len(ps) != len(want) || st.Base != "" {
				t.Fatalf("mbox: %d patches, %+v, %v", len(ps), st, err)
			}
			if ps[len(ps)-1].Subject != "futex: two" {
				t.Errorf("last patch %q", ps[len(ps)-1].Subject)
			}
		})
	}
	for _, tc := range []struct{ spec, base, want string }{
		{"main..topic", "", "not an ancestor"},
		{c["base"] + "..topic", "main", "drop --base"},
		{"nosuch", "", "neither a file nor a commit"},
		{"nosuch..topic", "", "no commit of this checkout"},
		{"main", "", "no commits between"},
		{"topic", "nosuch", "--base nosuch"},
	} {
		if _, err := ResolveRange(ctx, dir, tc.spec, tc.base); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ResolveRange(%s, %q) = %v, want %q", tc.spec, tc.base, err, tc.want)
		}
	}
	if IsRevision(ctx, dir, "nosuch") || IsRevision(ctx, dir, "patches/example") {
		t.Errorf("IsRevision takes a name that is no commit")
	}
	// A merge in the range cannot be a patch.
	runGit(t, dir, "merge", "-q", "--no-edit", "topic")
	if _, err := ResolveRange(ctx, dir, c["base"]+"..main", ""); err == nil || !strings.Contains(err.Error(), "merge commit") {
		t.Errorf("range with a merge: %v", err)
	}
}

// A linked worktree: the objects are in the common git dir, HEAD is the
// worktree's own.
func TestOpenLinkedWorktree(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	dir, c := rangeRepo(t)
	wt := filepath.Join(t.TempDir(), "wt")
	runGit(t, dir, "worktree", "add", "-q", wt, "topic")
	tr, err := Open(ctx, wt, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !samePath(tr.GitDir, filepath.Join(dir, ".git")) || tr.Commit != c["t2"] {
		t.Errorf("tree %+v, want %s/.git at %s", tr, dir, c["t2"])
	}
	if head, err := tr.Resolve(ctx, "HEAD"); err != nil || head != c["t2"] {
		t.Errorf("HEAD = %s, %v; want the worktree's %s", head, err, c["t2"])
	}
	w, err := tr.Checkout(ctx, filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := w.TreeID(ctx); id != strings.TrimSpace(runGit(t, dir, "rev-parse", "topic^{tree}")) {
		t.Errorf("checked out tree %s is not topic's", id)
	}
}
