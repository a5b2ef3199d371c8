package patch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// newTree makes a git work tree like the rig's: testdata/base committed
// with "git add -f" under a .gitignore of "/*", as Debian's linux-source has.
func newTree(t *testing.T) string {
	t.Helper()
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	dir := filepath.Join(t.TempDir(), "linux")
	if err := os.CopyFS(dir, os.DirFS("testdata/base")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("/*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-f", "-A")
	git(t, dir, "-c", "user.name=rig", "-c", "user.email=rig@example.org", "commit", "-q", "-m", "base")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func readSeries(t *testing.T, path string) []Patch {
	t.Helper()
	ps, err := ReadSeries(path)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func fileText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(ps []Patch) (n, s []string, strip []int) {
	for _, p := range ps {
		n = append(n, p.Name)
		s = append(s, p.Subject)
		strip = append(strip, p.Strip)
	}
	return n, s, strip
}

var cleanSubjects = []string{
	"futex: change two lines in core.c",
	"futex: add robust.c",
	"futex: use FUTEX_ROBUST_UNLOCK in robust.c",
}

func TestReadSeries(t *testing.T) {
	for _, tc := range []struct {
		path     string
		names    []string
		subjects []string
		strip    []int
	}{
		{"testdata/clean", []string{
			"0001-futex-change-two-lines-in-core.c.patch",
			"0002-futex-add-robust.c.patch",
			"0003-futex-use-FUTEX_ROBUST_UNLOCK-in-robust.c.patch",
		}, cleanSubjects, []int{1, 1, 1}},
		{"testdata/clean/0002-futex-add-robust.c.patch", []string{"0002-futex-add-robust.c.patch"},
			cleanSubjects[1:2], []int{1}},
		// The cover letter (mail 1) holds no diff and is skipped.
		{"testdata/clean.mbox", []string{"clean.mbox#2", "clean.mbox#3", "clean.mbox#4"}, cleanSubjects, []int{1, 1, 1}},
		// Quilt patches here are plain git diffs: the subject is the first line.
		{"testdata/quilt", []string{"core-two-lines.diff", "add-robust.diff", "robust-unlock.diff"}, []string{
			"diff --git a/kernel/futex/core.c b/kernel/futex/core.c",
			"diff --git a/kernel/futex/robust.c b/kernel/futex/robust.c",
			"diff --git include/linux/futex.h include/linux/futex.h",
		}, []int{1, 1, 0}},
		{"testdata/quilt/series", []string{"core-two-lines.diff", "add-robust.diff", "robust-unlock.diff"}, nil, []int{1, 1, 0}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			n, s, strip := names(readSeries(t, tc.path))
			if !reflect.DeepEqual(n, tc.names) {
				t.Errorf("names = %q, want %q", n, tc.names)
			}
			if tc.subjects != nil && !reflect.DeepEqual(s, tc.subjects) {
				t.Errorf("subjects = %q, want %q", s, tc.subjects)
			}
			if !reflect.DeepEqual(strip, tc.strip) {
				t.Errorf("strip = %v, want %v", strip, tc.strip)
			}
		})
	}
}

func TestReadSeriesErrors(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		path string
		want string
	}{
		{empty, "empty series"},
		{"testdata/bad/empty-dir", "no *.patch files"},
		{"testdata/bad/empty-quilt", "empty series"},
		{"testdata/bad/no-patches.mbox", "no patches in mbox"},
		{"testdata/does-not-exist.patch", "no such file"},
		{"testdata/bad/missing-quilt/series", "missing patch absent.diff"},
		{"testdata/bad/missing-quilt", "missing patch absent.diff"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			ps, err := ReadSeries(tc.path)
			if err == nil {
				t.Fatalf("got %d patches, want an error", len(ps))
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name %s and say %q", err, tc.path, tc.want)
			}
		})
	}
}

func TestReadSeriesQuiltOptions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.diff", "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
	for _, tc := range []struct{ series, want string }{
		{"a.diff -R\n", "unsupported option"},
		{"a.diff -px\n", "bad option"},
		{"../a.diff\n", "outside the series directory"},
	} {
		write("series", tc.series)
		if _, err := ReadSeries(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("series %q: err = %v, want %q", tc.series, err, tc.want)
		}
	}
	write("series", "a.diff -p 0 # trailing comment\n")
	ps, err := ReadSeries(filepath.Join(dir, "series"))
	if err != nil || len(ps) != 1 || ps[0].Strip != 0 {
		t.Fatalf("ReadSeries = %+v, %v; want one patch with -p0", ps, err)
	}
}

func states(as []Applied) []State {
	var s []State
	for _, a := range as {
		s = append(s, a.State)
	}
	return s
}

// TestApplyClean applies the same three patches as a directory, an mbox
// and a quilt series (one -p0 patch): all must give the same tree. Patch 2
// creates robust.c and patch 3 changes it, which only works if the index
// follows the patches despite the ignore-everything .gitignore.
func TestApplyClean(t *testing.T) {
	var trees []string
	for _, path := range []string{"testdata/clean", "testdata/clean.mbox", "testdata/quilt/series"} {
		t.Run(path, func(t *testing.T) {
			dir := newTree(t)
			ps := readSeries(t, path)
			var seen []int
			as, err := Apply(context.Background(), dir, ps, func(i int, p Patch) {
				if p.Name != ps[i].Name {
					t.Errorf("progress(%d) got %s, want %s", i, p.Name, ps[i].Name)
				}
				seen = append(seen, i)
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := []State{StateApplied, StateApplied, StateApplied}; !reflect.DeepEqual(states(as), want) {
				t.Errorf("states = %v, want %v", states(as), want)
			}
			if !reflect.DeepEqual(seen, []int{0, 1, 2}) {
				t.Errorf("progress calls = %v", seen)
			}
			if got := fileText(t, filepath.Join(dir, "kernel/futex/robust.c")); !strings.Contains(got, "return 512;") {
				t.Errorf("robust.c = %q, want patch 3's change", got)
			}
			if got := git(t, dir, "diff", "--cached", "--name-status"); got != "M\tinclude/linux/futex.h\nM\tkernel/futex/core.c\nA\tkernel/futex/robust.c" {
				t.Errorf("index changes:\n%s", got)
			}
			if got := git(t, dir, "diff", "--name-only"); got != "" {
				t.Errorf("work tree differs from index: %s", got)
			}
			trees = append(trees, git(t, dir, "write-tree"))
		})
	}
	if len(trees) == 3 && (trees[0] != trees[1] || trees[0] != trees[2]) {
		t.Errorf("the three forms give different trees: %v", trees)
	}
}

func TestApplyConflict(t *testing.T) {
	dir := newTree(t)
	ps := []Patch{
		readSeries(t, "testdata/clean/0002-futex-add-robust.c.patch")[0],
		readSeries(t, "testdata/bad/0001-conflict.patch")[0],
		readSeries(t, "testdata/clean/0003-futex-use-FUTEX_ROBUST_UNLOCK-in-robust.c.patch")[0],
	}
	// What the tree looks like after the first patch alone.
	ref := newTree(t)
	if _, err := Apply(context.Background(), ref, ps[:1], nil); err != nil {
		t.Fatal(err)
	}
	wantTree := git(t, ref, "write-tree")

	var tried []int
	as, err := Apply(context.Background(), dir, ps, func(i int, p Patch) { tried = append(tried, i) })
	if want := []State{StateApplied, StateFailed, StateNotTried}; !reflect.DeepEqual(states(as), want) {
		t.Errorf("states = %v, want %v", states(as), want)
	}
	if !reflect.DeepEqual(tried, []int{0, 1}) {
		t.Errorf("progress calls = %v, want [0 1]", tried)
	}
	var pe *PatchError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *PatchError", err, err)
	}
	want := PatchError{
		Patch:      "0001-conflict.patch",
		Subject:    "futex: a change against another base",
		File:       "kernel/futex/core.c",
		Hunk:       2,
		HunkHeader: "@@ -117,7 +117,7 @@ static int futex_line_116 = 116;",
		Line:       117,
		Reason:     "patch does not apply",
	}
	got := *pe
	got.Output = ""
	if got != want {
		t.Errorf("PatchError = %+v\nwant %+v", got, want)
	}
	if !strings.Contains(pe.Output, "patch failed: kernel/futex/core.c:117") {
		t.Errorf("Output lacks git's message: %q", pe.Output)
	}
	if s := pe.Error(); s != "0001-conflict.patch: kernel/futex/core.c: hunk #2 (@@ -117,7 +117,7 @@) does not apply at line 117" {
		t.Errorf("Error() = %q", s)
	}
	// Hunk #1 would have applied: git apply is atomic, so it must not have.
	if got := git(t, dir, "write-tree"); got != wantTree {
		t.Errorf("index after the failure is %s, want %s (as after patch 1)", got, wantTree)
	}
	if got := git(t, dir, "diff", "--name-only"); got != "" {
		t.Errorf("work tree differs from index after the failure: %s", got)
	}
	if got := fileText(t, filepath.Join(dir, "kernel/futex/core.c")); !strings.Contains(got, "futex_line_10 = 10;") {
		t.Error("hunk #1 of the failed patch reached the work tree")
	}
}

func TestApplyAlreadyApplied(t *testing.T) {
	dir := newTree(t)
	ps := readSeries(t, "testdata/clean")
	if _, err := Apply(context.Background(), dir, ps[:1], nil); err != nil {
		t.Fatal(err)
	}
	as, err := Apply(context.Background(), dir, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []State{StateAlreadyApplied, StateApplied, StateApplied}; !reflect.DeepEqual(states(as), want) {
		t.Errorf("states = %v, want %v", states(as), want)
	}
}

// TestApplyAlreadyAppliedBlock covers a tree that already holds several
// patches of the series where a later one changed what an earlier one
// added: patch 2 alone no longer reverts (patch 3 changed robust.c), but
// patches 2 and 3 together do.
func TestApplyAlreadyAppliedBlock(t *testing.T) {
	ps := readSeries(t, "testdata/clean")
	t.Run("whole series twice", func(t *testing.T) {
		dir := newTree(t)
		if _, err := Apply(context.Background(), dir, ps, nil); err != nil {
			t.Fatal(err)
		}
		tree := git(t, dir, "write-tree")
		var seen []int
		as, err := Apply(context.Background(), dir, ps, func(i int, p Patch) { seen = append(seen, i) })
		if err != nil {
			t.Fatal(err)
		}
		if want := []State{StateAlreadyApplied, StateAlreadyApplied, StateAlreadyApplied}; !reflect.DeepEqual(states(as), want) {
			t.Errorf("states = %v, want %v", states(as), want)
		}
		if !reflect.DeepEqual(seen, []int{0, 1, 2}) {
			t.Errorf("progress calls = %v", seen)
		}
		if got := git(t, dir, "write-tree"); got != tree {
			t.Errorf("tree changed: %s, want %s", got, tree)
		}
		if got := git(t, dir, "diff", "--name-only"); got != "" {
			t.Errorf("work tree differs from index: %s", got)
		}
	})
	t.Run("block then new patch", func(t *testing.T) {
		dir := newTree(t)
		if _, err := Apply(context.Background(), dir, ps[1:], nil); err != nil {
			t.Fatal(err)
		}
		as, err := Apply(context.Background(), dir, []Patch{ps[1], ps[2], ps[0]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []State{StateAlreadyApplied, StateAlreadyApplied, StateApplied}; !reflect.DeepEqual(states(as), want) {
			t.Errorf("states = %v, want %v", states(as), want)
		}
	})
}

// TestApplyPathEscape feeds patches that try to write outside the tree.
// Apply must refuse each before git runs; git on its own refuses most of
// them too (escape-abs it would apply as etc/..., inside the tree).
func TestApplyPathEscape(t *testing.T) {
	for _, tc := range []struct {
		file     string
		name     string // the name Apply reports
		gitToo   bool   // git apply --check refuses it as well
		symlinks bool   // the tree has evil -> a directory outside
	}{
		{"escape-dotdot.patch", "../outside.txt", true, false},
		{"escape-abs.patch", "/etc/rig-owned.txt", false, false},
		{"escape-symlink.patch", "evil/owned.txt", true, true},
		{"escape-dotgit.patch", ".git/hooks/post-checkout", true, false},
		{"escape-creates-symlink.patch", "lnk/owned.txt", true, false},
		{"escape-rename.patch", "../Makefile", true, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := newTree(t)
			outside := t.TempDir()
			if tc.symlinks {
				if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
					t.Fatal(err)
				}
				git(t, dir, "add", "-f", "evil")
				git(t, dir, "-c", "user.name=rig", "-c", "user.email=rig@example.org", "commit", "-q", "-m", "symlink")
			}
			path := filepath.Join("testdata/bad", tc.file)
			ps := readSeries(t, path)

			cmd := exec.Command("git", "apply", "--check", "--index")
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader(string(ps[0].Data))
			out, gerr := cmd.CombinedOutput()
			if (gerr != nil) != tc.gitToo {
				t.Errorf("git apply --check alone: err=%v, want refused=%v\n%s", gerr, tc.gitToo, out)
			}

			as, err := Apply(context.Background(), dir, ps, nil)
			var pe *PatchError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PatchError", err)
			}
			if pe.Reason != "path escapes the tree" || pe.File != tc.name || !strings.HasPrefix(pe.Output, "rig: refused") {
				t.Errorf("PatchError = %+v, want our refusal of %s", *pe, tc.name)
			}
			if as[0].State != StateFailed {
				t.Errorf("state = %s", as[0].State)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("something was written outside: %v", ents)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "outside.txt")); err == nil {
				t.Error("../outside.txt was written")
			}
			if got := git(t, dir, "status", "--porcelain", "--ignored=no"); got != "" {
				t.Errorf("tree changed:\n%s", got)
			}
		})
	}
}

func TestApplyGitErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want PatchError
	}{
		{"corrupt.patch", PatchError{Patch: "corrupt.patch", Subject: "a hunk with a broken line",
			File: "Makefile", Hunk: 1, HunkHeader: "@@ -1,3 +1,3 @@",
			Reason: "malformed patch (corrupt at line 10 of the patch)"}},
		{"no-diff.patch", PatchError{Patch: "no-diff.patch", Subject: "no diff at all",
			Reason: "malformed patch: no diff in it"}},
		{"binary.patch", PatchError{Patch: "binary.patch", Subject: "binary file without full index",
			File: "firmware.bin", Reason: "binary patch without full index"}},
		// Patch 3 alone: robust.c does not exist yet.
		{"../clean/0003-futex-use-FUTEX_ROBUST_UNLOCK-in-robust.c.patch", PatchError{
			Patch: "0003-futex-use-FUTEX_ROBUST_UNLOCK-in-robust.c.patch", Subject: cleanSubjects[2],
			File: "kernel/futex/robust.c", Reason: "file does not exist in the tree"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := newTree(t)
			// As a file of a series directory (not strict): a lone file
			// without a diff is refused when read (TestReadSeriesRefuses).
			path := filepath.Join("testdata/bad", tc.file)
			ps, err := readFile("", path, filepath.Base(path), 1, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Apply(context.Background(), dir, ps, nil)
			var pe *PatchError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PatchError", err)
			}
			got := *pe
			if got.Output == "" {
				t.Error("no git output kept")
			}
			got.Output = ""
			if got != tc.want {
				t.Errorf("PatchError = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestApplyFileAlreadyExists(t *testing.T) {
	dir := newTree(t)
	// An untracked robust.c (ignored by "/*") that differs from the patch's.
	if err := os.WriteFile(filepath.Join(dir, "kernel/futex/robust.c"), []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(context.Background(), dir, readSeries(t, "testdata/clean/0002-futex-add-robust.c.patch"), nil)
	var pe *PatchError
	if !errors.As(err, &pe) || pe.File != "kernel/futex/robust.c" || pe.Reason != "file already exists in the tree" {
		t.Fatalf("err = %#v", err)
	}
}

func TestApplyNotAWorkTree(t *testing.T) {
	dir := newTree(t)
	ps := readSeries(t, "testdata/clean")
	for _, d := range []string{t.TempDir(), filepath.Join(dir, "kernel")} {
		as, err := Apply(context.Background(), d, ps, nil)
		var pe *PatchError
		if err == nil || errors.As(err, &pe) {
			t.Errorf("Apply in %s: err = %v, want a plain error", d, err)
		}
		if as[0].State != StateNotTried {
			t.Errorf("state = %s", as[0].State)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Apply(ctx, dir, ps, nil); err == nil || errors.As(err, new(*PatchError)) {
		t.Errorf("cancelled: err = %v, want a plain error", err)
	}
}

func TestParseDiff(t *testing.T) {
	// A removed line "-- x" shows as "--- x": it is hunk content, not a
	// header, because the hunk still expects lines.
	data := "diff --git a/doc.txt b/doc.txt\n" +
		"--- a/doc.txt\n+++ b/doc.txt\n" +
		"@@ -1,3 +1,2 @@ intro\n a\n--- ../x\n+++ ../x\n" +
		"@@ -10,2 +9,2 @@\n-b\n+c\n d\n" +
		"diff --git \"a/sp ace\" \"b/sp ace\"\n--- \"a/sp ace\"\n+++ \"b/sp ace\"\n@@ -1 +1 @@\n-x\n+y\n" +
		"--- a/old.c\t2026-01-01 00:00:00\n+++ b/new.c\t2026-01-01 00:00:00\n@@ -5 +5 @@\n-x\n+y\n"
	files := parseDiff([]byte(data))
	if len(files) != 3 {
		t.Fatalf("got %d files, want 3", len(files))
	}
	if f := files[0]; f.oldName != "a/doc.txt" || len(f.hunks) != 2 || f.hunks[1].oldStart != 10 {
		t.Errorf("file 1 = %+v", f)
	}
	if f := files[1]; f.gitOld != "a/sp ace" || f.gitNew != "b/sp ace" || f.newName != "b/sp ace" {
		t.Errorf("file 2 = %+v", f)
	}
	if f := files[2]; f.oldName != "a/old.c" || f.newName != "b/new.c" {
		t.Errorf("file 3 = %+v", f)
	}
	if name, why := checkPaths(t.TempDir(), files, 1); why != "" {
		t.Errorf("checkPaths refused %s: %s", name, why)
	}
	if n, h := hunkAt(files, 1, "doc.txt", 10); n != 2 || h != "@@ -10,2 +9,2 @@" {
		t.Errorf("hunkAt = %d %q", n, h)
	}
	if n, h := hunkAt(files, 1, "new.c", 5); n != 1 || h != "@@ -5 +5 @@" {
		t.Errorf("hunkAt(new.c) = %d %q", n, h)
	}
}

func TestBadName(t *testing.T) {
	for _, n := range []string{"/etc/passwd", "a/../../x", "..", "a/.GIT/config", "a/x b/../y", "a/x /etc/y"} {
		if badName(n) == "" {
			t.Errorf("badName(%q) accepted it", n)
		}
	}
	for _, n := range []string{"a/kernel/futex/core.c", "b/..foo/x.c", "a/.gitignore", "a/x..y"} {
		if why := badName(n); why != "" {
			t.Errorf("badName(%q) = %s", n, why)
		}
	}
}

func TestPatchErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    PatchError
		want string
	}{
		{PatchError{Patch: "0003-futex-foo.patch", File: "kernel/futex/core.c", Hunk: 2,
			HunkHeader: "@@ -120,7 +120,8 @@ func", Line: 120, Reason: "patch does not apply"},
			"0003-futex-foo.patch: kernel/futex/core.c: hunk #2 (@@ -120,7 +120,8 @@) does not apply at line 120"},
		{PatchError{Patch: "x.patch", File: "../a", Reason: "path escapes the tree"},
			"x.patch: ../a: path escapes the tree"},
		{PatchError{Patch: "x.patch", Reason: "malformed patch: no diff in it"},
			"x.patch: malformed patch: no diff in it"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestCheckPathsNames(t *testing.T) {
	// "../x" at -p1 becomes "x" for git; the refusal names what was written.
	files := parseDiff([]byte("--- ../x\n+++ ../x\n@@ -1 +1 @@\n-a\n+b\n"))
	if name, why := checkPaths(t.TempDir(), files, 1); name != "../x" || why == "" {
		t.Errorf("checkPaths = %q, %q", name, why)
	}
	files = parseDiff([]byte("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n"))
	if name, why := checkPaths(t.TempDir(), files, 1); name != "../x" || why == "" {
		t.Errorf("checkPaths = %q, %q", name, why)
	}
}

// TestQuotedPrintableMail reads a mail whose body is quoted-printable (as
// some mailers send patches) and whose subject is MIME-encoded and folded.
func TestQuotedPrintableMail(t *testing.T) {
	ps := readSeries(t, "testdata/qp.mbox")
	if len(ps) != 1 || ps[0].Name != "qp.mbox" {
		t.Fatalf("patches = %+v", ps)
	}
	if want := "futex: change two lines in core.c – encoded"; ps[0].Subject != want {
		t.Errorf("subject = %q, want %q", ps[0].Subject, want)
	}
	dir := newTree(t)
	if _, err := Apply(context.Background(), dir, ps, nil); err != nil {
		t.Fatal(err)
	}
	if got := fileText(t, filepath.Join(dir, "kernel/futex/core.c")); !strings.Contains(got, "futex_line_120 = 1120;") {
		t.Error("the decoded patch was not applied")
	}
}

func TestTouchesKconfig(t *testing.T) {
	mk := func(path string) Patch {
		return Patch{Strip: 1, Data: []byte("diff --git a/" + path + " b/" + path + "\n--- a/" + path + "\n+++ b/" + path + "\n@@ -1 +1 @@\n-x\n+y\n")}
	}
	for _, tc := range []struct {
		patches []Patch
		want    bool
	}{
		{nil, false},
		{[]Patch{mk("kernel/futex/core.c")}, false},
		{[]Patch{mk("kernel/futex/core.c"), mk("init/Kconfig")}, true},
		{[]Patch{mk("lib/Kconfig.debug")}, true},
		{[]Patch{mk("Documentation/kbuild/kconfig-language.rst")}, false},
	} {
		if got := TouchesKconfig(tc.patches); got != tc.want {
			t.Errorf("TouchesKconfig(%d patches) = %v, want %v", len(tc.patches), got, tc.want)
		}
	}
}

// A series given as one file is refused when read, before any work, if it
// is not a patch at all or was converted to CRLF line endings.
func TestReadSeriesRefuses(t *testing.T) {
	crlf := filepath.Join(t.TempDir(), "crlf.patch")
	b, err := os.ReadFile("testdata/bad/corrupt.patch")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crlf, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"testdata/bad/no-diff.patch", "no diff in it: not a patch"},
		{crlf, "CRLF line endings"},
	} {
		if _, err := ReadSeries(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadSeries(%s) = %v, want an error with %q", tc.path, err, tc.want)
		}
	}
}
