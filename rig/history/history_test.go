package history

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// night is a one-run history input: cells as given, started day days
// after a fixed date.
func night(day int, cells ...result.Cell) Loaded {
	t := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, day)
	return Loaded{Run: &result.Run{ID: t.Format("20060102"), Started: t, Status: result.Pass, Cells: cells}, Dir: t.Format("20060102")}
}

// cell is an x86_64 tcg cell of the given series ("" none) and config with
// one test robust-owner-death of the given status.
func cell(series, config, status string) result.Cell {
	role := "unpatched"
	if series != "" {
		role = filepath.Base(series)
	}
	st := result.Pass
	if status != "pass" {
		st = result.Fail
	}
	return result.Cell{ID: "x86_64-tcg-" + config + "-" + role + "-r1", Arch: "x86_64", Accel: "tcg", Config: config, Series: series,
		Status: st, TreeID: "tree-" + role, Tests: []result.Test{{Name: "robust-owner-death", Status: status}}}
}

func findRow(t *testing.T, h *History, id, test string) Row {
	t.Helper()
	for _, r := range h.Rows {
		if r.Identity.String() == id && r.Test == test {
			return r
		}
	}
	var ids []string
	for _, r := range h.Rows {
		ids = append(ids, r.Identity.String()+" / "+r.Test)
	}
	t.Fatalf("no row %q / %q; rows: %q", id, test, ids)
	return Row{}
}

// A regression: first failing, last passing, the streak and where it
// changed, nights in any order.
func TestBuildRegression(t *testing.T) {
	runs := []Loaded{
		night(3, cell("/p/break", "base", "fail")),
		night(0, cell("/p/example", "base", "pass")),
		night(2, cell("/p/break", "base", "fail")),
		night(1, cell("/p/example", "base", "pass")),
	}
	h := Build(runs, DefaultRule)
	if len(h.Nights) != 4 || h.Nights[0].Run != "20261201" || h.Nights[3].Run != "20261204" {
		t.Fatalf("nights not oldest first: %+v", h.Nights)
	}
	r := findRow(t, h, "x86_64 tcg base patched r1", "robust-owner-death")
	if r.FirstFailing == nil || r.FirstFailing.Night != 2 || r.FirstFailing.Series != "break" || r.FirstFailing.Tree != "tree-break" {
		t.Errorf("first failing %+v, want night 2 series break", r.FirstFailing)
	}
	if r.LastPassing == nil || r.LastPassing.Night != 1 || r.LastPassing.Series != "example" {
		t.Errorf("last passing %+v, want night 1 series example", r.LastPassing)
	}
	s := r.Streak
	if s == nil || s.Outcome != "fail" || s.Runs != 2 || s.Since.Night != 2 || s.After == nil || s.After.Series != "example" {
		t.Errorf("streak %+v, want fail x2 since night 2 after an example night", s)
	}
	if len(r.Flips) != 1 || r.Flips[0].From != "pass" || r.Flips[0].To != "fail" || r.Flaky {
		t.Errorf("flips %+v flaky %v, want one pass->fail, not flaky", r.Flips, r.Flaky)
	}
	c := findRow(t, h, "x86_64 tcg base patched r1", "")
	if c.Streak == nil || c.Streak.Outcome != "fail" || c.Marks[0].Status != "pass" || c.Marks[3].Status != "fail" {
		t.Errorf("cell verdict row %+v", c)
	}
}

// Like with like: a changed config, accelerator or series role starts a
// new row instead of a false regression.
func TestBuildLikeWithLike(t *testing.T) {
	kvm := cell("", "base", "fail")
	kvm.Accel = "kvm"
	base := cell("", "base", "pass")
	base.Role = "baseline"
	runs := []Loaded{
		night(0, cell("", "base", "pass")),
		night(1, cell("", "base+kasan", "fail"), kvm, base),
	}
	h := Build(runs, DefaultRule)
	r := findRow(t, h, "x86_64 tcg base unpatched r1", "robust-owner-death")
	if r.FirstFailing != nil || r.Streak.Runs != 1 || r.Marks[1].Status != "" || len(r.Flips) != 0 {
		t.Errorf("the plain row took another config's failure: %+v", r)
	}
	for _, id := range []string{"x86_64 tcg base+kasan unpatched r1", "x86_64 kvm base unpatched r1"} {
		k := findRow(t, h, id, "robust-owner-death")
		if k.Marks[0].Status != "" || k.Marks[1].Status != "fail" || len(k.Flips) != 0 {
			t.Errorf("%s: marks %+v flips %+v, want a new row failing from night 1", id, k.Marks, k.Flips)
		}
	}
	findRow(t, h, "x86_64 tcg base baseline r1", "robust-owner-death")
}

// An "auto" cell is one row whether it booted under KVM or never got to a
// boot: its build error is that row's failure, not a new row's.
func TestBuildAutoAccel(t *testing.T) {
	booted := cell("/p/example", "base", "pass")
	booted.Accel, booted.Inputs = "kvm", &result.Inputs{Accel: "auto"}
	broken := result.Cell{ID: booted.ID, Arch: "x86_64", Accel: "auto", Config: "base", Series: "/p/broken-build",
		Status: result.BuildError, Cause: "make failed", Inputs: &result.Inputs{Accel: "auto"}}
	h := Build([]Loaded{night(0, booted), night(1, broken)}, DefaultRule)
	c := findRow(t, h, "x86_64 auto base patched r1", "")
	if len(h.Rows) != 2 || c.Marks[0].Accel != "kvm" || c.Marks[1].Status != "build-error" || len(c.Flips) != 1 || c.Marks[1].Reason != "make failed" {
		t.Errorf("%d rows; cell row marks %+v flips %+v; want one identity, pass then build-error", len(h.Rows), c.Marks, c.Flips)
	}
	test := findRow(t, h, "x86_64 auto base patched r1", "robust-owner-death")
	if m := test.Marks[1]; m.Status != "" || m.Cell != "build-error" {
		t.Errorf("the test on the night its cell did not build: %+v, want absent with the cell's status", m)
	}
}

// Two series in one run get a row each, named by the series.
func TestIdentitiesTwoSeries(t *testing.T) {
	r := &result.Run{Cells: []result.Cell{cell("/a/one", "base", "pass"), cell("/b/two", "base", "pass"), cell("", "base", "pass")}}
	r.Cells = append(r.Cells, result.Cell{ID: "x-r3", Arch: "x86_64", Accel: "tcg", Config: "base"})
	ids := Identities(r)
	want := []string{"x86_64 tcg base patched one r1", "x86_64 tcg base patched two r1", "x86_64 tcg base unpatched r1", "x86_64 tcg base unpatched r3"}
	for i, id := range ids {
		if id.String() != want[i] {
			t.Errorf("cell %d: identity %q, want %q", i, id, want[i])
		}
	}
}

// Flaky: N flips within the last M results; older flips do not count.
func TestFlakyWindow(t *testing.T) {
	var runs []Loaded
	// f p f p, then 8 passes: 3 flips, all older than the last 10 results
	// but one (the flip to pass on night 3 lands on the window's edge).
	for i, st := range []string{"fail", "pass", "fail", "pass", "pass", "pass", "pass", "pass", "pass", "pass", "pass", "pass"} {
		runs = append(runs, night(i, cell("", "base", st)))
	}
	h := Build(runs, Rule{Flips: 3, Runs: 10})
	r := findRow(t, h, "x86_64 tcg base unpatched r1", "robust-owner-death")
	if len(r.Flips) != 3 || r.RecentFlips != 1 || r.Flaky {
		t.Errorf("flips %d recent %d flaky %v; want 3 flips, 1 in the last 10 results, not flaky", len(r.Flips), r.RecentFlips, r.Flaky)
	}
	h = Build(runs, Rule{Flips: 3, Runs: 12})
	if r := findRow(t, h, "x86_64 tcg base unpatched r1", "robust-owner-death"); r.RecentFlips != 3 || !r.Flaky {
		t.Errorf("rule 3/12: recent %d flaky %v; want 3, flaky", r.RecentFlips, r.Flaky)
	}
	// Notes for the next night: the flaky rows (the cell's verdict and
	// its test), matched by identity; the kasan cell is another row.
	next := &result.Run{Cells: []result.Cell{cell("", "base", "fail"), cell("", "base+kasan", "fail")}}
	notes := FlakyNotes(h, next)
	if len(notes) != 2 || notes[0].Test != "" || notes[1].Test != "robust-owner-death" || notes[1].Tonight != "fail" || len(notes[1].Row.Flips) != 3 {
		t.Errorf("%d notes, want the plain cell's verdict and its flaky test", len(notes))
		for _, n := range notes {
			t.Logf("note %s %q tonight %s flips %d", n.CellID, n.Test, n.Tonight, len(n.Row.Flips))
		}
	}
}

func TestParseRule(t *testing.T) {
	if r, err := ParseRule("2/5"); err != nil || r != (Rule{2, 5}) {
		t.Errorf("2/5: %v %v", r, err)
	}
	for _, bad := range []string{"", "3", "3/3", "0/5", "a/b", "5/2", "-1/4"} {
		if _, err := ParseRule(bad); err == nil || !strings.Contains(err.Error(), "N/M") {
			t.Errorf("%q: err %v, want one explaining N/M", bad, err)
		}
	}
}

// Untrusted input: oversized run.json, directories without runs, a
// history.json of another version, control characters in names.
func TestLoadUntrusted(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.MkdirAll(big, 0o755)
	f, _ := os.Create(filepath.Join(big, "run.json"))
	f.Truncate(result.MaxRunJSON + 1)
	f.Close()
	if _, err := Load([]string{big}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized run.json: %v", err)
	}
	many := filepath.Join(dir, "many")
	os.MkdirAll(many, 0o755)
	var cells []string
	for i := 0; i <= MaxCells; i++ {
		cells = append(cells, fmt.Sprintf(`{"id":"c%d"}`, i))
	}
	os.WriteFile(filepath.Join(many, "run.json"), []byte(`{"id":"many","cells":[`+strings.Join(cells, ",")+`]}`), 0o644)
	if _, err := Load([]string{many}); err == nil || !strings.Contains(err.Error(), "cells, more than the 5000 a history reads") {
		t.Errorf("a run of too many cells: %v", err)
	}
	// A cell id that would be joined onto the night's directory as a path
	// (history.html links <night>/report.html#cell-<id>) is refused as
	// every reader of runs refuses it.
	hostile := filepath.Join(dir, "hostile")
	os.MkdirAll(hostile, 0o755)
	os.WriteFile(filepath.Join(hostile, "run.json"), []byte(`{"id":"h","cells":[{"id":"../../etc"}]}`), 0o644)
	if _, err := Load([]string{hostile}); err == nil || !strings.Contains(err.Error(), "cell 1: id") {
		t.Errorf("a cell id with a path in it: %v", err)
	}
	empty := t.TempDir()
	if _, err := Load([]string{empty}); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("a directory without runs: %v", err)
	}
	// A directory of runs, and a run given twice, read once.
	parent := t.TempDir()
	for i, id := range []string{"a", "b"} {
		r := night(i, cell("", "base", "pass")).Run
		r.Cells[0].Tests[0].Name = "evil\x1b[31m\u202e"
		os.MkdirAll(filepath.Join(parent, id), 0o755)
		if err := result.Save(filepath.Join(parent, id), r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := Load([]string{parent, filepath.Join(parent, "a")})
	if err != nil || len(runs) != 2 {
		t.Fatalf("Load: %d runs, %v", len(runs), err)
	}
	h := Build(runs, DefaultRule)
	for _, r := range h.Rows {
		if strings.ContainsRune(r.Test, 0x1b) {
			t.Errorf("test name kept an escape: %q", r.Test)
		}
	}
	out := t.TempDir()
	if err := Write(out, h); err != nil {
		t.Fatal(err)
	}
	if back, err := Read(filepath.Join(out, File)); err != nil || len(back.Rows) != len(h.Rows) {
		t.Errorf("Read(Write(h)): %v", err)
	}
	b, _ := json.Marshal(History{Version: 99})
	os.WriteFile(filepath.Join(out, "old.json"), b, 0o644)
	if _, err := Read(filepath.Join(out, "old.json")); err == nil || !strings.Contains(err.Error(), "rig report history") {
		t.Errorf("a history.json of another version: %v", err)
	}
}

// A failure that becomes known stays a failure (coloured known): no flip,
// the streak goes on, though the run counts the known cell as a pass.
func TestBuildKnownIsNoFlip(t *testing.T) {
	known := cell("", "base", "fail")
	known.Known, known.Tests[0].Known = "https://example.org/issue", "https://example.org/issue"
	h := Build([]Loaded{night(0, cell("", "base", "fail")), night(1, known)}, DefaultRule)
	for _, test := range []string{"", "robust-owner-death"} {
		r := findRow(t, h, "x86_64 tcg base unpatched r1", test)
		if m := r.Marks[1]; m.Status != "fail" || m.Known == "" || len(r.Flips) != 0 || r.Streak.Runs != 2 || r.Known == "" {
			t.Errorf("row %q: night 2 %+v, flips %+v, streak %+v; want a known fail continuing the streak", test, m, r.Flips, r.Streak)
		}
	}
}
