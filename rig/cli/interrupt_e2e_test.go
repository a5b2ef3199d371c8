package cli

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/rig/result"
)

// descendants returns the pids whose ancestry reaches pid (from /proc).
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// pidFD is a process by pidfd, opened while it runs, so that its end is
// an event (the fd becomes readable) and a reused PID cannot fool a check.
type pidFD struct {
	pid, fd int
	name    string
}

// pidfds opens a pidfd for each process still running.
func pidfds(pids []int) []pidFD {
	var fds []pidFD
	for _, p := range pids {
		name := procNames([]int{p})
		if fd, err := unix.PidfdOpen(p, 0); err == nil {
			fds = append(fds, pidFD{p, fd, name})
		}
	}
	return fds
}

// waitGone fails t for each process that has not ended within bound
// (init reaps orphans asynchronously), and closes the fds.
func waitGone(t *testing.T, fds []pidFD, bound time.Duration) {
	t.Helper()
	end := time.Now().Add(bound)
	for _, f := range fds {
		ms := max(int(time.Until(end).Milliseconds()), 0)
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLIN}}, ms)
		if err != nil || n != 1 {
			t.Errorf("process %d (%s) outlived the rig by %v", f.pid, f.name, bound)
		}
		unix.Close(f.fd)
	}
}

// TestE2EInterruptDuringBuild sends SIGINT to a real rig process while make
// is compiling: every process it started must be gone, run.json must say
// interrupted, the exit code must be 130, and the next run in the same build
// slot must work without any cleanup.
func TestE2EInterruptDuringBuild(t *testing.T) {
	root, results := e2e(t)
	bin := buildRig(t, root)
	cmd := exec.Command(bin, "run", "--series", filepath.Join(root, "patches/long-build"), "--results", results,
		"--tests", "robust-owner-death")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CI=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	// Wait for the build stage to start (the config stage line is printed
	// when it ends), then for make's compilers to appear.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(5 * time.Minute)
	var log []string
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("rig ended before building:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if strings.Contains(l, "x86_64: config:") {
				break wait
			}
		case <-deadline:
			t.Fatalf("no build after 5 minutes:\n%s", strings.Join(log, "\n"))
		}
	}
	var kids []int
	for i := 0; i < 100 && !strings.Contains(procNames(kids), "cc1"); i++ {
		time.Sleep(100 * time.Millisecond)
		kids = descendants(cmd.Process.Pid)
	}
	if !strings.Contains(procNames(kids), "make") {
		t.Fatalf("no make under rig: %s", procNames(kids))
	}
	t.Logf("interrupting rig with %d descendants: %s", len(kids), procNames(kids))
	fds := pidfds(kids)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for l := range lines {
			log = append(log, l)
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("rig still running 60 s after SIGINT")
	}
	t.Logf("rig exited %v in %s", err, time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("rig took %v to end after SIGINT, want at most 2 s", d)
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Errorf("exit code %d, want %d", code, ExitInterrupted)
	}
	waitGone(t, fds, 5*time.Second)
	ents, _ := os.ReadDir(results)
	if len(ents) != 1 {
		t.Fatalf("want one run directory, got %d", len(ents))
	}
	dir := filepath.Join(results, ents[0].Name())
	r, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := patched(t, r); r.Status != result.Interrupted || c.Status != result.Interrupted {
		t.Errorf("run.json: run %s, cell %s; want interrupted", r.Status, c.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, patched(t, r).ID, "build.log")); err != nil {
		t.Errorf("partial build log lost: %v", err)
	}
	for _, f := range []string{"summary.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written on interrupt: %v", f, err)
		}
	}

	// The same slot works afterwards, with no manual cleanup.
	if code, r, _, _ := rig(t, "run", "--results", results, "--tests", "robust-owner-death", "--duration", "2s"); code != 0 {
		t.Fatalf("run after the interrupt: exit %d, %+v", code, r)
	}
}

func procNames(pids []int) string {
	var n []string
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "comm"))
		if err == nil {
			n = append(n, strings.TrimSpace(string(b)))
		}
	}
	return strings.Join(n, ",")
}

// TestE2ETerminateDuringTests sends SIGTERM to a real rig while the guest's
// tests run in QEMU: QEMU must be gone, the exit code 130, run.json
// interrupted, and the console captured so far kept.
func TestE2ETerminateDuringTests(t *testing.T) {
	root, results := e2e(t)
	bin := buildRig(t, root)
	// pi-consistency runs for --duration: long enough to interrupt.
	cmd := exec.Command(bin, "run", "--arch", "x86_64", "--results", results, "--tests", "pi-consistency", "--duration", "120s")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CI=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	sc := bufio.NewScanner(stderr)
	booted := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "x86_64: boot: tcg") || strings.Contains(sc.Text(), "x86_64: boot: kvm") {
			booted = true
			break
		}
	}
	if !booted {
		t.Fatal("rig never reached the boot stage")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	// The guest is up and testing: its start event is on disk.
	testing := false
	for end := time.Now().Add(2 * time.Minute); !testing && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(results, "*", "x86_64", "events.jsonl"))
		for _, f := range m {
			b, _ := os.ReadFile(f)
			testing = testing || strings.Contains(string(b), `"ev":"start"`)
		}
	}
	if !testing {
		t.Fatal("the guest never started a test")
	}
	kids := descendants(cmd.Process.Pid)
	if !strings.Contains(procNames(kids), "qemu-system") {
		t.Fatalf("no QEMU under rig: %s", procNames(kids))
	}
	fds := pidfds(kids)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("rig still running 30 s after SIGTERM")
	}
	t.Logf("rig stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("rig took %v to end after SIGTERM, want at most 2 s", d)
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Errorf("exit code %d, want %d", code, ExitInterrupted)
	}
	waitGone(t, fds, 5*time.Second)
	ents, _ := os.ReadDir(results)
	if len(ents) != 1 {
		t.Fatalf("want one run directory, got %d", len(ents))
	}
	dir := filepath.Join(results, ents[0].Name())
	r, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != result.Interrupted {
		t.Errorf("run.json status %s, want interrupted", r.Status)
	}
	b, err := os.ReadFile(filepath.Join(dir, r.Cells[0].ID, "console.log"))
	if err != nil || !strings.Contains(string(b), "Linux version") {
		t.Errorf("console.log not kept: %v", err)
	}
}

// buildRig builds the rig binary from the checkout at root, for tests that
// need a real process to signal.
func buildRig(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rig")
	gb := exec.Command("go", "build", "-o", bin, "./cmd/rig")
	gb.Dir = root
	if out, err := gb.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
