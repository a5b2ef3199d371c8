package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/machine/qemu" // also registers the QEMU backend
)

// Image is a kernel and initramfs to boot.
type Image struct {
	Arch      string
	Kernel    string
	Initramfs string
	// Today is today's kernel (BuildToday) where the arch's kernel is no
	// longer today's; "" means Kernel is. TodayErr says why it is missing.
	Today, TodayErr string
}

// withToday is img with today's kernel where it has one of its own.
func (img Image) withToday() Image {
	if img.Today != "" {
		img.Kernel = img.Today
	}
	return img
}

// probeCmdline makes the guest send hello and done, then power off.
const probeCmdline = machine.ProbeCmdline

// RigBoot boots img through machine.Boot (the rig's own path: QMP, -S,
// sockets) with the probe guest, and returns the time to the first guest
// event. A boot that sends no event, or does not end in a guest power-off,
// is an error.
func RigBoot(ctx context.Context, img Image) (time.Duration, error) {
	o, err := machine.Boot(ctx, machine.Config{Arch: img.Arch, Accel: "tcg", Kernel: img.Kernel,
		Initramfs: img.Initramfs, Cmdline: probeCmdline, BootTimeout: 60 * time.Second, RunTimeout: 2 * time.Minute}, nil)
	if err != nil {
		return 0, err
	}
	if o.FirstEvent == 0 {
		return 0, fmt.Errorf("no guest event (%s, %s)", o.Exit, o.Shutdown)
	}
	if o.Shutdown != "guest-shutdown" {
		return o.FirstEvent, fmt.Errorf("machine did not power off cleanly (shutdown %q, %s)", o.Shutdown, o.Exit)
	}
	return o.FirstEvent, nil
}

// Variant changes the raw command, to try boot options without touching
// the rig: a machine or CPU other than the arch table's, extra QEMU
// arguments, extra kernel arguments.
type Variant struct {
	Machine, CPU, Accel string
	Cmdline             string // replaces the rig's kernel command line
	Args                []string
	Append              string
	// KillAfterDone ends QEMU once the guest's done event arrived: for a
	// variant whose guest cannot power the machine off (acpi=off on x86).
	KillAfterDone bool
	// VirtioEvents puts the events port on a virtio console (hvc0) on an
	// arch whose events port is a second UART (for -M microvm).
	VirtioEvents bool
}

// RawArgv is the hand-written minimal QEMU command for img: the same
// machine, CPU, size and kernel command line as the rig, but no QMP, no
// -S and no sockets. The console goes to consoleLog; the guest's events
// port is QEMU's stdout.
func RawArgv(img Image, v Variant, consoleLog string) ([]string, error) {
	a, err := arch.Lookup(img.Arch)
	if err != nil {
		return nil, err
	}
	// The rig's own kernel command line, so the kernel does the same work.
	_, cmdline, err := qemu.Argv(machine.Config{Arch: a.Name, Accel: "tcg", Kernel: img.Kernel, Cmdline: probeCmdline}, os.TempDir())
	if err != nil {
		return nil, err
	}
	if v.Cmdline != "" {
		cmdline = v.Cmdline
	}
	if v.Append != "" {
		cmdline += " " + v.Append
	}
	if v.VirtioEvents && !a.VirtioEvents {
		cmdline = strings.Replace(cmdline, "rig.events="+a.Events, "rig.events=/dev/hvc0", 1)
	}
	m, cpu, accel := a.Machine, a.TCGCPU, "tcg"
	if v.Machine != "" {
		m = v.Machine
	}
	if v.CPU != "" {
		cpu = v.CPU
	}
	if v.Accel != "" {
		accel = v.Accel
	}
	argv := []string{a.QEMU, "-M", m, "-accel", accel}
	if cpu != "" {
		argv = append(argv, "-cpu", cpu)
	}
	argv = append(argv, "-smp", strconv.Itoa(machine.DefaultCPUs), "-m", strconv.Itoa(machine.DefaultMemoryMB),
		"-kernel", img.Kernel, "-initrd", img.Initramfs, "-append", cmdline,
		"-display", "none", "-no-reboot", "-nodefaults",
		"-chardev", "file,id=con,path="+consoleLog, "-serial", "chardev:con",
		"-chardev", "stdio,id=ev,signal=off")
	if a.VirtioEvents || v.VirtioEvents {
		argv = append(argv, "-device", "virtio-serial-device", "-device", "virtconsole,chardev=ev")
	} else {
		argv = append(argv, "-serial", "chardev:ev")
	}
	argv = append(argv, "-nic", "none")
	return append(argv, v.Args...), nil
}

// RawTimes is what RawBoot measured.
type RawTimes struct {
	First time.Duration // process start to the first byte on the events port
	Wall  time.Duration // the process's whole life
	// CPU is the CPU time QEMU had used by the first event (a
	// load-independent view of the work, for comparing options).
	CPU time.Duration
}

// RawBoot runs RawArgv and measures it. A non-empty consoleLog keeps the
// console there.
func RawBoot(ctx context.Context, img Image, v Variant, consoleLog string) (RawTimes, error) {
	var t RawTimes
	if consoleLog == "" {
		dir, err := os.MkdirTemp("", "rig-bench-")
		if err != nil {
			return t, err
		}
		defer os.RemoveAll(dir)
		consoleLog = filepath.Join(dir, "console.log")
	}
	argv, err := RawArgv(img, v, consoleLog)
	if err != nil {
		return t, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return t, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return t, err
	}
	r := bufio.NewReader(out)
	if _, err := r.ReadByte(); err == nil {
		t.First = time.Since(start)
		t.CPU = procCPU(cmd.Process.Pid)
	}
	var rest string
	if v.KillAfterDone {
		rest = readUntil(r, `"done"`)
		if strings.Contains(rest, `"done"`) {
			cmd.Process.Kill()
		}
	} else {
		rest, _ = r.ReadString(0) // drain to EOF: hello, done
	}
	err = cmd.Wait()
	t.Wall = time.Since(start)
	killed := v.KillAfterDone && strings.Contains(rest, `"done"`)
	switch {
	case err != nil && !killed:
		return t, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	case t.First == 0:
		return t, errors.New("no output on the events port")
	case !strings.Contains(rest, `"done"`):
		return t, errors.New("no done event on the events port")
	}
	return t, nil
}

// readUntil reads r until what has been read contains s, or to EOF.
func readUntil(r *bufio.Reader, s string) string {
	var b strings.Builder
	for !strings.Contains(b.String(), s) {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			break
		}
	}
	return b.String()
}

// procCPU returns a process's user+system CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
