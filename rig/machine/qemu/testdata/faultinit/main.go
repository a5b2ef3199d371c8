// Command faultinit is a /init for the fault and flood end-to-end tests. It
// mounts devtmpfs and proc, then misbehaves as its mode says. The mode is
// rig.test= on the kernel command line, or else the one linked in with
// -ldflags "-X main.mode=...":
//
//	flood    send hello and start, print to the console as fast as it can
//	         for rig.flood= seconds (default 20) with one line of 2 MiB in
//	         the middle, then a passing result, done, and power off
//	nodone   send hello, then power off without the done event
//	hang     send hello, then sleep forever
//	panic    exit at once: PID 1 exiting panics the kernel before hello
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

var mode = "" // set with -ldflags

func main() {
	_ = os.MkdirAll("/dev", 0o755)
	_ = os.MkdirAll("/proc", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	cmdline, _ := os.ReadFile("/proc/cmdline")
	if m := param(string(cmdline), "rig.test"); m != "" {
		mode = m
	}
	fmt.Println("faultinit: mode", mode)
	if mode == "panic" {
		os.Exit(7)
	}
	evPath := param(string(cmdline), "rig.events")
	if evPath == "" {
		evPath = "/dev/ttyS1"
	}
	ev, err := os.OpenFile(evPath, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		fmt.Println("faultinit: open events port:", err)
		powerOff()
	}
	send := func(s string) {
		ev.WriteString(s + "\n")
		_ = unix.IoctlSetInt(int(ev.Fd()), unix.TCSBRK, 1) // tcdrain
	}
	send(`{"ev":"hello","msg":"faultinit ` + mode + `","t":0}`)
	switch mode {
	case "hang":
		sleepForever()
	case "nodone":
		powerOff()
	case "flood":
		secs, _ := strconv.Atoi(param(string(cmdline), "rig.flood"))
		if secs <= 0 {
			secs = 20
		}
		send(`{"ev":"start","test":"flood","t":0}`)
		n := flood(time.Duration(secs) * time.Second)
		send(fmt.Sprintf(`{"ev":"result","test":"flood","status":"pass","evidence":{"bytes":"%d"},"t":0}`, n))
	}
	send(`{"ev":"done","t":0}`)
	powerOff()
}

// flood writes console lines for d, with one 2 MiB line halfway; it
// returns the bytes written.
func flood(d time.Duration) int64 {
	con, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		fmt.Println("faultinit: open console:", err)
		return 0
	}
	w := bufio.NewWriterSize(con, 64<<10)
	start := time.Now()
	var n int64
	long := false
	for i := 0; time.Since(start) < d; i++ {
		if !long && time.Since(start) > d/2 {
			long = true
			k, _ := w.WriteString(strings.Repeat("L", 2<<20) + "\n")
			n += int64(k)
		}
		k, _ := fmt.Fprintf(w, "flood %d: the quick brown fox jumps over the lazy dog \x1b[31m\x00\xff\n", i)
		n += int64(k)
	}
	w.Flush()
	con.Close()
	return n
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
		fmt.Println("faultinit: power off:", err)
	}
	sleepForever()
}
