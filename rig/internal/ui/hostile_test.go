package ui

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// Text a kernel under test (or its guest) controls: terminal escapes (title
// set, screen clear, C1 CSI), NUL, invalid UTF-8, carriage returns that
// overwrite a line, and newlines that forge one.
var hostile = []string{
	"\x1b]0;pwned\x07title",
	"\x1b[2J\x1b[Hcleared",
	"\u009b31mC1 CSI",
	"nul\x00byte",
	"bad \xff\xfe utf8 \xc3",
	"over\rwrite",
	"forged\nverdict: PASS",
	"bell\x07 del\x7f bidi\u202eevil",
}

// terminalSafe fails t if s (what reached the terminal, minus the UI's own
// control sequences) carries anything hostile.
func terminalSafe(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8 reached the terminal: %q", what, s)
	}
	for _, r := range s {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Errorf("%s: control character %U reached the terminal: %q", what, r, s)
			return
		}
	}
	if strings.Contains(s, "\nverdict: PASS") {
		t.Errorf("%s: a forged line reached the terminal: %q", what, s)
	}
}

func TestPrintfHostile(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var b bytes.Buffer
		u := New(&b)
		u.tty = tty
		for _, h := range hostile {
			u.Printf("cause: %s", h)
			u.Notice("%s", h)
			u.Stage(h, h, h)
			u.last = u.last.AddDate(-1, 0, 0) // let Live print
			u.Live(h, h, h)
			u.Done()
		}
		out := b.String()
		if tty {
			// The UI's own sequence: clear the live line.
			out = strings.ReplaceAll(out, "\r\033[K", "")
		}
		terminalSafe(t, map[bool]string{false: "plain", true: "tty"}[tty], out)
		per := 3 // Printf, Notice, Stage; Live too without a terminal
		if !tty {
			per = 4
		}
		if n := strings.Count(out, "\n"); n != per*len(hostile) {
			t.Errorf("tty %v: %d lines for %d messages: a message was split", tty, n, per*len(hostile))
		}
	}
}

func TestScreenHostile(t *testing.T) {
	for _, h := range hostile {
		r := &result.Run{Status: result.Fail, Cause: h}
		r.Cells = []result.Cell{{
			Arch: "x86_64", Accel: "tcg", Status: result.Fail, Cause: h,
			Tests:  []result.Test{{Name: h, Status: "fail", Reason: h, Compare: h}},
			Oopses: []result.Oops{{Kind: "WARNING", Title: h, Line: 3}},
		}}
		out := report.Screen(r, "/results/x")
		terminalSafe(t, "Screen", out)
		md := report.Markdown(r)
		terminalSafe(t, "Markdown", md)
	}
}

// Clean is what every terminal path relies on.
func FuzzClean(f *testing.F) {
	for _, h := range hostile {
		f.Add(h, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		c := result.Clean(s, max)
		if !utf8.ValidString(c) || strings.ContainsAny(c, "\x00\x1b\n\r") {
			t.Fatalf("Clean(%q, %d) = %q", s, max, c)
		}
		for _, r := range c {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("Clean(%q, %d) = %q: control %U", s, max, c, r)
			}
		}
		if n := utf8.RuneCountInString(c); n > max+3 {
			t.Fatalf("Clean(_, %d) kept %d runes", max, n)
		}
	})
}
