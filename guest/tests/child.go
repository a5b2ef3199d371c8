package tests

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
)

// ChildEnv marks a process started as a child helper. Its argv is
// [exe, "child", NAME, ARGS...]; the env var makes a `go test` binary (whose
// TestMain calls ChildMain) recognise it too.
const ChildEnv = "RIG_GUEST_CHILD"

// A child helper. Extra files start at fd 3; fd 3 is the shared memory and
// fd 4 the status pipe, by convention of the tests here.
type childFunc func(args []string) error

var children = map[string]childFunc{}

// ChildMain runs a child helper and exits if this process is one;
// otherwise it returns at once. Call it first in main and in TestMain.
func ChildMain() {
	if os.Getenv(ChildEnv) == "" && !(len(os.Args) > 2 && os.Args[1] == "child") {
		return
	}
	os.Unsetenv(ChildEnv)
	if len(os.Args) < 3 || os.Args[1] != "child" {
		fmt.Fprintln(os.Stderr, "rig-guest child: usage: child NAME [ARGS...]")
		os.Exit(2)
	}
	f, ok := children[os.Args[2]]
	if !ok {
		fmt.Fprintf(os.Stderr, "rig-guest child: unknown helper %q\n", os.Args[2])
		os.Exit(2)
	}
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	if err := f(os.Args[3:]); err != nil {
		status(fmt.Sprintf("error %s", oneLine(err.Error())))
		fmt.Fprintln(os.Stderr, "rig-guest child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var (
	statusMu   sync.Mutex
	statusFile *os.File // fd 4, opened once: an *os.File closes its fd when collected
)

// status writes one line to the status pipe (fd 4) of a child.
func status(line string) {
	statusMu.Lock()
	defer statusMu.Unlock()
	if statusFile == nil {
		statusFile = os.NewFile(4, "status")
	}
	statusFile.Write([]byte(line + "\n"))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// child is a running helper process.
type child struct {
	cmd    *exec.Cmd
	status *bufio.Reader
	pipe   *os.File
	stderr *bytes.Buffer
}

type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

// startChild starts helper name with args; shm becomes fd 3 and a status
// pipe fd 4.
func startChild(name string, shm *os.File, args ...string) (*child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := exec.Command("/proc/self/exe", append([]string{"child", name}, args...)...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.ExtraFiles = []*os.File{shm, w}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("start child %s: %w", name, err)
	}
	return &child{cmd: cmd, status: bufio.NewReader(r), pipe: r, stderr: &stderr}, nil
}

var errChildTimeout = errors.New("child did not answer in time")

// readLine waits for the next status line until ctx's deadline or limit.
func (c *child) readLine(ctx context.Context, limit time.Duration) (string, error) {
	dl := time.Now().Add(limit)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.pipe.SetReadDeadline(dl)
	line, err := c.status.ReadString('\n')
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return "", errChildTimeout
		}
		return "", fmt.Errorf("child exited without answer (%v): %s", err, oneLine(c.stderr.String()))
	}
	return strings.TrimSpace(line), nil
}

// kill SIGKILLs the child and reaps it.
func (c *child) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
	c.pipe.Close()
}

// fields parses "word k=v k=v" status lines.
func fields(line string) (string, map[string]string) {
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
