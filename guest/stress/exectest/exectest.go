// Package exectest runs the programs `--exec` packed into the image
// (catalog.ExecDir) as tests named after their files: exit status 0
// passes, another status or a signal fails, and every line the program
// prints goes to the host as an output event (docs/protocol.md).
package exectest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/catalog"
	"github.com/rig-kernel/rig/guest/stress"
)

// Dir is where the image holds the programs (tests override it).
var Dir = "/" + catalog.ExecDir

// Bounds on what one program's output costs the event port: a line is cut
// at maxLine bytes, and past maxOutput bytes lines are counted, not sent.
const (
	maxLine   = 4 << 10
	maxOutput = 1 << 20
	tailLines = 20
	tailBytes = 2 << 10
)

// Tests returns a test for each executable regular file in dir whose name
// is a valid exec name and not one of taken (the built-in tests), sorted
// by name; skipped says what was left out and why. A missing dir has none.
func Tests(dir string, taken []string) (tests []stress.Test, skipped []string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, e := range ents {
		name := e.Name()
		info, err := e.Info()
		switch {
		case err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0:
			skipped = append(skipped, name+": not an executable file")
		case !catalog.ValidExecName(name):
			skipped = append(skipped, name+": not a valid test name")
		case contains(taken, name):
			skipped = append(skipped, name+": a built-in test has that name")
		default:
			tests = append(tests, New(name, filepath.Join(dir, name)))
		}
	}
	return tests, skipped
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// New is the test called name that runs the program at path.
func New(name, path string) stress.Test {
	return stress.Test{Test: catalog.Exec(name), Run: func(ctx context.Context, env stress.Env) stress.Outcome {
		return run(ctx, env, name, path)
	}}
}

// run runs the program in a fresh directory, in its own process group,
// with the seed and duration in its environment, until it exits or ctx
// ends (then the group is killed and the test is a hang).
func run(ctx context.Context, env stress.Env, name, path string) stress.Outcome {
	work, err := os.MkdirTemp("", "exec-"+name+"-")
	if err != nil {
		return stress.Error("work directory: "+err.Error(), nil)
	}
	defer os.RemoveAll(work)
	pr, pw, err := os.Pipe()
	if err != nil {
		return stress.Error("pipe: "+err.Error(), nil)
	}
	defer pr.Close()
	cmd := exec.Command(path)
	cmd.Dir = work
	cmd.Env = []string{"PATH=/bin", "HOME=" + work, "TMPDIR=/tmp", "RIG_TEST=" + name,
		"RIG_SEED=" + strconv.FormatInt(env.Seed, 10),
		"RIG_DURATION=" + strconv.Itoa(int((env.Duration+time.Second-1)/time.Second))}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return stress.Error("could not start "+path+": "+err.Error(), nil)
	}
	out := &output{send: env.Output}
	read := make(chan struct{})
	go func() { out.read(pr); close(read) }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	hung := false
	select {
	case err = <-waited:
	case <-ctx.Done():
		hung = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-waited
	}
	took := time.Since(start)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // children left in its group
	select {
	case <-read:
	case <-time.After(2 * time.Second): // a child of another group holds the pipe
		pr.Close()
		<-read
	}
	ev := out.evidence()
	dl, _ := ctx.Deadline()
	return judge(err, hung, took, dl.Sub(start), out.last(), ev)
}

// judge turns how the program ended into the test's verdict.
func judge(err error, hung bool, took, limit time.Duration, last string, ev map[string]string) stress.Outcome {
	ends := ""
	if last != "" {
		ends = "; output ends: " + last
	}
	if hung {
		ev["exit"] = "killed at the deadline"
		return stress.Error(fmt.Sprintf("test hung: still running at its %v deadline, killed%s", limit.Round(time.Second), ends), ev)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		ev["exit"] = "0"
		return stress.Pass(fmt.Sprintf("exit status 0 in %.2fs", took.Seconds()), ev)
	case !errors.As(err, &ee):
		return stress.Error("waiting for the program: "+err.Error(), ev)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := ws.Signal()
		ev["exit"] = unix.SignalName(sig)
		return stress.Fail(fmt.Sprintf("killed by signal %s (%v) after %.2fs%s", unix.SignalName(sig), sig, took.Seconds(), ends), ev)
	}
	ev["exit"] = strconv.Itoa(ee.ExitCode())
	return stress.Fail(fmt.Sprintf("exit status %d after %.2fs%s", ee.ExitCode(), took.Seconds(), ends), ev)
}

// output reads a program's output: each line is sent (bounded) and the
// last ones are kept for the evidence.
type output struct {
	send    func(string)
	mu      sync.Mutex
	tail    []string
	lines   int
	sent    int
	dropped int
}

func (o *output) read(r io.Reader) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			s := strings.TrimRight(string(line), "\r\n")
			if err == bufio.ErrBufferFull {
				s += " [rig: line cut]"
				for err == bufio.ErrBufferFull { // skip the rest of the line
					_, err = br.ReadSlice('\n')
				}
			}
			o.line(s)
		}
		if err != nil {
			return
		}
	}
}

func (o *output) line(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines++
	o.tail = append(o.tail, s)
	if len(o.tail) > tailLines {
		o.tail = o.tail[1:]
	}
	if o.sent+len(s) > maxOutput {
		o.dropped++
		return
	}
	o.sent += len(s) + 1
	if o.send != nil {
		o.send(s)
	}
}

// last is the last non-empty line, cut for a reason.
func (o *output) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.tail) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(o.tail[i]); s != "" {
			if len(s) > 200 {
				s = s[:200] + "..."
			}
			return s
		}
	}
	return ""
}

// evidence holds the output's tail and counts.
func (o *output) evidence() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	tail := strings.Join(o.tail, "\n")
	if len(tail) > tailBytes {
		tail = tail[len(tail)-tailBytes:]
	}
	ev := map[string]string{"output_lines": strconv.Itoa(o.lines)}
	if tail != "" {
		ev["output"] = tail
	}
	if o.dropped > 0 {
		ev["output_dropped"] = fmt.Sprintf("%d lines past %d bytes not sent", o.dropped, maxOutput)
	}
	return ev
}
