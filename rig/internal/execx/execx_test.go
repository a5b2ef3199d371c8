package execx_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/rig/internal/execx"
)

func TestRunFailureKeepsTail(t *testing.T) {
	// 30 lines, then exit 3: the error keeps the last 20 lines only.
	err := execx.Run(context.Background(), execx.Cmd{
		Argv: []string{"sh", "-c", `i=1; while [ $i -le 30 ]; do echo "line$i"; i=$((i+1)); done; echo "boom" >&2; exit 3`},
	})
	var xe *execx.Error
	if !errors.As(err, &xe) {
		t.Fatalf("err = %v (%T), want *execx.Error", err, err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err %v does not wrap *exec.ExitError", err)
	}
	if ee.ExitCode() != 3 {
		t.Errorf("exit code = %d, want 3", ee.ExitCode())
	}
	lines := strings.Split(xe.Tail, "\n")
	if len(lines) != 20 {
		t.Errorf("tail has %d lines, want 20:\n%s", len(lines), xe.Tail)
	}
	if last := lines[len(lines)-1]; last != "boom" {
		t.Errorf("tail ends with %q, want stderr's %q", last, "boom")
	}
	if strings.Contains(xe.Tail, "line1\n") || !strings.Contains(xe.Tail, "line30") {
		t.Errorf("tail does not hold the last lines:\n%s", xe.Tail)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "sh -c") || !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "boom") {
		t.Errorf("message %q lacks argv, exit status or tail", msg)
	}
}

func TestRunSuccess(t *testing.T) {
	if err := execx.Run(context.Background(), execx.Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatalf("true: %v", err)
	}
	err := execx.Run(context.Background(), execx.Cmd{Argv: []string{"false"}})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("false: err = %v, want exit status 1", err)
	}
}

func TestMissingProgram(t *testing.T) {
	err := execx.Run(context.Background(), execx.Cmd{Argv: []string{"rig-no-such-program-xyz"}})
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("err = %v, want one wrapping exec.ErrNotFound", err)
	}
	if err := execx.Run(context.Background(), execx.Cmd{}); err == nil {
		t.Fatal("empty argv: no error")
	}
}

func TestLineGetsEveryLine(t *testing.T) {
	var mu sync.Mutex
	var got []string
	err := execx.Run(context.Background(), execx.Cmd{
		Argv: []string{"sh", "-c", `printf 'err\n' >&2; printf 'one\ntwo\r\n\nthree'`},
		Line: func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// stdout and stderr share one pipe, so order is the write order; the
	// last line has no line end and still arrives.
	want := []string{"err", "one", "two", "", "three"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestOutputIsStdoutOnly(t *testing.T) {
	var log strings.Builder
	out, err := execx.Output(context.Background(), execx.Cmd{
		Argv: []string{"sh", "-c", `echo out; echo err >&2`},
		Log:  &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" {
		t.Errorf("stdout = %q, want %q", out, "out\n")
	}
	if !strings.Contains(log.String(), "err") || strings.Contains(log.String(), "out") {
		t.Errorf("log = %q, want stderr only", log.String())
	}
}

func TestEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	out, err := execx.Output(context.Background(), execx.Cmd{
		Argv: []string{"sh", "-c", `echo "$RIG_X_TEST $(pwd)"`},
		Dir:  dir,
		Env:  []string{"RIG_X_TEST=first", "RIG_X_TEST=second"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "second "+dir; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCancelKillsProcessGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pidsc := make(chan [2]int, 1)
	done := make(chan error, 1)
	go func() {
		done <- execx.Run(ctx, execx.Cmd{
			// The background sleep ignores nothing: it must die with the
			// group. The shell names itself and its child once both exist.
			Argv:  []string{"sh", "-c", `sleep 100 & echo $$ $!; sleep 100`},
			Grace: 200 * time.Millisecond,
			Line: func(s string) {
				var p [2]int
				if n, _ := fmt.Sscan(s, &p[0], &p[1]); n == 2 {
					select {
					case pidsc <- p:
					default:
					}
				}
			},
		})
	}()
	var pids [2]int
	select {
	case pids = <-pidsc:
	case err := <-done:
		t.Fatalf("command ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("shell never printed its pids")
	}
	// pidfds become readable when the processes end: events, not polling.
	var fds []unix.PollFd
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd of %d (alive before cancel?): %v", pid, err)
		}
		defer unix.Close(fd)
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	start := time.Now()
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Run took %s to return after cancel", time.Since(start))
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want one wrapping context.Canceled", err)
	}
	for i, name := range []string{"the shell", "its background child"} {
		n, err := unix.Poll(fds[i:i+1], 5000)
		if err != nil || n != 1 {
			t.Errorf("%s (pid %d) still running 5 s after Run returned (poll: %d, %v)", name, pids[i], n, err)
		}
	}
}

func TestLinesWriterAndScanLines(t *testing.T) {
	var got []string
	w := execx.Lines(func(s string) { got = append(got, s) })
	_, _ = w.Write([]byte("a\r\nb"))
	_, _ = w.Write([]byte("c\n"))
	if strings.Join(got, "|") != "a|bc" {
		t.Errorf("Lines: %q", got)
	}
	got = nil
	if err := execx.ScanLines(strings.NewReader("x\ny\r\nz"), func(s string) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "x|y|z" {
		t.Errorf("ScanLines: %q", got)
	}
}
