package run_test

// Fault and flood end-to-end tests of the run stage: run.Boot (what `rig
// boot --kernel --initramfs` does) with real QEMU (TCG), Debian's prebuilt
// kernel from the rig cache (<cache>/testkernel, fetched by the
// rig/machine/qemu end-to-end tests) and a /init that misbehaves on purpose
// (rig/machine/qemu/testdata/faultinit). Each fault must end in its named
// verdict within its bound, with nothing left behind. Skipped with -short.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/testkernel"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

func e2eKernel(t *testing.T) string {
	t.Helper()
	return testkernel.Get(t)
}

// qemuOf lists the live QEMU processes whose argv mentions s.
func qemuOf(s string) []int {
	var pids []int
	m, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range m {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if strings.Contains(filepath.Base(args[0]), "qemu-system") && strings.Contains(string(b), s) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			pids = append(pids, pid)
		}
	}
	return pids
}

type faultCase struct {
	mode       string
	runTimeout time.Duration
	// during runs beside the boot, given the results directory and the
	// initramfs path (which names the QEMU process).
	during func(t *testing.T, results, initrd string)
}

type faultResult struct {
	r      *result.Run
	cell   result.Cell
	dir    string
	took   time.Duration
	left   string
	hwmKiB int64
}

// bootFault runs one fault through run.Boot and checks for leftovers: a
// QEMU process of this boot, or anything in the private TMPDIR (sockets).
func bootFault(t *testing.T, fc faultCase) faultResult {
	t.Helper()
	kernel := e2eKernel(t)
	initrd := testkernel.FaultInitramfs(t, fc.mode)
	results, cacheDir := t.TempDir(), t.TempDir()
	tmp, err := os.MkdirTemp("/tmp", "rt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Setenv("TMPDIR", tmp)
	// One vCPU: Debian's distro kernel can oops in its boot-time text
	// patching under 2-vCPU multi-threaded TCG (see rig/machine/qemu).
	o := run.Options{Arch: "x86_64", Accel: "tcg", CPUs: 1, Results: results, Cache: cacheDir,
		BootTimeout: 60 * time.Second, RunTimeout: fc.runTimeout, Duration: 2 * time.Second, Seed: 1,
		// The fault init sends no progress while it floods the console:
		// only the run timeout bounds these boots.
		EventTimeout: fc.runTimeout}
	if fc.during != nil {
		go fc.during(t, results, initrd)
	}
	resetHWM(t)
	start := time.Now()
	r, dir, err := run.Boot(context.Background(), o, run.BootOptions{Kernel: kernel, Initramfs: initrd})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("run.Boot: %v", err)
	}
	if len(r.Cells) != 1 {
		t.Fatalf("%d cells", len(r.Cells))
	}
	var left []string
	for range qemuOf(initrd) {
		left = append(left, "qemu process")
	}
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		left = append(left, "$TMPDIR/"+e.Name())
	}
	fr := faultResult{r: r, cell: r.Cells[0], dir: dir, took: took, left: "none", hwmKiB: vmHWM(t)}
	if len(left) > 0 {
		fr.left = strings.Join(left, ", ")
		t.Errorf("left behind: %s", fr.left)
	}
	if fr.r.Status.ExitCode() != fr.cell.Status.ExitCode() {
		t.Errorf("run status %s, cell %s", r.Status, fr.cell.Status)
	}
	var stages []string
	for _, s := range fr.cell.Stages {
		stages = append(stages, fmt.Sprintf("%s %.1fs", s.Name, s.Elapsed.Seconds()))
	}
	t.Logf("stages: %s", strings.Join(stages, ", "))
	t.Logf("FAULT | %-24s | %-11s | %6.1fs | leftovers: %s | exit %d | cause: %s",
		fc.mode, fr.cell.Status, took.Seconds(), fr.left, r.Status.ExitCode(), fr.cell.Cause)
	return fr
}

func resetHWM(t *testing.T) {
	// "5" resets the peak RSS (VmHWM) to the current RSS.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset VmHWM: %v", err)
	}
}

func vmHWM(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func wantCause(t *testing.T, fr faultResult, status result.Status, parts ...string) {
	t.Helper()
	if fr.cell.Status != status {
		t.Errorf("status %s, want %s (cause %q)", fr.cell.Status, status, fr.cell.Cause)
	}
	for _, p := range parts {
		if !strings.Contains(fr.cell.Cause, p) {
			t.Errorf("cause %q lacks %q", fr.cell.Cause, p)
		}
	}
}

// QEMU killed from outside while the guest runs: an infrastructure error
// that says so.
func TestRunFaultQEMUKilled(t *testing.T) {
	fr := bootFault(t, faultCase{mode: "hang", runTimeout: 120 * time.Second,
		during: func(t *testing.T, results, initrd string) {
			// Kill once the guest has said hello (events.jsonl is written
			// as events arrive).
			deadline := time.Now().Add(90 * time.Second)
			for time.Now().Before(deadline) {
				m, _ := filepath.Glob(filepath.Join(results, "*", "*", "events.jsonl"))
				if len(m) == 1 {
					if b, _ := os.ReadFile(m[0]); strings.Contains(string(b), `"hello"`) {
						for _, pid := range qemuOf(initrd) {
							_ = syscall.Kill(pid, syscall.SIGKILL)
						}
						return
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}})
	wantCause(t, fr, result.InfraError, "killed from outside", "killed by signal 9")
	if fr.r.Status.ExitCode() != 3 {
		t.Errorf("exit code %d, want 3", fr.r.Status.ExitCode())
	}
}

// The guest hangs: a timeout at the bound.
func TestRunFaultGuestHangs(t *testing.T) {
	const bound = 20 * time.Second
	fr := bootFault(t, faultCase{mode: "hang", runTimeout: bound})
	wantCause(t, fr, result.Timeout, "run timeout (20s)")
	if fr.took < bound || fr.took > bound+8*time.Second { // boot, quit, reports
		t.Errorf("verdict after %v for a %v run timeout", fr.took, bound)
	}
}

// The kernel panics at boot: a boot error quoting the panic.
func TestRunFaultPanicAtBoot(t *testing.T) {
	fr := bootFault(t, faultCase{mode: "panic", runTimeout: 120 * time.Second})
	wantCause(t, fr, result.BootError, "Kernel panic - not syncing: Attempted to kill init", "console.log:")
}

// The guest powers off without its final event.
func TestRunFaultNoDone(t *testing.T) {
	fr := bootFault(t, faultCase{mode: "nodone", runTimeout: 120 * time.Second})
	wantCause(t, fr, result.Fail, "guest exited without verdict", "guest-shutdown")
}

// QEMU cannot start (its firmware is missing): an infrastructure error
// naming QEMU and its complaint.
func TestRunFaultQEMUFailsToStart(t *testing.T) {
	realQEMU, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nexec " + realQEMU + " -bios /nonexistent/firmware/bios-256k.bin \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	fr := bootFault(t, faultCase{mode: "nodone", runTimeout: 120 * time.Second})
	wantCause(t, fr, result.InfraError, "qemu-system-x86_64 failed to start", "could not load PC BIOS '/nonexistent/firmware/bios-256k.bin'")
}

// A guest printing to the console as fast as it can for 20 s, with one line
// of 2 MiB: the run passes, the long line is cut and marked in console.log,
// console.log stays under its cap, and the rig's peak RSS stays bounded.
func TestRunConsoleFlood(t *testing.T) {
	fr := bootFault(t, faultCase{mode: "flood", runTimeout: 180 * time.Second})
	wantCause(t, fr, result.Pass)
	log := filepath.Join(fr.dir, fr.cell.ID, "console.log")
	fi, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var floodBytes string
	for _, tt := range fr.cell.Tests {
		floodBytes = tt.Evidence["bytes"]
	}
	t.Logf("flood: guest wrote %s bytes, console.log %d bytes (%d console lines), rig peak RSS (VmHWM) %d MiB",
		floodBytes, fi.Size(), fr.cell.ConsoleLines, fr.hwmKiB>>10)
	if !strings.Contains(string(b), "[rig: line cut at 65536 bytes]") {
		t.Errorf("the 2 MiB line is not cut and marked in console.log")
	}
	if fi.Size() > 32<<20+256 {
		t.Errorf("console.log %d bytes: over its cap", fi.Size())
	}
	if fr.hwmKiB > 300<<10 {
		t.Errorf("peak RSS %d MiB", fr.hwmKiB>>10)
	}
	if fr.cell.ConsoleLines < 1000 {
		t.Errorf("only %d console lines: no flood?", fr.cell.ConsoleLines)
	}
}

// The verdicts of the machine faults, as the run stage decides them.
func TestDecideMachineFaults(t *testing.T) {
	hello := run.Observed{Hello: true, ConsoleTail: []string{"faultinit: mode hang"}}
	for _, tc := range []struct {
		name   string
		out    machine.Outcome
		ob     run.Observed
		status result.Status
		want   string
	}{
		{"SIGKILL from outside", machine.Outcome{Exit: machine.KilledBy(syscall.SIGKILL)}, hello, result.InfraError, "killed from outside while tests ran (no shutdown event, killed by signal 9 (killed))"},
		{"SIGTERM from outside", machine.Outcome{Exit: machine.Exited(0), Shutdown: "host-signal"}, hello, result.InfraError, "killed from outside while tests ran (host-signal, exited 0)"},
		{"killed by the rig at the run timeout", machine.Outcome{Exit: machine.KilledBy(syscall.SIGTERM), TimedOut: true}, hello, result.Timeout, "run timeout"},
		{"power-off without done", machine.Outcome{Exit: machine.Exited(0), Shutdown: "guest-shutdown"}, hello, result.Fail, "guest exited without verdict (guest-shutdown, exited 0)"},
	} {
		st, cause := run.Decide(&tc.out, tc.ob)
		if st != tc.status || !strings.Contains(cause, tc.want) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, st, cause, tc.status, tc.want)
		}
	}
}
