package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds untrusted bytes to the host side of the protocol. Seeds
// are real events.jsonl files from rig runs (testdata/*.jsonl), each file as
// one stream and each line on its own. It checks that:
//   - the Decoder delivers exactly the lines a simple model says are events,
//     skips (and counts) everything else, and never returns a line longer
//     than its bound;
//   - every event it delivers passes Validate, has valid UTF-8 strings, and
//     round-trips: Marshal then Parse, and Writer then Decoder, give it back;
//   - readBounded with a small bound behaves like the model too.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	if len(files) == 0 {
		f.Fatal("no seed events in testdata/*.jsonl")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, l := range bytes.Split(data, []byte("\n")) {
			f.Add(l)
		}
	}
	for _, s := range []string{
		"", "\n", "\r\n", "\x00\r{\"ev\":\"done\",\"t\":1}\r\r\n",
		`{"ev":"result","test":"x","status":"bogus"}`,
		`{"ev":"result","status":"pass"}`,
		`{"ev":"log","msg":"\u001b[2J\u0000\ud800"}` + "\n" + `{"ev":"done","t":1e400}`,
		`{"ev":"start","seed":9223372036854775808}`,
		`{"ev":"progress","counters":{"a":1.5}}`,
		`{"ev":"kmsg","msg":"` + "\xff\xfe" + `"}`,
		`{"ev":"done","ev":"nope"}`,
		`[1,2,3]`, `null`, `{"ev":"done"} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The Decoder against the model.
		want, wantSkipped := modelDecode(data, MaxLine)
		d := NewDecoder(bytes.NewReader(data))
		var got []Event
		for {
			ev, raw, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if len(raw) > MaxLine+2 {
				t.Fatalf("line of %d bytes delivered (bound %d)", len(raw), MaxLine)
			}
			if again, ok := Parse(raw); !ok || !reflect.DeepEqual(again, ev) {
				t.Fatalf("raw line %q does not parse back to %+v", raw, ev)
			}
			got = append(got, ev)
			checkEvent(t, ev)
		}
		if len(got) != len(want) || d.Skipped != wantSkipped {
			t.Fatalf("decoded %d events, skipped %d; model says %d and %d", len(got), d.Skipped, len(want), wantSkipped)
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("event %d: %+v, model %+v", i, got[i], want[i])
			}
		}

		// readBounded with a small bound, so the too-long path is reached.
		const small = 40
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var lines [][]byte
		for {
			l, err := readBounded(br, small)
			if len(l) > small+2 {
				t.Fatalf("readBounded returned %d bytes (bound %d)", len(l), small)
			}
			if len(l) > 0 {
				lines = append(lines, append([]byte(nil), l...))
			}
			if err != nil {
				break
			}
		}
		if wantLines := modelLines(data, small); !reflect.DeepEqual(lines, wantLines) {
			t.Fatalf("readBounded(%d) lines %q, model %q", small, lines, wantLines)
		}
	})
}

// checkEvent asserts what the host relies on for a delivered event.
func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if err := ev.Validate(); err != nil {
		t.Fatalf("delivered an invalid event %+v: %v", ev, err)
	}
	strs := []string{ev.Ev, ev.Test, ev.Status, ev.Reason, ev.Msg}
	for k, v := range ev.Evidence {
		strs = append(strs, k, v)
	}
	for k := range ev.Counters {
		strs = append(strs, k)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 in a decoded field: %q", s)
		}
	}
	// Marshal then Parse gives the same event.
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal %+v: %v", ev, err)
	}
	back, ok := Parse(b)
	if !ok || !reflect.DeepEqual(normalize(back), normalize(ev)) {
		t.Fatalf("round trip of %s: %+v, ok %v; want %+v", b, back, ok, ev)
	}
	// Writer then Decoder give it back too (Send stamps T).
	var buf bytes.Buffer
	if err := NewWriter(&buf).Send(ev); err != nil {
		t.Fatalf("send %+v: %v", ev, err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("Send wrote %q: not one line", buf.Bytes())
	}
	if buf.Len() > MaxLine {
		return // too long for the host: Decoder skips it, by design
	}
	d := NewDecoder(&buf)
	sent, _, err := d.Next()
	if err != nil {
		t.Fatalf("decode what Send wrote (%q): %v", buf.Bytes(), err)
	}
	ev.T, sent.T = 0, 0
	if !reflect.DeepEqual(normalize(sent), normalize(ev)) {
		t.Fatalf("Writer/Decoder round trip: %+v, want %+v", sent, ev)
	}
}

// normalize maps empty maps to nil: omitempty drops them on the wire.
func normalize(e Event) Event {
	if len(e.Evidence) == 0 {
		e.Evidence = nil
	}
	if len(e.Counters) == 0 {
		e.Counters = nil
	}
	return e
}

// segments splits a stream into lines as a reader sees them: each with
// whether it ended in '\n' (the last one may not).
func segments(data []byte) (segs [][]byte, ended []bool) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			segs, ended = append(segs, data), append(ended, false)
			break
		}
		segs, ended = append(segs, data[:i]), append(ended, true)
		data = data[i+1:]
	}
	return segs, ended
}

// modelLines is what readBounded should return, line by line (empty lines
// left out): a line over max+2 bytes with its '\n' is one placeholder; the
// rest lose trailing CR/LF and leading CR/NUL.
func modelLines(data []byte, max int) [][]byte {
	var out [][]byte
	segs, ended := segments(data)
	for i, s := range segs {
		n := len(s)
		if ended[i] {
			n++
		}
		if n > max+2 {
			out = append(out, []byte{' '})
			continue
		}
		l := bytes.TrimRight(s, "\r")
		l = bytes.TrimLeft(l, "\r\x00")
		if len(l) > 0 {
			out = append(out, append([]byte(nil), l...))
		}
	}
	return out
}

// modelDecode is what a Decoder should deliver and skip.
func modelDecode(data []byte, max int) ([]Event, int) {
	var evs []Event
	skipped := 0
	for _, l := range modelLines(data, max) {
		if ev, ok := Parse(l); ok {
			evs = append(evs, ev)
		} else {
			skipped++
		}
	}
	return evs, skipped
}

// The too-long last line without a newline is counted like any other
// skipped line.
func TestDecoderSkipsLongLastLine(t *testing.T) {
	in := `{"ev":"hello","t":0}` + "\n" + `{"ev":"log","msg":"` + strings.Repeat("x", MaxLine) + `"}`
	d := NewDecoder(strings.NewReader(in))
	n := 0
	for {
		_, _, err := d.Next()
		if err != nil {
			break
		}
		n++
	}
	if n != 1 || d.Skipped != 1 {
		t.Errorf("%d events, %d skipped; want 1 and 1", n, d.Skipped)
	}
}

// TestOutputEvent: an output line must name its test; the host writes
// it to that test's log only.
func TestOutputEvent(t *testing.T) {
	if _, ok := Parse([]byte(`{"ev":"output","test":"robust-mutex","msg":"PASS","t":1}`)); !ok {
		t.Error("an output event with a test was refused")
	}
	if _, ok := Parse([]byte(`{"ev":"output","msg":"PASS","t":1}`)); ok {
		t.Error("an output event without a test was accepted")
	}
}
