package report_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// renderRun is the run the rendering tests start from.
func renderRun() *result.Run {
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
			Oopses: []result.Oops{{Kind: "WARNING", Title: "WARNING: CPU: 1 PID: 77 at kernel/futex/core.c:100 foo+0x1/0x2", Line: 12,
				Stack: []result.Frame{
					{Func: "bar", File: "include/linux/bar.h", Line: 7, Inline: true},
					{Func: "foo+0x1/0x2", File: "kernel/futex/core.c", Line: 100},
					{Func: "do_syscall_64+0x56/0xa4", Guess: true},
				}}},
			Stages:   []result.Stage{{Name: "build", Start: t0, Elapsed: 3 * time.Second, Cached: true}},
			Patches:  []result.Patch{{Name: "0001-x.patch", State: "applied"}},
			QEMUArgv: []string{"qemu-system-x86_64", "-append", "console=ttyS0 rig.seed=42"},
			Seed:     42,
		}},
	}
}

func TestMarkdownEscapes(t *testing.T) {
	r := renderRun()
	r.Cells[0].Cause = "a | b\nc <d>"
	r.Cells[0].ID = "cell|id"
	md := report.Markdown(r)
	var row string
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| cell") && strings.Contains(l, "id") {
			row = l
		}
	}
	if row == "" {
		t.Fatalf("no table row for the cell in:\n%s", md)
	}
	if !strings.Contains(row, `a \| b`) || !strings.Contains(row, `c &lt;d&gt;`) || !strings.Contains(row, `cell\|id`) {
		t.Errorf("row not escaped: %s", row)
	}
	// Exactly six unescaped pipes: five columns.
	if n := strings.Count(row, "|") - strings.Count(row, `\|`); n != 6 {
		t.Errorf("row has %d column separators, want 6: %s", n, row)
	}
	if !strings.Contains(md, "# rig run "+r.ID+": fail") || !strings.Contains(md, "robust-unlock: fail") {
		t.Errorf("summary lacks the verdict or tests:\n%s", md)
	}
	if !strings.Contains(md, "'console=ttyS0 rig.seed=42'") {
		t.Errorf("a record without reproduce.sh does not show the quoted argv:\n%s", md)
	}
	r.Cells[0].Reproduce = "reproduce.sh"
	if md := report.Markdown(r); !strings.Contains(md, "\nsh 'cell|id/reproduce.sh'\n") || strings.Contains(md, "rig.seed=42'") {
		t.Errorf("the reproduce block is not the pasteable script line:\n%s", md)
	}
}

func TestJUnit(t *testing.T) {
	dir := t.TempDir()
	r := renderRun()
	r.Cells[0].Tests[1].Reason = "word \x1b[1mcorrupted\x00 <&>"
	r.Cells = append(r.Cells, result.Cell{ID: "arm64-tcg-base", Arch: "arm64", Status: result.BuildError,
		Cause: "compiler error: kernel/futex/core.c:746:41: error: 'x' undeclared"})
	if err := os.MkdirAll(filepath.Join(dir, "x86_64-kvm-base"), 0o755); err != nil {
		t.Fatal(err)
	}
	console := "[    0.000000] Linux version 6.12\n[    1.000000] last console line\n"
	if err := os.WriteFile(filepath.Join(dir, "x86_64-kvm-base", "console.log"), []byte(console), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := report.JUnit(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "<?xml") {
		t.Errorf("no XML header")
	}
	var got jSuites
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, b)
	}
	if len(got.Suites) != 2 {
		t.Fatalf("%d suites, want 2", len(got.Suites))
	}
	s := got.Suites[0]
	var names []string
	for _, c := range s.Cases {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "pi-owner,robust-unlock,kernel-oops" {
		t.Errorf("cases = %v", names)
	}
	if s.Tests != 3 || s.Failures != 2 {
		t.Errorf("suite counts tests=%d failures=%d, want 3, 2", s.Tests, s.Failures)
	}
	if s.Cases[0].Failure != nil || s.Cases[0].SystemOut != "" {
		t.Errorf("passing case has a failure or output: %+v", s.Cases[0])
	}
	f := s.Cases[1].Failure
	if f == nil || !strings.Contains(f.Message, "corrupted") || strings.ContainsAny(f.Message, "\x1b\x00") {
		t.Errorf("failing test: failure = %+v", f)
	} else if !strings.Contains(f.Text, "word: 0x40000123") {
		t.Errorf("failure text lacks the evidence: %q", f.Text)
	}
	if !strings.Contains(s.Cases[1].SystemOut, "last console line") {
		t.Errorf("failing test's system-out = %q, want the console tail", s.Cases[1].SystemOut)
	}
	o := s.Cases[2].Failure
	if o == nil || !strings.Contains(o.Message, "WARNING") || !strings.Contains(o.Message, "console.log:12") {
		t.Errorf("kernel-oops case: %+v", o)
	} else if !strings.Contains(o.Message, " at include/linux/bar.h:7 ") ||
		!strings.Contains(o.Text, "\n  bar include/linux/bar.h:7 [inline]\n  foo+0x1/0x2 kernel/futex/core.c:100\n  ? do_syscall_64+0x56/0xa4") {
		t.Errorf("kernel-oops case lacks the decoded stack: %+v", o)
	}
	if !strings.Contains(s.Cases[2].SystemOut, "last console line") {
		t.Errorf("kernel-oops system-out = %q", s.Cases[2].SystemOut)
	}

	be := got.Suites[1]
	if be.Name != "arm64-tcg-base" || len(be.Cases) != 1 || be.Tests != 1 || be.Failures != 1 {
		t.Fatalf("build-error suite: %+v", be)
	}
	if be.Cases[0].Failure == nil || !strings.Contains(be.Cases[0].Failure.Message, "'x' undeclared") {
		t.Errorf("build-error case: %+v", be.Cases[0])
	}
	if got.Tests != 4 || got.Failures != 3 {
		t.Errorf("totals tests=%d failures=%d, want 4, 3", got.Tests, got.Failures)
	}
}

func TestJUnitCleanKernel(t *testing.T) {
	r := renderRun()
	r.Cells[0].Oopses = nil
	r.Cells[0].Tests = r.Cells[0].Tests[:1]
	b, err := report.JUnit(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var got jSuites
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Failures != 0 || got.Tests != 2 {
		t.Errorf("tests=%d failures=%d, want 2 (test + kernel-oops), 0", got.Tests, got.Failures)
	}
}

func TestWriteReports(t *testing.T) {
	dir := t.TempDir()
	if err := report.WriteReports(dir, renderRun()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"summary.md", "junit.xml"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestConsoleTail(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "cell"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cell", "console.log")
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("line \x1b")
		b.WriteString(strings.Repeat("x", i%3))
		b.WriteString("\n")
	}
	b.WriteString("final\n")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := report.CellTail(dir, "cell", "console.log", 5)
	lines := strings.Split(tail, "\n")
	if len(lines) != 5 || lines[4] != "final" || strings.Contains(tail, "\x1b") {
		t.Errorf("CellTail = %q", tail)
	}
	if report.CellTail(dir, "cell", "console.log.missing", 5) != "" {
		t.Error("tail of a missing file is not empty")
	}
}

// The per-arch line a reviewer pastes: what changed, on which arch, with
// the statistical comparison; baseline cells and unlabelled runs give none.
func TestBaselineVerdicts(t *testing.T) {
	r := &result.Run{Cells: []result.Cell{
		{ID: "x86_64-baseline", Arch: "x86_64", Config: "base+x86_64", Role: "baseline",
			Tests: []result.Test{{Name: "robust-unmap-remap", Status: "fail"}}},
		{ID: "x86_64", Arch: "x86_64", Config: "base+x86_64", Tests: []result.Test{
			{Name: "robust-unmap-remap", Status: "pass", Label: "fixed", Compare: "baseline 37 of 412 kills corrupted; patched 0 of 3000"},
			{Name: "robust-owner-death", Status: "pass", Label: "passing"},
			{Name: "pi-consistency", Status: "pass", Label: "passing"}}},
		{ID: "arm64", Arch: "arm64", Config: "base+arm64", Tests: []result.Test{
			{Name: "robust-unmap-remap", Status: "fail", Label: "still-failing", Reason: "5/5 trials corrupted"}}},
	}}
	got := report.BaselineVerdicts(r)
	want := []string{
		"x86_64 [base+x86_64]: robust-unmap-remap fixed (baseline 37 of 412 kills corrupted; patched 0 of 3000); 2 other tests passing",
		"arm64 [base+arm64]: robust-unmap-remap still-failing (5/5 trials corrupted)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("BaselineVerdicts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if md := report.Markdown(r); !strings.Contains(md, "- "+want[1]) {
		t.Errorf("summary.md lacks the arm64 line:\n%s", md)
	}
	if report.BaselineVerdicts(&result.Run{Cells: []result.Cell{{ID: "x", Tests: []result.Test{{Name: "a", Status: "pass"}}}}}) != nil {
		t.Error("a run without labels has verdict lines")
	}
}

// Independent JUnit schema for reading the output back.
type jSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// A status, test status, stage name or run id from a hostile run.json
// cannot add a row to summary.md or reach junit.xml with escapes, bidi or
// zero-width characters raw.
func TestReportsInjection(t *testing.T) {
	r := renderRun()
	r.ID = "id\u202eevil"
	r.Cells[0].Status = "fail\n| injected | row | x | y | z |"
	r.Cells[0].Tests[0].Status = "fail\n| t |"
	r.Cells[0].Stages = append(r.Cells[0].Stages, result.Stage{Name: "boot\n| s |"})
	r.Cells[0].ID = "cell\x1b[2J\u200b"
	md := report.Markdown(r)
	if strings.Contains(md, "\n| injected") || strings.Contains(md, "\n| t |") || strings.Contains(md, "\n| s |") {
		t.Errorf("a field added a row:\n%s", md)
	}
	for _, raw := range []string{"\u202e", "\u200b", "\x1b"} {
		if strings.Contains(md, raw) {
			t.Errorf("summary.md holds %q raw:\n%s", raw, md)
		}
	}
	x, err := report.JUnit(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"\u202e", "\u200b", "\x1b", "\n| injected"} {
		if strings.Contains(string(x), raw) {
			t.Errorf("junit.xml holds %q raw:\n%s", raw, x)
		}
	}
}
