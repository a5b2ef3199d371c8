package qemu

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rig-kernel/rig/rig/result"
)

// FuzzReadLines feeds untrusted console bytes, read in odd-sized pieces, to
// readLines with a small bound. Seeds are the real console logs of
// rig/oops/testdata. It checks that no delivered line is longer than the
// bound (plus the marker), that the output is exactly what a line-by-line
// model gives (so no byte goes missing except the cut ones, which the marker
// counts), and that result.Clean makes every line safe for a terminal.
func FuzzReadLines(f *testing.F) {
	logs, _ := filepath.Glob("../../oops/testdata/*.log")
	if len(logs) == 0 {
		f.Fatal("no seed logs in rig/oops/testdata")
	}
	for _, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(80), uint8(0))
		f.Add(data, uint16(4096), uint8(7))
	}
	f.Add([]byte("a\r\nb\r\r\n\n\x00\x1b[31mred\x1b[0m\xff\xfe\n"), uint16(3), uint8(1))
	f.Add([]byte(strings.Repeat("x", 5000)+"\r\nend"), uint16(4095), uint8(200))
	f.Add([]byte("\u009b2J\u202e"), uint16(1), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, max16 uint16, step uint8) {
		max := 1 + int(max16)%8192
		var r io.Reader = bytes.NewReader(data)
		if step > 0 {
			r = &stepReader{data: data, step: int(step)}
		}
		var got []string
		if err := readLines(r, max, func(l string) { got = append(got, l) }); err != nil {
			t.Fatalf("readLines: %v", err)
		}
		marker := fmt.Sprintf(" [rig: line cut at %d bytes]", max)
		for _, l := range got {
			if len(strings.TrimSuffix(l, marker)) > max {
				t.Fatalf("line of %d bytes delivered (max %d)", len(l), max)
			}
		}
		want := modelReadLines(data, max)
		if len(got) != len(want) {
			t.Fatalf("%d lines delivered, model %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("line %d: %q, model %q", i, got[i], want[i])
			}
			c := result.Clean(got[i], 1<<20)
			if !utf8.ValidString(c) || strings.ContainsAny(c, "\x00\x1b\r\n\u009b") {
				t.Fatalf("Clean(%q) = %q: not terminal-safe", got[i], c)
			}
			for _, r := range c {
				if r < 0x20 || (r >= 0x7f && r < 0xa0) {
					t.Fatalf("Clean(%q) = %q: control character %U", got[i], c, r)
				}
			}
		}
	})
}

// modelReadLines is readLines' contract, one line at a time: a line of
// more than max bytes (counting any "\r" before its "\n") keeps its first
// max bytes and gets the marker; trailing "\r"s go; an unterminated empty
// last line is not a line.
func modelReadLines(data []byte, max int) []string {
	var out []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var s []byte
		if i < 0 {
			s, data = data, nil
		} else {
			s, data = data[:i], data[i+1:]
		}
		cut := len(s) > max
		if cut {
			s = s[:max]
		}
		l := strings.TrimRight(string(s), "\r")
		if cut {
			l += fmt.Sprintf(" [rig: line cut at %d bytes]", max)
		}
		out = append(out, l)
	}
	return out
}

// stepReader returns at most step bytes per Read, varying the size so line
// ends fall everywhere relative to the reader's buffer.
type stepReader struct {
	data []byte
	step int
	n    int
}

func (s *stepReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	s.n++
	k := 1 + (s.n*s.step)%(s.step+1)
	k = min(k, len(p), len(s.data))
	copy(p, s.data[:k])
	s.data = s.data[k:]
	return k, nil
}
