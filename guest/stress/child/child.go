// Package child runs a guest test's helper processes: a test that needs
// another process to kill re-executes the running binary (/proc/self/exe)
// as a named helper. The guest binary and each test package's `go test`
// binary call Main first thing, so the same code runs in a VM, on the
// host, and under `go test`.
package child

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/guest/stress"
)

// Env marks a process started as a child helper. Its argv is
// [exe, "child", NAME, ARGS...]; the env var makes a `go test` binary (whose
// TestMain calls Main) recognise it too.
const Env = "RIG_GUEST_CHILD"

// Main runs a child helper from helpers and exits if this process is one;
// otherwise it returns at once. Call it first in main and in TestMain. A
// helper's extra files start at fd 3; fd 3 is the shared memory and fd 4
// the status pipe, by convention of the guest's tests.
func Main(helpers ...stress.Helpers) {
	if os.Getenv(Env) == "" && !(len(os.Args) > 2 && os.Args[1] == "child") {
		return
	}
	os.Unsetenv(Env)
	if len(os.Args) < 3 || os.Args[1] != "child" {
		fmt.Fprintln(os.Stderr, "rig-guest child: usage: child NAME [ARGS...]")
		os.Exit(2)
	}
	var f func(args []string) error
	for _, h := range helpers {
		if h[os.Args[2]] != nil {
			f = h[os.Args[2]]
		}
	}
	if f == nil {
		fmt.Fprintf(os.Stderr, "rig-guest child: unknown helper %q\n", os.Args[2])
		os.Exit(2)
	}
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	if err := f(os.Args[3:]); err != nil {
		Status(fmt.Sprintf("error %s", stress.OneLine(err.Error())))
		fmt.Fprintln(os.Stderr, "rig-guest child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var (
	statusMu   sync.Mutex
	statusFile *os.File // fd 4, opened once: an *os.File closes its fd when collected
)

// Status writes one line to the status pipe (fd 4) of a child.
func Status(line string) {
	statusMu.Lock()
	defer statusMu.Unlock()
	if statusFile == nil {
		statusFile = os.NewFile(4, "status")
	}
	statusFile.Write([]byte(line + "\n"))
}

// Process is a running helper process.
type Process struct {
	Cmd    *exec.Cmd
	status *bufio.Reader
	pipe   *os.File
	stderr *bytes.Buffer
}

// Start starts helper name with args; shm becomes fd 3 and a status pipe
// fd 4.
func Start(name string, shm *os.File, args ...string) (*Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := exec.Command("/proc/self/exe", append([]string{"child", name}, args...)...)
	cmd.Env = append(os.Environ(), Env+"=1")
	cmd.ExtraFiles = []*os.File{shm, w}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("start child %s: %w", name, err)
	}
	return &Process{Cmd: cmd, status: bufio.NewReader(r), pipe: r, stderr: &stderr}, nil
}

// ErrTimeout is ReadLine's error when no line came in time.
var ErrTimeout = errors.New("child did not answer in time")

// ReadLine waits for the next status line until ctx's deadline or limit.
func (c *Process) ReadLine(ctx context.Context, limit time.Duration) (string, error) {
	dl := time.Now().Add(limit)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.pipe.SetReadDeadline(dl)
	line, err := c.status.ReadString('\n')
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return "", ErrTimeout
		}
		return "", fmt.Errorf("child exited without answer (%v): %s", err, stress.OneLine(c.stderr.String()))
	}
	return strings.TrimSpace(line), nil
}

// Stderr is what the child wrote to its stderr so far.
func (c *Process) Stderr() string { return c.stderr.String() }

// Close closes the status pipe of a child that was waited for.
func (c *Process) Close() { c.pipe.Close() }

// Kill SIGKILLs the child and reaps it.
func (c *Process) Kill() {
	c.Cmd.Process.Kill()
	c.Cmd.Wait()
	c.pipe.Close()
}

// Fields parses "word k=v k=v" status lines.
func Fields(line string) (string, map[string]string) {
	f := strings.Fields(line)
	m := map[string]string{}
	if len(f) == 0 {
		return "", m
	}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	if f[0] == "error" || f[0] == "skip" {
		m["msg"] = strings.TrimSpace(strings.TrimPrefix(line, f[0]))
	}
	return f[0], m
}
