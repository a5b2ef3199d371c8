package qemu

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/machine"
)

// archConfig is QEMU's view of one architecture: a row of rig/arch's table,
// the one place per-arch facts live.
type archConfig struct {
	Name         string
	Binary       string   // QEMU system emulator
	Package      string   // Debian package that has Binary
	Machine      string   // -M
	TCGCPU       string   // -cpu under TCG ("" means QEMU's default)
	KVMCPU       string   // -cpu under KVM
	Console      string   // console= device in the guest
	Events       string   // the events port in the guest (rig.events=)
	VirtioEvents bool     // events on a virtconsole (hvc0) instead of a second UART
	Cmdline      string   // arch-specific kernel arguments
	Args         []string // arch-specific QEMU arguments
}

func lookupArch(name string) (archConfig, error) {
	a, err := arch.Lookup(name)
	if err != nil {
		return archConfig{}, fmt.Errorf("qemu: %w", err)
	}
	return archConfig{Name: a.Name, Binary: a.QEMU, Package: a.QEMUPackage, Machine: a.Machine, TCGCPU: a.TCGCPU,
		KVMCPU: a.KVMCPU, Console: a.Console, Events: a.Events, VirtioEvents: a.VirtioEvents,
		Cmdline: strings.Join(nonEmpty(bootCmdline, a.Cmdline), " ")}, nil
}

// bootCmdline is added on every arch (the per-arch rest is rig/arch's
// Cmdline column). Measured under TCG with rig/bench and kept only after 50
// clean boots in a row: it skips the 256 legacy BSD ptys pty_init would
// register, which the guest never uses.
const bootCmdline = "pty.legacy_count=0"

// Socket names inside the work directory.
const (
	qmpSock     = "qmp.sock"
	consoleSock = "con.sock"
	eventsSock  = "ev.sock"
)

// Argv returns QEMU's argv and the full kernel command line for cfg
// (defaults applied), with its sockets in dir. The console and events
// chardevs connect to sockets the caller listens on (server=off), so no
// early output is lost; the machine starts paused (-S), has no network and
// no host filesystem, and exits instead of rebooting. The user's kernel
// arguments (cfg.Append) end the command line and the user's QEMU
// arguments (cfg.QEMUArgs) the argv.
func Argv(cfg machine.Config, dir string) (argv []string, cmdline string, err error) {
	pause := []string{"-S", "-qmp", "unix:" + opt(filepath.Join(dir, qmpSock)) + ",server=on,wait=off"}
	if cfg.GDBPort != 0 {
		// The rig's boot only: a gdb session is not part of a replay.
		pause = append(pause, "-gdb", fmt.Sprintf("tcp:127.0.0.1:%d", cfg.GDBPort))
	}
	return buildArgv(cfg, wiring{
		pause:   pause,
		console: "socket,id=con,path=" + opt(filepath.Join(dir, consoleSock)) + ",server=off",
		events:  "socket,id=ev,path=" + opt(filepath.Join(dir, eventsSock)) + ",server=off",
	})
}

// StandaloneArgv is Argv for a machine run without the rig (a cell's
// reproduce.sh): it starts at once (no -S, no QMP), the console is on
// QEMU's stdio (Ctrl-C ends QEMU) and the guest's events go to the file
// events. Everything else is Argv's, from the same code.
func StandaloneArgv(cfg machine.Config, events string) (argv []string, cmdline string, err error) {
	return buildArgv(cfg, wiring{
		console: "stdio,id=con",
		events:  "file,id=ev,path=" + opt(events),
	})
}

// wiring is how a machine is connected to whoever runs it: what pauses it
// before the first instruction, and the console and events chardevs.
type wiring struct {
	pause           []string
	console, events string
}

func buildArgv(cfg machine.Config, w wiring) (argv []string, cmdline string, err error) {
	a, err := lookupArch(cfg.Arch)
	if err != nil {
		return nil, "", err
	}
	cmdline = strings.Join(nonEmpty(
		"console="+a.Console,
		"panic=-1",
		"rig.events="+a.Events,
		a.Cmdline,
		strings.TrimSpace(cfg.Cmdline),
		strings.TrimSpace(cfg.Append),
	), " ")
	argv = []string{a.Binary, "-M", a.Machine, "-accel", cfg.Accel}
	cpu := a.TCGCPU
	switch cfg.Accel {
	case "kvm":
		cpu = a.KVMCPU
	case "tcg":
	default:
		return nil, "", fmt.Errorf("qemu: unknown accel %q", cfg.Accel)
	}
	if cpu != "" {
		argv = append(argv, "-cpu", cpu)
	}
	argv = append(argv,
		"-smp", strconv.Itoa(cfg.CPUs),
		"-m", strconv.Itoa(cfg.MemoryMB),
		"-kernel", cfg.Kernel,
	)
	if cfg.Initramfs != "" {
		argv = append(argv, "-initrd", cfg.Initramfs)
	}
	argv = append(argv,
		"-append", cmdline,
		"-display", "none",
		"-no-reboot",
		"-nodefaults",
	)
	argv = append(argv, w.pause...)
	argv = append(argv,
		"-chardev", w.console,
		"-serial", "chardev:con",
		"-chardev", w.events,
	)
	if a.VirtioEvents {
		argv = append(argv, "-device", "virtio-serial-device", "-device", "virtconsole,chardev=ev")
	} else {
		argv = append(argv, "-serial", "chardev:ev")
	}
	argv = append(argv, "-nic", "none")
	argv = append(argv, a.Args...)
	argv = append(argv, cfg.QEMUArgs...) // last: the user's word wins where QEMU lets a later option win
	return argv, cmdline, nil
}

// opt escapes a value inside a QEMU option list (commas are doubled).
func opt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

func nonEmpty(s ...string) []string {
	var r []string
	for _, x := range s {
		if x != "" {
			r = append(r, x)
		}
	}
	return r
}
