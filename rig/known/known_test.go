package known

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// Each bad file is an *Error naming the file and the line of the culprit.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"not a list", "test: x\n", 1, "want a list"},
		{"entry not a mapping", "- x\n", 1, "must be a mapping"},
		{"bad regexp", "- link: https://x.org/1\n  test: 'a(b'\n", 2, "test: error parsing regexp"},
		{"bad title regexp", "- link: https://x.org/1\n\n  title: '[z-a]'\n", 3, "title: error parsing regexp"},
		{"bad glob", "- test: a\n  cell: '[x'\n  link: https://x.org/1\n", 2, "cell: syntax error in pattern"},
		{"unknown key", "- test: a\n  link: https://x.org/1\n  tests: b\n", 3, `unknown key "tests"`},
		{"twice", "- test: a\n  test: b\n  link: https://x.org/1\n", 2, "test given twice"},
		{"neither", "- cell: '*'\n  link: https://x.org/1\n", 1, "needs test"},
		{"both", "- test: a\n  title: b\n  link: https://x.org/1\n", 1, "not both"},
		{"no link", "- test: a\n", 1, "needs link"},
		{"relative link", "- test: a\n  link: bug/1\n", 2, "absolute http(s) URL"},
		{"javascript link", "- test: a\n  link: 'javascript:alert(1)'\n", 2, "absolute http(s) URL"},
		{"bad date", "- test: a\n  link: https://x.org/1\n  expires: 31.12.2027\n", 3, "want a date YYYY-MM-DD"},
		{"list value", "- test: [a]\n  link: https://x.org/1\n", 1, "want a string"},
		{"alias", "- &e {test: a, link: 'https://x.org/1'}\n- *e\n", 1, "anchors and aliases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(tc.yaml), now)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *Error", err)
			}
			if e.File != "k.yaml" || e.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q (line %d), want line %d and %q", err, e.Line, tc.line, tc.want)
			}
			if !strings.Contains(err.Error(), "k.yaml:") {
				t.Errorf("%q does not name the file and line", err)
			}
		})
	}
	if _, err := Parse("k.yaml", []byte("- test: a\n  link: [\n"), now); err == nil || !strings.Contains(err.Error(), "k.yaml") || !strings.Contains(err.Error(), "line") {
		t.Errorf("bad YAML: %v, want the file and yaml's line", err)
	}
}

// An entry is void from its expiry date on (UTC), and says so loudly.
func TestExpiry(t *testing.T) {
	const f = "# known\n\n- test: robust-unmap-remap\n  link: https://x.org/1\n  expires: 2026-12-07\n"
	_, err := Parse("k.yaml", []byte(f), now)
	var e *ExpiredError
	if !errors.As(err, &e) || e.Entry.Line != 3 {
		t.Fatalf("got %v, want *ExpiredError for line 3", err)
	}
	for _, want := range []string{"k.yaml:3", "robust-unmap-remap", "https://x.org/1", "expired on 2026-12-07"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
	if l, err := Parse("k.yaml", []byte(f), now.Add(-13*time.Hour)); err != nil || len(l.Entries) != 1 {
		t.Errorf("the day before: %v, want the entry in force", err)
	}
}

// Load takes a regular file of bounded size only.
func TestLoadUntrusted(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, now); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, now); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a big file: %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := Load(empty, now); err != nil || len(l.Entries) != 0 {
		t.Errorf("an empty file: %v %+v", err, l)
	}
	if _, err := Load(filepath.Join(dir, "none.yaml"), now); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

func cell(id string, st result.Status, cause string, tests ...result.Test) result.Cell {
	return result.Cell{ID: id, Arch: "x86_64", Status: st, Cause: cause, Tests: tests}
}

func TestApply(t *testing.T) {
	l, err := Parse("k.yaml", []byte(`
- test: robust-unmap-remap
  link: https://x.org/race
- test: pi-.*
  cell: arm64-*
  link: https://x.org/pi
- title: 'WARNING in handle_futex_death'
  link: https://x.org/warn
- title: 'no such report'
  link: https://x.org/gone
`), now)
	if err != nil {
		t.Fatal(err)
	}
	fail := func(n string) result.Test { return result.Test{Name: n, Status: "fail"} }
	pass := func(n string) result.Test { return result.Test{Name: n, Status: "pass"} }
	r := &result.Run{Cells: []result.Cell{
		cell("x86_64-a", result.Fail, "test robust-unmap-remap failed", fail("robust-unmap-remap"), pass("pi-handover")),
		cell("x86_64-b", result.Fail, "test pi-handover failed", fail("robust-unmap-remap"), fail("pi-handover")), // pi-* is arm64's only
		cell("arm64-c", result.Fail, "test pi-handover failed", fail("pi-handover")),
		cell("x86_64-d", result.BootError, "kernel WARNING in handle_futex_death+0x1a/0x40"),
		cell("x86_64-e", result.BootError, "kernel panic: VFS: unable to mount root"),
		cell("x86_64-f", result.InfraError, "qemu died", fail("robust-unmap-remap")),
		cell("x86_64-g", result.Fail, "test robust-unmap-remap-2 failed", fail("robust-unmap-remap-2")), // whole name only
	}}
	r.Cells[1].Known = "stale" // cleared by Apply
	r.Cells[0].Oopses = nil
	Apply(r, l)
	want := []struct {
		cell  string
		tests []string
	}{
		{"https://x.org/race", []string{"https://x.org/race", ""}},
		{"", []string{"https://x.org/race", ""}},
		{"https://x.org/pi", []string{"https://x.org/pi"}},
		{"https://x.org/warn", nil},
		{"", nil},
		{"", []string{"https://x.org/race"}}, // infra: the test is known, the cell still counts
		{"", []string{""}},
	}
	for i, w := range want {
		c := r.Cells[i]
		if c.Known != w.cell {
			t.Errorf("%s: cell known %q, want %q", c.ID, c.Known, w.cell)
		}
		for j, tk := range w.tests {
			if c.Tests[j].Known != tk {
				t.Errorf("%s/%s: known %q, want %q", c.ID, c.Tests[j].Name, c.Tests[j].Known, tk)
			}
		}
	}
	if r.KnownIssues == nil || r.KnownIssues.Entries != 4 || len(r.KnownIssues.Unmatched) != 1 || !strings.Contains(r.KnownIssues.Unmatched[0], "k.yaml:9: title \"no such report\" in * (https://x.org/gone)") {
		t.Errorf("known issues: %+v", r.KnownIssues)
	}
	r.Finish(now)
	if r.Status != result.InfraError {
		t.Errorf("run status %s: the infra-error cell still counts", r.Status)
	}
}

// A cell whose failures are all known counts as a pass; an oops it also
// had must be known too.
func TestApplyOopsAndVerdict(t *testing.T) {
	l, err := Parse("k.yaml", []byte("- test: robust-unmap-remap\n  link: https://x.org/race\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	c := cell("x86_64", result.Fail, "test robust-unmap-remap failed", result.Test{Name: "robust-unmap-remap", Status: "fail"})
	r := &result.Run{Cells: []result.Cell{c}}
	Apply(r, l)
	r.Finish(now)
	if r.Status != result.Pass || r.Cells[0].Known == "" {
		t.Fatalf("all failures known: run %s, cell known %q", r.Status, r.Cells[0].Known)
	}
	c.Oopses = []result.Oops{{Kind: "WARNING", Title: "WARNING: CPU: 0 PID: 1 at kernel/futex/core.c:1 handle_futex_death"}}
	r = &result.Run{Cells: []result.Cell{c}}
	Apply(r, l)
	r.Finish(now)
	if r.Status != result.Fail || r.Cells[0].Known != "" || r.Cells[0].Tests[0].Known == "" {
		t.Fatalf("an unknown oops: run %s, cell known %q", r.Status, r.Cells[0].Known)
	}
	Apply(r, nil)
	if r.KnownIssues != nil || r.Cells[0].Tests[0].Known != "" {
		t.Errorf("Apply(nil) left marks: %+v", r.Cells[0])
	}
}

// An entry matches nothing either because its failure is gone (probably
// fixed) or because the run never ran what it names: another shard's
// cells, a test left out with --tests. Only the first is called fixed.
func TestApplyNotExercised(t *testing.T) {
	l, err := Parse("k.yaml", []byte(`
- test: robust-owner-death
  link: https://x.org/ran-and-passed
- test: robust-owner-death
  cell: riscv64-*
  link: https://x.org/other-cells
- test: pi-giveup
  link: https://x.org/test-not-run
- title: 'BUG: never'
  cell: arm64-*
  link: https://x.org/title-other-cells
`), now)
	if err != nil {
		t.Fatal(err)
	}
	r := &result.Run{Cells: []result.Cell{
		cell("x86_64-a", result.Pass, "", result.Test{Name: "robust-owner-death", Status: "pass"}),
	}}
	Apply(r, l)
	k := r.KnownIssues
	if k == nil || len(k.Unmatched) != 1 || !strings.Contains(k.Unmatched[0], "ran-and-passed") {
		t.Fatalf("unmatched %+v: want only the entry whose test ran and passed", k)
	}
	if len(k.NotExercised) != 3 {
		t.Errorf("not exercised %q: want the other three entries", k.NotExercised)
	}
}
