package qemu

import (
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"blank lines", "\n\r\n\n", []string{"", "", ""}},
		{"stray cr kept inside", "a\rb\r\r\n", []string{"a\rb"}},
		{"garbage bytes", "\x00\xff\xfe\x1b[0m\n", []string{"\x00\xff\xfe\x1b[0m"}},
		{"exactly max", strings.Repeat("y", 16) + "\n", []string{strings.Repeat("y", 16)}},
		{"long line cut", long + "\nnext\n", []string{strings.Repeat("x", 16) + " [rig: line cut at 16 bytes]", "next"}},
		{"long last line", long, []string{strings.Repeat("x", 16) + " [rig: line cut at 16 bytes]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []string{"whole", "onebyte"} {
				var got []string
				var src = strings.NewReader(tt.in)
				var err error
				if r == "onebyte" {
					err = readLines(iotest.OneByteReader(src), 16, func(l string) { got = append(got, l) })
				} else {
					err = readLines(src, 16, func(l string) { got = append(got, l) })
				}
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
					t.Errorf("%s: got %q, want %q", r, got, tt.want)
				}
			}
		})
	}
}

// A huge line without a newline must not be held in memory whole.
func TestReadLinesHuge(t *testing.T) {
	in := strings.Repeat("z", 10<<20) + "\nend\n"
	var got []string
	if err := readLines(strings.NewReader(in), maxLine, func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) > maxLine+64 || !strings.HasSuffix(got[0], "cut at 65536 bytes]") || got[1] != "end" {
		t.Errorf("got %d lines, first %d bytes", len(got), len(got[0]))
	}
}

func TestReadLinesError(t *testing.T) {
	err := readLines(iotest.ErrReader(iotest.ErrTimeout), 16, func(string) {})
	if err != iotest.ErrTimeout {
		t.Errorf("err = %v", err)
	}
}
