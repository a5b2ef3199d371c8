// Command init is a tiny /init for the QEMU backend's end-to-end tests. It
// mounts devtmpfs and proc, prints "hello from init" on the console, sends
// hello and done events on the port named by rig.events= and powers off.
// rig.test= on the kernel command line changes its behaviour:
//
//	hang     send hello, then sleep forever (the host's run timeout)
//	silent   send nothing, sleep forever (the host's boot timeout)
//	panic    send hello, then exit (PID 1 exiting panics the kernel)
//	garbage  send a non-event line before hello
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	_ = os.MkdirAll("/dev", 0o755)
	_ = os.MkdirAll("/proc", 0o755)
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""); err != nil {
		fmt.Println("init: mount /dev:", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		fmt.Println("init: mount /proc:", err)
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	mode := param(string(cmdline), "rig.test")
	evPath := param(string(cmdline), "rig.events")
	if evPath == "" {
		evPath = "/dev/ttyS1"
	}
	fmt.Println("hello from init")
	if mode == "silent" {
		sleepForever()
	}
	ev, err := os.OpenFile(evPath, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		fmt.Println("init: open events port:", err)
		powerOff()
	}
	send := func(s string) {
		ev.WriteString(s + "\n")
		_ = unix.IoctlSetInt(int(ev.Fd()), unix.TCSBRK, 1) // tcdrain
	}
	if mode == "garbage" {
		send("this is not an event \x00\xff")
	}
	send(`{"ev":"hello","t":0}`)
	switch mode {
	case "hang":
		sleepForever()
	case "panic":
		os.Exit(3)
	}
	send(`{"ev":"done","t":0}`)
	powerOff()
}

func param(cmdline, name string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func powerOff() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Println("init: power off:", err)
	}
	sleepForever()
}
