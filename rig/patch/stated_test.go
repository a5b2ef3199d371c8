package patch

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReadSeriesB4 reads a b4-style mbox: a cover letter (skipped: it is
// no patch) that states the base and two prerequisites, and patches with
// trailers. It applies as the plain series does.
func TestReadSeriesB4(t *testing.T) {
	ps, st, err := ReadSeriesStated("testdata/b4.mbox")
	if err != nil {
		t.Fatal(err)
	}
	n, s, _ := names(ps)
	if want := []string{"b4.mbox#2", "b4.mbox#3", "b4.mbox#4"}; !reflect.DeepEqual(n, want) {
		t.Errorf("names = %q, want %q", n, want)
	}
	if !reflect.DeepEqual(s, cleanSubjects) {
		t.Errorf("subjects = %q, want %q", s, cleanSubjects)
	}
	want := Stated{Base: "0123456789abcdef0123456789abcdef01234567", By: "b4.mbox#1", Prerequisites: []string{
		"89abcdef0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210fedcba98"}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stated = %+v, want %+v", st, want)
	}
	dir := newTree(t)
	if _, err := Apply(context.Background(), dir, ps, nil); err != nil {
		t.Fatal(err)
	}
	if got := fileText(t, filepath.Join(dir, "kernel/futex/robust.c")); !strings.Contains(got, "return 512;") {
		t.Errorf("robust.c = %q, want patch 3's change", got)
	}
}

// TestReadSeriesStatedForms: git format-patch --base writes base-commit
// after the last patch; --cover-letter adds 0000-cover-letter.patch to a
// directory, which is skipped; no line states nothing; two bases are an
// error.
func TestReadSeriesStatedForms(t *testing.T) {
	clean, err := os.ReadFile("testdata/clean/0003-futex-use-FUTEX_ROBUST_UNLOCK-in-robust.c.patch")
	if err != nil {
		t.Fatal(err)
	}
	cover, err := os.ReadFile("testdata/b4.mbox")
	if err != nil {
		t.Fatal(err)
	}
	cover = cover[:strings.Index(string(cover), "\nFrom git@z")+1]
	withBase := strings.Replace(string(clean), "\n-- \n", "\nbase-commit: abcdef0123456789abcdef0123456789abcdef01\n-- \n", 1)

	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("0003-last.patch", withBase)
	ps, st, err := ReadSeriesStated(dir)
	if err != nil || len(ps) != 1 || st.Base != "abcdef0123456789abcdef0123456789abcdef01" || st.By != "0003-last.patch" {
		t.Fatalf("format-patch --base: %d patches, %+v, %v", len(ps), st, err)
	}
	write("0000-cover-letter.patch", string(cover))
	if _, _, err := ReadSeriesStated(dir); err == nil || !strings.Contains(err.Error(), "which tree") {
		t.Errorf("two bases: err %v", err)
	}
	write("0003-last.patch", string(clean))
	ps, st, err = ReadSeriesStated(dir)
	if err != nil || len(ps) != 1 || ps[0].Name != "0003-last.patch" || st.By != "0000-cover-letter.patch" {
		t.Fatalf("cover letter in a directory: %d patches, %+v, %v", len(ps), st, err)
	}
	if _, st, err := ReadSeriesStated("testdata/clean"); err != nil || !reflect.DeepEqual(st, Stated{}) {
		t.Errorf("no base stated: %+v, %v", st, err)
	}
	ps, st, err = ParseMbox("range", cover)
	if err == nil {
		t.Errorf("an mbox of a cover letter alone: %d patches, %+v", len(ps), st)
	}
}
