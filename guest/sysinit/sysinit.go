// Package sysinit does the guest's PID-1 duties: mount the pseudo file
// systems, run an interactive shell on the console, and power off (a PID 1
// that exits panics the kernel, so PowerOff never returns).
package sysinit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type mount struct {
	src, dst, fstype string
	flags            uintptr
	data             string
}

var mounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
}

// Setup mounts proc, sysfs, devtmpfs, /tmp and /dev/shm. It goes on after
// a failure and returns every problem (a file system already mounted, as
// devtmpfs is with CONFIG_DEVTMPFS_MOUNT, is not one).
func Setup() error {
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && err != unix.EBUSY {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// PowerOff syncs and powers the machine off. It never returns: if the
// reboot call fails it says so on stderr and sleeps.
func PowerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(os.Stderr, "rig-guest: power off failed: %v\n", err)
	for {
		time.Sleep(time.Hour)
	}
}

// Shell is the interactive shell of rig.shell=1.
const Shell = "/bin/gosh"

// RunShell runs Shell on the console as a session leader with the console
// as its controlling tty, and waits for it.
func RunShell(console string) error {
	if _, err := os.Stat(Shell); err != nil {
		return fmt.Errorf("no shell: %s is missing from the image", Shell)
	}
	tty, err := os.OpenFile(console, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer tty.Close()
	cmd := exec.Command(Shell)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = append(os.Environ(), "TERM=linux", "HOME=/tmp", "PATH=/bbin:/bin:/ubin:/usr/bin:/sbin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd.Run()
}
