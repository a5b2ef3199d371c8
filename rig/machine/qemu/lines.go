package qemu

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
)

// maxLine bounds one console or stderr line; the rest of a longer line is
// dropped and the kept part is marked.
const maxLine = 64 << 10

// readLines calls fn for every line of r, without its line end ("\n" and
// any "\r" before it). A line longer than max bytes is cut at max and marked
// with " [rig: line cut at N bytes]"; a last line without "\n" is delivered
// too. Memory stays bounded whatever r sends. It returns nil at EOF.
func readLines(r io.Reader, max int, fn func(string)) error {
	br := bufio.NewReaderSize(r, 4096)
	var buf []byte
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		data := chunk
		ended := len(data) > 0 && data[len(data)-1] == '\n'
		if ended {
			data = data[:len(data)-1]
		}
		if !cut {
			if room := max - len(buf); len(data) > room {
				buf, cut = append(buf, data[:room]...), true
			} else {
				buf = append(buf, data...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if ended || len(buf) > 0 || cut {
			line := strings.TrimRight(string(buf), "\r")
			if cut {
				line += fmt.Sprintf(" [rig: line cut at %d bytes]", max)
			}
			fn(line)
			buf, cut = buf[:0], false
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// tail keeps the last lines written to it, bounded in count and bytes.
type tail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(s) > 1024 {
		s = s[:1024] + "..."
	}
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
