// Command rig-guest is the stress guest: /init of the rig's initramfs. It
// reads rig.* options from /proc/cmdline, runs the tests, sends events,
// dumps /dev/kmsg and powers off whatever happens (docs/protocol.md). Run
// as a program it takes the same options as flags and exits 0 or 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/config"
	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/kmsg"
	"github.com/rig-kernel/rig/guest/port"
	"github.com/rig-kernel/rig/guest/runner"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/child"
	"github.com/rig-kernel/rig/guest/stress/exectest"
	"github.com/rig-kernel/rig/guest/stress/killlock"
	"github.com/rig-kernel/rig/guest/stress/kselftest"
	"github.com/rig-kernel/rig/guest/stress/ownerdeath"
	"github.com/rig-kernel/rig/guest/stress/piconsistency"
	"github.com/rig-kernel/rig/guest/stress/pigiveup"
	"github.com/rig-kernel/rig/guest/stress/pihandover"
	"github.com/rig-kernel/rig/guest/stress/unmapremap"
	"github.com/rig-kernel/rig/guest/sysinit"
)

const version = "0.1"

const maxKmsg = 5000

// tests is every guest test, in the catalog's order (by name).
var tests = []stress.Test{
	kselftest.Test,
	piconsistency.Test,
	pigiveup.Test,
	pihandover.Test,
	killlock.InLock,
	killlock.InUnlock,
	ownerdeath.Test,
	unmapremap.Test,
}

// execSkipped names the files of the image's exec directory that are no
// test, and why (reported after hello).
var execSkipped []string

// addExecTests adds the programs packed with --exec to tests.
func addExecTests() {
	ex, skipped := exectest.Tests(exectest.Dir, stress.Names(tests))
	tests, execSkipped = append(tests, ex...), skipped
}

// helpers are the child helpers of every test.
func helpers() []stress.Helpers {
	var h []stress.Helpers
	for _, t := range tests {
		h = append(h, t.Helpers)
	}
	return h
}

func main() {
	child.Main(helpers()...)
	addExecTests()
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2) // userfaultfd tests need a second P even on one vCPU
	}
	if os.Getpid() == 1 {
		pid1()
	}
	os.Exit(host())
}

// pid1 never returns: every path ends in PowerOff.
func pid1() {
	console := io.Writer(os.Stdout)
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(console, "rig-guest: panic: %v\n%s\n", p, debug.Stack())
		}
		sysinit.PowerOff()
	}()
	setupErr := sysinit.Setup()
	if c, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
		console = c
	}
	if setupErr != nil {
		fmt.Fprintf(console, "rig-guest: setup: %v\n", setupErr)
	}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fmt.Fprintf(console, "rig-guest: %v\n", err)
	}
	cfg, cfgErr := config.Parse(string(b))
	evOut, err := port.Open(cfg.Events)
	if err != nil {
		fmt.Fprintf(console, "rig-guest: event port %s: %v; sending events to the console\n", cfg.Events, err)
		evOut = nopCloser{console}
	}
	w := event.NewWriter(evOut)
	s := session{cfg: cfg, cfgErr: cfgErr, w: w, console: console, kmsg: true}
	s.startWatchdog(func() { sysinit.PowerOff() })
	s.run()
	evOut.Close()
	if cfg.Shell {
		fmt.Fprintf(console, "rig-guest: starting %s\n", sysinit.Shell)
		if err := sysinit.RunShell("/dev/console"); err != nil {
			fmt.Fprintf(console, "rig-guest: shell: %v\n", err)
		}
	}
	fmt.Fprintln(console, "rig-guest: powering off")
}

func host() int {
	cfg := config.Default()
	var testList string
	fs := flag.NewFlagSet("rig-guest", flag.ContinueOnError)
	fs.StringVar(&testList, "tests", "", "comma-separated tests to run (default: all: "+strings.Join(stress.Names(tests), ",")+")")
	fs.Int64Var(&cfg.Seed, "seed", 0, "seed (default: from the time; always reported)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "duration of each natural test")
	fs.IntVar(&cfg.MinKills, "min-kills", 0, "natural kill tests keep going until this many kills (bounded by -duration)")
	fs.StringVar(&cfg.Events, "events", "-", `event output path, or "-" for stdout`)
	fs.DurationVar(&cfg.Watchdog, "watchdog", 0, "give up after this long (default: duration*tests + 60s)")
	fs.BoolVar(&cfg.Probe, "probe", false, "send hello and done only")
	dumpKmsg := fs.Bool("kmsg", false, "dump /dev/kmsg as kmsg events at the end")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "seed":
			cfg.SeedSet = true
		case "tests":
			cfg.TestsSet = true
			for _, t := range strings.Split(testList, ",") {
				if t = strings.TrimSpace(t); t != "" {
					cfg.Tests = append(cfg.Tests, t)
				}
			}
		}
	})
	out, err := port.Open(cfg.Events)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rig-guest:", err)
		return 2
	}
	defer out.Close()
	s := session{cfg: cfg, w: event.NewWriter(out), console: os.Stderr, kmsg: *dumpKmsg}
	s.startWatchdog(func() { os.Exit(3) })
	if !s.run() {
		return 1
	}
	return 0
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// session is one run of the protocol: hello, tests, kmsg, done.
type session struct {
	cfg     config.Config
	cfgErr  error
	w       *event.Writer
	console io.Writer
	kmsg    bool
}

func (s *session) names() []string {
	switch {
	case s.cfg.TestsSet:
		return append([]string{}, s.cfg.Tests...)
	case s.cfg.Shell:
		return []string{}
	}
	return stress.Names(tests)
}

func (s *session) startWatchdog(fire func()) {
	if s.cfg.Probe {
		return
	}
	d := s.watchdog()
	time.AfterFunc(d, func() {
		s.w.Send(event.Event{Ev: event.Log, Msg: "watchdog fired"})
		fmt.Fprintf(s.console, "rig-guest: watchdog fired after %v\n", d)
		fire()
	})
}

// watchdog is when the guest gives up: rig.watchdog, or by default after
// every selected test's own timeout (a test that hangs is stopped there
// and reported) plus the runner's grace, plus a minute.
func (s *session) watchdog() time.Duration {
	names := s.names()
	d := s.cfg.WatchdogFor(len(names))
	if s.cfg.Watchdog > 0 {
		return d
	}
	var sum time.Duration
	for _, n := range names {
		for _, t := range tests {
			if t.Name == n {
				sum += t.Timeout(s.cfg.Duration) + runner.DefaultGrace
			}
		}
	}
	return max(d, sum+60*time.Second)
}

func (s *session) hello() string {
	var u unix.Utsname
	unix.Uname(&u)
	rel := unix.ByteSliceToString(u.Release[:])
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" && len(st.Value) >= 12 {
				v += "+" + st.Value[:12]
			}
		}
	}
	return fmt.Sprintf("rig-guest %s kernel %s vcpus %d", v, rel, runtime.NumCPU())
}

// kernelIdentity is what the running kernel says it is: the host compares
// uts_version with the build id of the image it meant to boot.
func kernelIdentity() map[string]string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil
	}
	return map[string]string{
		event.KernelRelease: unix.ByteSliceToString(u.Release[:]),
		event.KernelVersion: unix.ByteSliceToString(u.Version[:]),
	}
}

// run sends the whole protocol and reports whether every test passed or
// was skipped.
func (s *session) run() bool {
	hello := s.hello()
	s.w.Send(event.Event{Ev: event.Hello, Msg: hello, Evidence: kernelIdentity()})
	fmt.Fprintf(s.console, "rig-guest: %s\n", hello)
	for _, x := range execSkipped {
		s.w.Send(event.Event{Ev: event.Log, Msg: "exec directory: " + x})
	}
	ok := true
	if s.cfgErr != nil {
		msg := "bad kernel command line: " + s.cfgErr.Error()
		s.w.Send(event.Event{Ev: event.Result, Test: "rig.cmdline", Status: event.Error, Reason: msg})
		fmt.Fprintf(s.console, "rig-guest: %s\n", msg)
		ok = false
	} else if !s.cfg.Probe {
		seed := s.cfg.Seed
		if !s.cfg.SeedSet {
			seed = time.Now().UnixNano()&(1<<53-1) | 1
		}
		s.w.Send(event.Event{Ev: event.Log, Msg: fmt.Sprintf("seed %d", seed)})
		r := runner.Runner{Tests: tests, Events: s.w, Console: s.console, Seed: seed, Duration: s.cfg.Duration, MinKills: s.cfg.MinKills}
		_, ok = r.Run(context.Background(), s.names())
	}
	if s.kmsg && !s.cfg.Probe {
		n, err := kmsg.Dump("/dev/kmsg", maxKmsg, func(r kmsg.Record) {
			s.w.Send(event.Event{Ev: event.Kmsg, Msg: r.String()})
		})
		if err != nil {
			s.w.Send(event.Event{Ev: event.Log, Msg: fmt.Sprintf("kmsg dump stopped after %d records: %v", n, err)})
		}
	}
	s.w.Send(event.Event{Ev: event.Done})
	return ok
}
