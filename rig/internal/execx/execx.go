// Package execx runs subprocesses the way every rig stage needs them: in
// their own process group, tied to a context, stopped gracefully (SIGTERM)
// then hard (SIGKILL) on cancellation, with output streamed line by line and
// its tail kept for the error message. No user-supplied string ever goes
// through a shell: argv is passed as is.
package execx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rig-kernel/rig/rig/internal/lines"
)

// Cmd describes one subprocess.
type Cmd struct {
	Argv []string
	Dir  string
	Env  []string // added to os.Environ(); later entries win
	// Unset names variables removed from the environment (after Env).
	Unset []string
	// Stdin, if set, feeds the process.
	Stdin io.Reader
	// Log, if set, receives every output byte (stdout and stderr merged).
	Log io.Writer
	// Line, if set, is called for every output line (without line end).
	Line func(string)
	// Grace is how long SIGTERM has before SIGKILL on cancellation (default 3s).
	Grace time.Duration
}

// environ is os.Environ() plus env, without the variables named in unset.
func environ(env, unset []string) []string {
	all := append(os.Environ(), env...)
	if len(unset) == 0 {
		return all
	}
	out := all[:0:0]
	for _, kv := range all {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(unset, name) {
			out = append(out, kv)
		}
	}
	return out
}

// Error is a subprocess that ran and failed; it keeps its output's tail.
type Error struct {
	Argv []string
	Err  error  // *exec.ExitError, or the context's error
	Tail string // last lines of output
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	if e.Tail != "" {
		msg += "\n" + e.Tail
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// tailLines is how many output lines an Error keeps.
const tailLines = 20

// Run runs c to completion and returns its combined output's tail on error.
// A missing program is reported as *exec.Error (wrapping exec.ErrNotFound).
func Run(ctx context.Context, c Cmd) error {
	_, err := run(ctx, c, false)
	return err
}

// Output runs c and returns its stdout alone (stderr goes to Log and the tail).
func Output(ctx context.Context, c Cmd) ([]byte, error) {
	return run(ctx, c, true)
}

func run(ctx context.Context, c Cmd, wantStdout bool) ([]byte, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("execx: empty argv")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = environ(c.Env, c.Unset)
	cmd.Stdin = c.Stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	grace := c.Grace
	if grace == 0 {
		grace = 3 * time.Second
	}
	cmd.Cancel = func() error {
		// The whole group: make spawns compilers, QEMU may spawn helpers.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		go func(pid int) {
			time.Sleep(grace)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = grace + 2*time.Second

	tail := &tailWriter{max: tailLines}
	sinks := []io.Writer{tail}
	if c.Log != nil {
		sinks = append(sinks, c.Log)
	}
	var lw *lineWriter
	if c.Line != nil {
		lw = &lineWriter{fn: c.Line}
		sinks = append(sinks, lw)
	}
	out := io.MultiWriter(sinks...)
	var stdout bytes.Buffer
	if wantStdout {
		cmd.Stdout = &stdout
	} else {
		cmd.Stdout = out
	}
	cmd.Stderr = out
	err := cmd.Run()
	if lw != nil {
		lw.flush()
	}
	// Make sure nothing of the group outlives the command (e.g. make's
	// children after make itself was killed).
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, err
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		t := tail.String()
		if wantStdout && t == "" {
			t = lines.Tail(stdout.String(), tailLines)
		}
		return stdout.Bytes(), &Error{Argv: c.Argv, Err: err, Tail: t}
	}
	return stdout.Bytes(), nil
}

// tailWriter keeps the last max lines written to it.
type tailWriter struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(p)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	if len(t.part) > 4096 {
		t.part = t.part[len(t.part)-4096:]
	}
	for _, l := range parts[:len(parts)-1] {
		t.lines = append(t.lines, strings.TrimRight(l, "\r"))
		if len(t.lines) > t.max {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.lines
	if t.part != "" {
		l = append(append([]string(nil), l...), t.part)
	}
	return strings.Join(l, "\n")
}

// lineWriter calls fn for every complete line.
type lineWriter struct {
	mu  sync.Mutex
	fn  func(string)
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.fn(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 1<<16 { // a runaway line: deliver what we have
		l.fn(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.fn(string(l.buf))
		l.buf = nil
	}
}

// Lines returns an io.Writer that calls fn once per line written to it.
func Lines(fn func(string)) io.Writer { return &lineWriter{fn: fn} }

// ScanLines reads r line by line (no length limit issues: bufio.Reader) and
// calls fn for each line without its line end.
func ScanLines(r io.Reader, fn func(string)) error {
	br := bufio.NewReader(r)
	for {
		s, err := br.ReadString('\n')
		if s != "" {
			fn(strings.TrimRight(s, "\r\n"))
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
