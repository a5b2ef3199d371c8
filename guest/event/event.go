// Package event is the guest-to-host protocol (docs/protocol.md): JSON
// lines on a port of their own, written with a Writer and read with a
// Decoder that bounds lines and skips, counting, whatever is not an event.
package event

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Kinds of events, in the order a well-behaved guest sends them.
const (
	Start    = "start"    // a test begins: Test, Seed
	Progress = "progress" // counters of a running test: Test, Counters
	Result   = "result"   // a test's verdict: Test, Status, Reason, Evidence
	Log      = "log"      // a free-form guest message: Msg
	Done     = "done"     // the guest finished every test and will power off
	Hello    = "hello"    // the guest is up (first event of a boot): Msg has its version
	Kmsg     = "kmsg"     // one /dev/kmsg record, dumped before power-off: Msg
	Output   = "output"   // one line a test's program printed (--exec): Test, Msg
)

// Heartbeat is the longest a running test goes without a progress event:
// the guest repeats the test's last counters (none, if it has sent none)
// when the test itself has said nothing for this long, so the host can
// tell a silent guest from a long test (docs/protocol.md).
const Heartbeat = 5 * time.Second

// Keys of a Hello event's Evidence: the running kernel's identity.
const (
	KernelRelease = "kernel_release" // uname -r
	KernelVersion = "kernel_version" // uname -v: "#<build id> SMP ..."
)

// Flaky is the Evidence key of a Result that passed only on a rerun of
// some of its parts: their names, comma-separated (kselftest-futex).
const Flaky = "flaky"

// Test statuses carried by Result events.
const (
	Pass  = "pass"
	Fail  = "fail"
	Skip  = "skip"
	Error = "error"
)

// Event is one line of the protocol.
type Event struct {
	Ev       string            `json:"ev"`
	Test     string            `json:"test,omitempty"`
	Seed     int64             `json:"seed,omitempty"`
	Status   string            `json:"status,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Evidence map[string]string `json:"evidence,omitempty"`
	Counters map[string]int64  `json:"counters,omitempty"`
	Msg      string            `json:"msg,omitempty"`
	// T is seconds since the guest started, as the guest measured it.
	T float64 `json:"t"`
}

// Validate reports whether e is an event the host can act on.
func (e Event) Validate() error {
	switch e.Ev {
	case Start, Progress, Log, Done, Hello, Kmsg:
		return nil
	case Output:
		if e.Test == "" {
			return errors.New("output event without test name")
		}
		return nil
	case Result:
		if e.Test == "" {
			return errors.New("result event without test name")
		}
		switch e.Status {
		case Pass, Fail, Skip, Error:
			return nil
		}
		return fmt.Errorf("result event with unknown status %q", e.Status)
	}
	return fmt.Errorf("unknown event kind %q", e.Ev)
}

// Writer sends events; it is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// NewWriter returns a Writer on w; times are measured from now.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, start: time.Now()} }

// Send writes e as one JSON line, stamping its time.
func (w *Writer) Send(e Event) error {
	e.T = float64(time.Since(w.start).Milliseconds()) / 1000
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.w.Write(b)
	return err
}

// MaxLine bounds one event line on the host side; longer lines are dropped.
const MaxLine = 64 << 10

// Decoder reads events from an untrusted stream.
type Decoder struct {
	r       *bufio.Reader
	Skipped int // lines that were not valid events (garbage, too long, bad JSON)
}

// NewDecoder returns a Decoder reading r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 4096)} }

// Next returns the next valid event, the raw line it came from (without the
// line end), or io.EOF at the end of the stream. Invalid lines are skipped
// and counted in Skipped.
func (d *Decoder) Next() (Event, []byte, error) {
	for {
		line, err := readBounded(d.r, MaxLine)
		if len(line) > 0 {
			if ev, ok := Parse(line); ok {
				return ev, line, nil
			}
			d.Skipped++
		}
		if err != nil {
			return Event{}, nil, err
		}
	}
}

// Parse decodes one line; ok is false when the line is not a valid event.
func Parse(line []byte) (Event, bool) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return Event{}, false
	}
	if ev.Validate() != nil {
		return Event{}, false
	}
	return ev, true
}

// readBounded reads one line of at most max bytes, trimming "\r\n". A longer
// line is consumed to its end and returned as nil (so it is skipped).
func readBounded(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			// A placeholder, counted as skipped (a last line without '\n' too).
			return []byte{' '}, err
		}
		for len(buf) > 0 && (buf[len(buf)-1] == '\n' || buf[len(buf)-1] == '\r') {
			buf = buf[:len(buf)-1]
		}
		// Serial lines may carry a stray CR or NUL at the start.
		for len(buf) > 0 && (buf[0] == '\r' || buf[0] == 0) {
			buf = buf[1:]
		}
		return buf, err
	}
}
