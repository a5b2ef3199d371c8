package qemu

// Fault end-to-end tests: real QEMU (TCG), Debian's prebuilt kernel, and a
// /init that misbehaves on purpose (testdata/faultinit). Each fault must end
// in a named Outcome (or error) within its bound, with nothing left behind:
// no QEMU process of the run, no sockets. Skipped with -short. The verdicts
// the run stage gives these outcomes are checked in rig/run.

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

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/internal/testkernel"
	"github.com/rig-kernel/rig/rig/machine"
)

// faultConfig is a boot of faultinit in mode, its sockets in a private
// directory (so its QEMU process can be told apart from any other).
func faultConfig(t *testing.T, mode string) machine.Config {
	t.Helper()
	k := testKernel(t)
	dir, err := os.MkdirTemp("", "rigf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return machine.Config{
		Arch:        "x86_64",
		Accel:       "tcg",
		CPUs:        1, // see e2eConfig: Debian's kernel under 2-vCPU TCG
		Kernel:      k,
		Initramfs:   testkernel.FaultInitramfs(t, mode),
		Dir:         dir,
		BootTimeout: 60 * time.Second,
		RunTimeout:  120 * time.Second,
	}
}

// qemuPIDs lists the live QEMU processes whose argv mentions dir.
func qemuPIDs(dir string) []int {
	var pids []int
	m, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range m {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.Contains(filepath.Base(args[0]), "qemu-system") || !strings.Contains(string(b), dir) {
			continue
		}
		var pid int
		for _, c := range strings.TrimPrefix(filepath.Dir(f), "/proc/") {
			pid = pid*10 + int(c-'0')
		}
		pids = append(pids, pid)
	}
	return pids
}

// leftovers describes what a finished boot left behind: live QEMU processes
// of its directory and files in it (sockets); "none" if nothing.
func leftovers(dir string) string {
	var l []string
	for range qemuPIDs(dir) {
		l = append(l, "qemu process")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		l = append(l, e.Name())
	}
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// faultRow is one line of the fault table the tests log.
func faultRow(t *testing.T, fault, outcome string, took time.Duration, left string) {
	t.Helper()
	t.Logf("FAULT | %-28s | %-60s | %6.1fs | leftovers: %s", fault, outcome, took.Seconds(), left)
	if left != "none" {
		t.Errorf("%s left behind: %s", fault, left)
	}
}

// QEMU killed from outside mid-run: Boot returns the Outcome (not an
// error: the machine ran), with how the process died and no shutdown event.
func TestFaultQEMUKilled(t *testing.T) {
	cfg := faultConfig(t, "hang")
	var c collector
	start := time.Now()
	var killed time.Time
	o, err := machine.Boot(context.Background(), cfg, func(out machine.Output) {
		c.out(out)
		if out.Kind == machine.Event && out.Event.Ev == event.Hello {
			go func() {
				pids := qemuPIDs(cfg.Dir)
				if len(pids) != 1 {
					t.Errorf("want one QEMU process of %s, found %v", cfg.Dir, pids)
					return
				}
				killed = time.Now()
				_ = syscall.Kill(pids[0], syscall.SIGKILL)
			}()
		}
	})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if killed.IsZero() {
		t.Fatal("QEMU was never killed")
	}
	if o.Exit.Signal != syscall.SIGKILL || o.Shutdown != "" || o.TimedOut || o.BootTimedOut {
		t.Errorf("outcome: exit %q shutdown %q timed out %v/%v", o.Exit, o.Shutdown, o.TimedOut, o.BootTimedOut)
	}
	after := time.Since(killed)
	if after > 10*time.Second {
		t.Errorf("Boot returned %v after the kill", after)
	}
	faultRow(t, "QEMU killed (SIGKILL)", fmt.Sprintf("exit %s, shutdown %s, Boot returned %.1fs after the kill", o.Exit, orEmpty(string(o.Shutdown)), after.Seconds()), took, leftovers(cfg.Dir))
}

// The guest hangs forever: the run timeout stops it, on time, and QEMU is
// gone afterwards.
func TestFaultGuestHangs(t *testing.T) {
	cfg := faultConfig(t, "hang")
	cfg.RunTimeout = 15 * time.Second
	var c collector
	start := time.Now()
	o, err := machine.Boot(context.Background(), cfg, c.out)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !o.TimedOut || o.BootTimedOut {
		t.Errorf("TimedOut %v BootTimedOut %v", o.TimedOut, o.BootTimedOut)
	}
	// QEMU quits at once on "quit": the verdict must not wait for more
	// (it once waited 5 s more for a QMP reader stuck on a read error).
	if took < cfg.RunTimeout || took > cfg.RunTimeout+4*time.Second {
		t.Errorf("took %v for a %v run timeout", took, cfg.RunTimeout)
	}
	if got := strings.Join(c.eventKinds(), ","); got != "hello" {
		t.Errorf("events %q, want hello", got)
	}
	faultRow(t, "guest hangs (run timeout 15s)", fmt.Sprintf("TimedOut, exit %s, shutdown %s, QEMU lived %.1fs", o.Exit, orEmpty(string(o.Shutdown)), o.Wall.Seconds()), took, leftovers(cfg.Dir))
}

// The kernel panics at boot (PID 1 exits before any event): the machine
// resets (guest-reset with panic=-1, -no-reboot) and the console has the
// panic line.
func TestFaultPanicAtBoot(t *testing.T) {
	cfg := faultConfig(t, "panic")
	var c collector
	start := time.Now()
	o, err := machine.Boot(context.Background(), cfg, c.out)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if o.Shutdown != "guest-reset" || !o.Exit.Success() {
		t.Errorf("shutdown %q exit %q, want guest-reset, exited 0", o.Shutdown, o.Exit)
	}
	if !c.consoleHas("Kernel panic - not syncing: Attempted to kill init") {
		t.Errorf("console lacks the panic line")
	}
	if len(c.events) != 0 || o.FirstEvent != 0 {
		t.Errorf("events %v", c.eventKinds())
	}
	faultRow(t, "kernel panic at boot", "shutdown "+string(o.Shutdown)+", exit "+o.Exit.String(), took, leftovers(cfg.Dir))
}

// The guest powers off without its final event.
func TestFaultNoDone(t *testing.T) {
	cfg := faultConfig(t, "nodone")
	var c collector
	start := time.Now()
	o, err := machine.Boot(context.Background(), cfg, c.out)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.eventKinds(), ","); got != "hello" {
		t.Errorf("events %q, want hello", got)
	}
	if o.Shutdown != "guest-shutdown" || !o.Exit.Success() || o.TimedOut {
		t.Errorf("shutdown %q exit %q timed out %v", o.Shutdown, o.Exit, o.TimedOut)
	}
	faultRow(t, "power-off without done", "shutdown "+string(o.Shutdown)+", exit "+o.Exit.String(), took, leftovers(cfg.Dir))
}

// QEMU fails to start: a bad option, and missing firmware (a wrapper points
// -bios at a file that does not exist). Boot returns an error that
// names QEMU and quotes its complaint.
func TestFaultQEMUFailsToStart(t *testing.T) {
	t.Run("bad option", func(t *testing.T) {
		cfg := faultConfig(t, "nodone")
		cfg.CPUs = 100000 // more than any machine type allows
		start := time.Now()
		o, err := machine.Boot(context.Background(), cfg, nil)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("no error; outcome %+v", o)
		}
		msg := err.Error()
		if !strings.Contains(msg, "qemu-system-x86_64 failed to start") || !strings.Contains(msg, "qemu-system-x86_64:") {
			t.Errorf("error does not name the failure with QEMU's words: %v", err)
		}
		faultRow(t, "QEMU bad option (-smp 100000)", firstLine(msg), took, leftovers(cfg.Dir))
	})
	t.Run("missing firmware", func(t *testing.T) {
		real, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			t.Skip(err)
		}
		bin := t.TempDir()
		wrapper := "#!/bin/sh\nexec " + real + " -bios /nonexistent/firmware/bios-256k.bin \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		cfg := faultConfig(t, "nodone")
		start := time.Now()
		o, err := machine.Boot(context.Background(), cfg, nil)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("no error; outcome %+v", o)
		}
		msg := err.Error()
		if !strings.Contains(msg, "failed to start") || !strings.Contains(strings.ToLower(msg), "bios") {
			t.Errorf("error does not name the missing firmware: %v", err)
		}
		faultRow(t, "QEMU missing firmware (-bios)", firstLine(msg), took, leftovers(cfg.Dir))
	})
	t.Run("missing binary", func(t *testing.T) {
		cfg := faultConfig(t, "nodone")
		t.Setenv("PATH", t.TempDir())
		start := time.Now()
		_, err := machine.Boot(context.Background(), cfg, nil)
		took := time.Since(start)
		var ee *exec.Error
		if err == nil || !errors.As(err, &ee) || !strings.Contains(err.Error(), "install the qemu-system-x86 package") {
			t.Errorf("err = %v", err)
		}
		faultRow(t, "QEMU not installed", firstLine(errString(err)), took, leftovers(cfg.Dir))
	})
}

func orEmpty(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
