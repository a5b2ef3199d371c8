package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/timebox"
	"github.com/rig-kernel/rig/rig/result"
)

// TestWatchSignals: after the first signal the context is cancelled; a
// command that does not return (blocked in a system call) is ended with
// ExitInterrupted at the bound, one that returns is not ended, and a
// second signal ends it at once. What stderr says matches what happened.
func TestWatchSignals(t *testing.T) {
	const bound = 300 * time.Millisecond
	start := func() (chan os.Signal, chan struct{}, context.Context, *timebox.Buffer, chan int) {
		ch, done := make(chan os.Signal, 2), make(chan struct{})
		ctx, cancel := context.WithCancelCause(context.Background())
		var stderr timebox.Buffer
		exited := make(chan int, 1)
		go watchSignals(ch, done, cancel, &stderr, bound, func(c int) { exited <- c })
		return ch, done, ctx, &stderr, exited
	}

	t.Run("blocked command", func(t *testing.T) {
		ch, _, ctx, stderr, exited := start()
		t0 := time.Now()
		ch <- syscall.SIGINT
		select {
		case c := <-exited:
			if c != ExitInterrupted {
				t.Errorf("exit %d, want %d", c, ExitInterrupted)
			}
			if d := time.Since(t0); d < bound || d > 2*time.Second {
				t.Errorf("exited %v after the signal, want between %v and 2s", d, bound)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("not exited 2 s after the signal")
		}
		if !interrupted(ctx) {
			t.Errorf("context not cancelled by the signal: %v", context.Cause(ctx))
		}
		if s := stderr.String(); !strings.Contains(s, "interrupt: stopping") || !strings.Contains(s, "not stopped") {
			t.Errorf("stderr does not say it stopped, then quit: %q", s)
		}
	})
	t.Run("command returns", func(t *testing.T) {
		ch, done, ctx, stderr, exited := start()
		ch <- syscall.SIGTERM
		<-ctx.Done()
		close(done)
		select {
		case c := <-exited:
			t.Errorf("exit(%d) called for a command that returned", c)
		case <-time.After(2 * bound):
		}
		if strings.Contains(stderr.String(), "quitting") {
			t.Errorf("stderr says it quit: %q", stderr.String())
		}
	})
	t.Run("second signal", func(t *testing.T) {
		ch, _, ctx, stderr, exited := start()
		ch <- syscall.SIGINT
		<-ctx.Done()
		t0 := time.Now()
		ch <- syscall.SIGINT
		select {
		case <-exited:
			if d := time.Since(t0); d >= bound {
				t.Errorf("second signal took %v", d)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("not exited after a second signal")
		}
		if !strings.Contains(stderr.String(), "again: quitting now") {
			t.Errorf("stderr: %q", stderr.String())
		}
	})
	t.Run("no signal", func(t *testing.T) {
		_, done, ctx, _, exited := start()
		close(done)
		select {
		case <-exited:
			t.Error("exit called without a signal")
		case <-time.After(2 * bound):
		}
		if interrupted(ctx) {
			t.Error("interrupted without a signal")
		}
	})
}

// TestInterruptBlockedOnFIFO interrupts a real rig process whose output is
// a FIFO nobody reads (`rig matrix --list` of 4,000 cells: the write
// blocks once the FIFO's buffer is full). SIGINT and SIGTERM must end it
// within 2 s with exit 130, and stderr must say it stopped and then quit.
func TestInterruptBlockedOnFIFO(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rig binary (skipped with -short)")
	}
	wd, _ := os.Getwd()
	root := initramfs.Checkout(wd)
	if root == "" {
		t.Fatalf("%s is in no rig checkout", wd)
	}
	bin := buildRig(t, root)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte("arches: [x86_64, arm64]\naccels: [tcg]\nconfigs: [[], [debug]]\nrepeats: 1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		fifo := filepath.Join(dir, fmt.Sprintf("out%d", i))
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		// Hold the read end open, never reading: the rig's writes fill the
		// FIFO and then block.
		r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		var stderr timebox.Buffer
		cmd := exec.Command(bin, "matrix", plan, "--list")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = w, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		// Wait until the rig is blocked writing: its main thread sleeps in
		// a write to the FIFO (state S, wchan pipe_write).
		blocked := false
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", cmd.Process.Pid))
			if strings.Contains(string(b), "pipe_write") {
				blocked = true
				break
			}
			ts, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", cmd.Process.Pid))
			for _, f := range ts {
				if b, _ := os.ReadFile(f); strings.Contains(string(b), "pipe_write") {
					blocked = true
				}
			}
			if blocked {
				break
			}
		}
		if !blocked {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("rig never blocked writing to the FIFO; stderr:\n%s", stderr.String())
		}
		t0 := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: rig still running 10 s after the signal; stderr:\n%s", sig, stderr.String())
		}
		d := time.Since(t0)
		t.Logf("%v: rig blocked on a FIFO exited %v after the signal: %v", sig, d.Round(time.Millisecond), err)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != ExitInterrupted {
			t.Errorf("%v: exit %v, want %d", sig, err, ExitInterrupted)
		}
		if d > 2*time.Second {
			t.Errorf("%v: took %v to end, want at most 2 s", sig, d)
		}
		if s := stderr.String(); !strings.Contains(s, "stopping") || !strings.Contains(s, "quitting now") {
			t.Errorf("%v: stderr does not say it stopped and quit:\n%s", sig, s)
		}
		r.Close()
	}
}

// TestE2EInterruptEveryStage interrupts a real `rig run` (cached kernel,
// one long test) at several points: at once, while it resolves its
// source, while it applies (no series: checks the tree), and while the
// guest runs. Each time it must end within 2 s with exit 130, say it is
// stopping, and leave a run.json that says interrupted.
func TestE2EInterruptEveryStage(t *testing.T) {
	root, _ := e2e(t)
	bin := buildRig(t, root)
	for _, after := range []string{"", "x86_64: source:", "x86_64: apply:", "x86_64: boot:"} {
		name := after
		if name == "" {
			name = "at once"
		}
		t.Run(name, func(t *testing.T) {
			results := t.TempDir()
			cmd := exec.Command(bin, "run", "--arch", "x86_64", "--results", results, "--tests", "pi-consistency", "--duration", "60s")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CI=true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stderr timebox.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if after == "" {
				time.Sleep(100 * time.Millisecond)
			}
			for end := time.Now().Add(3 * time.Minute); after != "" && !strings.Contains(stderr.String(), after); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("no %q line in 3 minutes:\n%s", after, stderr.String())
				}
			}
			t0 := time.Now()
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("rig still running 30 s after SIGINT:\n%s", stderr.String())
			}
			d := time.Since(t0)
			t.Logf("interrupted after %q: exit %v in %v", after, err, d.Round(time.Millisecond))
			if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
				t.Errorf("exit code %d, want %d", code, ExitInterrupted)
			}
			if d > 2*time.Second {
				t.Errorf("took %v to end, want at most 2 s", d)
			}
			if !strings.Contains(stderr.String(), "interrupt: stopping") {
				t.Errorf("stderr does not say it is stopping:\n%s", stderr.String())
			}
			ents, _ := os.ReadDir(results)
			for _, e := range ents {
				r, err := result.Load(filepath.Join(results, e.Name()))
				if err != nil {
					t.Errorf("run.json: %v", err)
				} else if r.Status != result.Interrupted {
					t.Errorf("run.json status %q, want interrupted", r.Status)
				}
			}
		})
	}
}
