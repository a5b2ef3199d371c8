package result_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rig-kernel/rig/rig/result"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		s    result.Status
		want int
	}{
		{result.Pass, 0},
		{result.Fail, 1},
		{result.PatchError, 1},
		{result.BuildError, 1},
		{result.BootError, 1},
		{result.Timeout, 1},
		{result.InfraError, 3},
		{result.Interrupted, 130},
		{"", 3},
		{"bogus", 3},
	} {
		if got := tc.s.ExitCode(); got != tc.want {
			t.Errorf("%q.ExitCode() = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestWorst(t *testing.T) {
	order := []result.Status{result.Pass, result.Fail, result.PatchError, result.BuildError,
		result.BootError, result.Timeout, result.InfraError, result.Interrupted}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := result.Worst(a, b); got != want {
				t.Errorf("Worst(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
}

func TestFinish(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cell := func(s result.Status, cause string) result.Cell { return result.Cell{Status: s, Cause: cause} }
	for _, tc := range []struct {
		name      string
		pre       result.Status
		preCause  string
		cells     []result.Cell
		want      result.Status
		wantCause string
	}{
		{"all pass", "", "", []result.Cell{cell(result.Pass, ""), cell(result.Pass, "")}, result.Pass, ""},
		{"worst wins", "", "", []result.Cell{cell(result.Pass, ""), cell(result.Fail, "test a failed"),
			cell(result.BuildError, "compiler error: x.c"), cell(result.Fail, "test b failed")}, result.BuildError, "compiler error: x.c"},
		{"first of equals", "", "", []result.Cell{cell(result.Fail, "first"), cell(result.Fail, "second")}, result.Fail, "first"},
		{"interrupted kept", result.Interrupted, "interrupted by signal", []result.Cell{cell(result.BootError, "boot")}, result.Interrupted, "interrupted by signal"},
		{"infra kept", result.InfraError, "disk full", []result.Cell{cell(result.Pass, "")}, result.InfraError, "disk full"},
		{"stale status replaced", result.Fail, "old", []result.Cell{cell(result.Pass, "")}, result.Pass, ""},
		{"no cells", "", "", nil, result.InfraError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &result.Run{Status: tc.pre, Cause: tc.preCause, Cells: tc.cells}
			r.Finish(now)
			if r.Status != tc.want || r.Cause != tc.wantCause {
				t.Errorf("Finish: %s %q, want %s %q", r.Status, r.Cause, tc.want, tc.wantCause)
			}
			if !r.Finished.Equal(now) {
				t.Errorf("Finished = %v", r.Finished)
			}
		})
	}
}

func TestNewRunDirUnique(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results")
	now := time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		id, dir, err := result.NewRunDir(results, now)
		if err != nil {
			t.Fatal(err)
		}
		if seen[dir] {
			t.Fatalf("NewRunDir returned %s twice", dir)
		}
		seen[dir] = true
		if dir != filepath.Join(results, id) || !strings.HasPrefix(id, "20261125-010203-") {
			t.Errorf("id %q dir %q", id, dir)
		}
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, mode %v, want a 0700 directory", dir, err, st.Mode())
		}
	}
	ents, _ := os.ReadDir(results)
	if len(ents) != 50 {
		t.Errorf("%d directories, want 50", len(ents))
	}
}

func sampleRun() *result.Run {
	t0 := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	return &result.Run{
		ID: "20261125-010000-abcdef", Command: []string{"rig", "run", "--arch", "x86_64"},
		Started: t0, Finished: t0.Add(90 * time.Second), Status: result.Fail, Cause: "test robust-unlock failed: word corrupted",
		KernelSource: "Debian linux-source-6.12 6.12.117", Series: "patches/robust", Configs: []string{"base", "x86_64"},
		Tests: []string{"robust-unlock"}, Seed: 42,
		Host: result.Host{Hostname: "h", CPUs: 2, GoVersion: "go1.26"},
		Cells: []result.Cell{{
			ID: "x86_64-kvm-base", Arch: "x86_64", Accel: "kvm", Config: "base+x86_64", Status: result.Fail,
			Cause: "test robust-unlock failed: word corrupted",
			Tests: []result.Test{
				{Name: "pi-owner", Status: "pass", Seconds: 1.5, Seed: 42},
				{Name: "robust-unlock", Status: "fail", Reason: "word corrupted", Evidence: map[string]string{"word": "0x40000123"}, Label: "still-failing"},
			},
			Oopses:   []result.Oops{{Kind: "WARNING", Title: "WARNING: CPU: 1 PID: 77 at kernel/futex/core.c:100 foo+0x1/0x2", Line: 12}},
			Stages:   []result.Stage{{Name: "build", Start: t0, Elapsed: 3 * time.Second, Cached: true}},
			Patches:  []result.Patch{{Name: "0001-x.patch", State: "applied"}},
			QEMUArgv: []string{"qemu-system-x86_64", "-append", "console=ttyS0 rig.seed=42"},
			Seed:     42,
		}},
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	r := sampleRun()
	if err := result.Save(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, r)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "run.json" {
		t.Errorf("dir holds %v, want run.json only", ents)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := result.Load(dir); err == nil || !strings.Contains(err.Error(), "run.json") {
		t.Errorf("Load of bad JSON: %v", err)
	}
	if _, err := result.Load(t.TempDir()); err == nil {
		t.Error("Load of an empty dir: no error")
	}
	// JSON that is not a run record: reports of it would be empty.
	for _, j := range []string{"null", "{}", `{"cells": []}`} {
		os.WriteFile(filepath.Join(dir, "run.json"), []byte(j), 0o644)
		if _, err := result.Load(dir); err == nil || !strings.Contains(err.Error(), "not a run record") {
			t.Errorf("Load of %s: %v", j, err)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain text", 100, "plain text"},
		{"tab\there", 100, "tab here"},
		{"nul\x00byte", 100, "nul?byte"},
		{"\x1b[31mred\x1b[0m", 100, "?[31mred?[0m"},
		{"bad \xff\xfe utf8", 100, "bad ?? utf8"},
		{"new\nline\r", 100, "new?line?"},
		{"héllo wörld", 100, "héllo wörld"},
		{"abcdef", 3, "abc..."},
		{"abc", 3, "abc"},
		{"ééééé", 2, "éé..."},
		{"c1\u009b31m", 100, "c1?31m"},                          // C1 CSI
		{"evil\u202etxt.exe", 100, `evil\u202etxt.exe`},         // bidi override shown
		{"zero\u200bwidth\ufeff", 100, `zero\u200bwidth\ufeff`}, // zero-width space, BOM
		{"line\u2028sep\u2029", 100, `line\u2028sep\u2029`},     // line and paragraph separators
		{"isolate\u2066x\u2069", 100, `isolate\u2066x\u2069`},   // bidi isolates
	} {
		got := result.Clean(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\x00\x1b\n\r\u009b\u202e\u200b\u2028") {
			t.Errorf("Clean(%q) = %q is not safe", tc.in, got)
		}
	}
	long := strings.Repeat("x", 10000)
	if got := result.Clean(long, 500); len(got) != 503 {
		t.Errorf("Clean of 10000 chars to 500: len %d", len(got))
	}
}

// MarkdownCell keeps untrusted text inside one table cell: no newline, no
// unescaped pipe (a backslash in the input cannot unescape one), no HTML,
// no link.
func TestMarkdownCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a|b", `a\|b`},
		{`a\|b`, `a\\\|b`},
		{"pass\n| x | y |", `pass?\| x \| y \|`},
		{"<script>", "&lt;script&gt;"},
		{"[click](javascript:alert(1))", `[click\](javascript:alert(1))`},
		{"`code`", "\\`code\\`"},
		{"**bold**", `\*\*bold\*\*`},
		{"rtl\u202e", `rtl\\u202e`},
	} {
		if got := result.MarkdownCell(tc.in, 100); got != tc.want {
			t.Errorf("MarkdownCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
