package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/guest/catalog"
	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
)

// TestNames lists the guest's tests (the names rig.tests= and --tests take).
func TestNames() []string { return catalog.Names() }

func knownTest(name string) bool {
	_, ok := catalog.Lookup(name)
	return ok
}

// Caps on what one boot may write to disk: a flooding kernel must not fill
// it. Past a cap the file gets a marker line and the rest is counted.
const (
	consoleCap = 32 << 20
	eventsCap  = 8 << 20
	dmesgCap   = 16 << 20
)

// capped is a log file that stops at a size and says so.
type capped struct {
	f       *os.File
	n, max  int64
	dropped int64
	name    string
}

func openCapped(path string, max int64) (*capped, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &capped{f: f, max: max, name: filepath.Base(path)}, nil
}

func (c *capped) line(s string) {
	if c.dropped > 0 || c.n+int64(len(s))+1 > c.max { // once cut, keep nothing more
		if c.dropped == 0 {
			fmt.Fprintf(c.f, "[rig: %s cut at %d bytes: the rest was not kept]\n", c.name, c.n)
		}
		c.dropped++
		return
	}
	n, _ := c.f.WriteString(s + "\n")
	c.n += int64(n)
}

func (c *capped) close() {
	if c.dropped > 0 {
		fmt.Fprintf(c.f, "[rig: %d more lines dropped]\n", c.dropped)
	}
	c.f.Close()
}

// bootState collects what one boot streamed.
type bootState struct {
	mu        sync.Mutex
	console   *capped
	events    *capped
	dmesg     *capped
	scanner   *oops.Scanner
	lines     int
	nevents   int
	hello     bool
	booted    string // uname -v the guest reported in its hello
	done      bool
	helloAt   time.Duration
	doneAt    time.Duration
	results   []result.Test
	started   map[string]event.Event
	lastLines []string // console tail, for causes
	// programs are the cell's --exec'd tests; outputs their output logs
	// (exec-<name>.log), opened at their first line.
	dir      string
	programs []result.Program
	outputs  map[string]*capped
	// wedge is the first report that means the machine is wedged
	// (oops.Wedges), wedgeAt when its line came; onWedge is called once,
	// with b.mu held, when it comes.
	wedge   *oops.Report
	wedgeAt time.Duration
	onWedge func(oops.Report)
	// running are the tests started and not finished, in start order (a
	// test that says it is asleep lets the guest start the next beside
	// it: guest/runner); order is each test's place in the start order,
	// which results keep whichever finished first.
	running []string
	order   map[string]int
}

// WedgeGrace is how long the run stage lets a wedged machine go on after
// the report's first line, so that the report's stack reaches the console,
// before it stops the machine (docs/design.md, "Kernel reports").
const WedgeGrace = 3 * time.Second

var wedgeGrace = WedgeGrace // tests shorten it

// outputCap bounds one program's output log.
const outputCap = 8 << 20

// programLog is the file in the cell's directory that keeps the output of
// the --exec'd test called name.
func programLog(name string) string { return "exec-" + name + ".log" }

// output keeps a line of a program's output in its log. Names come from
// the guest: only the cell's own programs get a file.
func (b *bootState) output(test, line string) {
	if !slices.ContainsFunc(b.programs, func(p result.Program) bool { return p.Name == test }) {
		return
	}
	f := b.outputs[test]
	if f == nil {
		var err error
		if f, err = openCapped(filepath.Join(b.dir, programLog(test)), outputCap); err != nil {
			return
		}
		b.outputs[test] = f
	}
	f.line(line)
}

func (b *bootState) closeOutputs() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.outputs {
		f.close()
	}
}

func (b *bootState) out(o machine.Output) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch o.Kind {
	case machine.Console:
		b.lines++
		b.console.line(o.Line)
		for _, r := range b.scanner.Line(o.Line) {
			if b.wedge == nil && oops.Wedges(r.Kind) {
				b.wedge, b.wedgeAt = &r, o.Time
				if b.onWedge != nil {
					b.onWedge(r)
				}
			}
		}
		b.lastLines = append(b.lastLines, o.Line)
		if len(b.lastLines) > 30 {
			b.lastLines = b.lastLines[1:]
		}
	case machine.Event:
		b.nevents++
		ev := o.Event
		if ev.Ev != event.Kmsg {
			b.events.line(o.Line)
		}
		switch ev.Ev {
		case event.Hello:
			if !b.hello {
				b.hello, b.helloAt = true, o.Time
				b.booted = ev.Evidence[event.KernelVersion]
			}
		case event.Start:
			b.started[ev.Test] = ev
			b.running = append(b.running, ev.Test)
			if b.order == nil {
				b.order = map[string]int{}
			}
			if _, ok := b.order[ev.Test]; !ok {
				b.order[ev.Test] = len(b.order)
			}
		case event.Result:
			b.running = slices.DeleteFunc(b.running, func(n string) bool { return n == ev.Test })
			t := result.Test{Name: ev.Test, Status: ev.Status, Reason: ev.Reason, Evidence: ev.Evidence}
			if st, ok := b.started[ev.Test]; ok {
				t.Seed = st.Seed
				t.Seconds = ev.T - st.T
			}
			if b.outputs[ev.Test] != nil {
				if t.Evidence == nil {
					t.Evidence = map[string]string{}
				}
				t.Evidence["log"] = programLog(ev.Test)
			}
			b.addResult(t)
		case event.Output:
			b.output(ev.Test, ev.Msg)
		case event.Kmsg:
			b.dmesg.line(ev.Msg)
		case event.Done:
			b.done, b.doneAt = true, o.Time
		}
	}
}

// addResult adds t to the results, in the order the tests started (a
// result without a start goes last).
func (b *bootState) addResult(t result.Test) {
	place := func(name string) int {
		if i, ok := b.order[name]; ok {
			return i
		}
		return len(b.order)
	}
	i := len(b.results)
	for i > 0 && place(b.results[i-1].Name) > place(t.Name) {
		i--
	}
	b.results = slices.Insert(b.results, i, t)
}

func (c *cell) boot(ctx context.Context, kernel, initrd string) {
	o, s := c.opts, c.spec
	open := func(name string, max int64) *capped {
		f, err := openCapped(filepath.Join(c.dir, name), max)
		if err != nil {
			c.fail(result.InfraError, err.Error())
			return nil
		}
		return f
	}
	st := &bootState{scanner: oops.NewScanner(), started: map[string]event.Event{},
		dir: c.dir, programs: s.Programs, outputs: map[string]*capped{}}
	defer st.closeOutputs()
	if st.console = open("console.log", consoleCap); st.console == nil {
		return
	}
	defer st.console.close()
	if st.events = open("events.jsonl", eventsCap); st.events == nil {
		return
	}
	defer st.events.close()
	if st.dmesg = open("dmesg.txt", dmesgCap); st.dmesg == nil {
		return
	}
	defer st.dmesg.close()

	ntests := len(s.Tests)
	if ntests == 0 {
		ntests = len(TestNames()) + len(s.Programs)
	}
	args := []string{fmt.Sprintf("rig.seed=%d", s.Seed), "rig.duration=" + s.Duration.String()}
	if o.MinKills > 0 {
		args = append(args, fmt.Sprintf("rig.min-kills=%d", o.MinKills))
	}
	if len(s.Tests) > 0 || c.spec.Shell {
		args = append(args, "rig.tests="+strings.Join(s.Tests, ","))
	}
	if c.spec.Shell {
		args = append(args, "rig.shell=1")
	}
	if c.spec.GDB {
		args = append(args, "nokaslr") // vmlinux's addresses are gdb's
	}
	if f := c.needs.Factor(); f > 1 && !c.spec.Shell {
		// The guest's own watchdog (guest/config.WatchdogFor) stretches
		// as the host's timeouts do.
		args = append(args, "rig.watchdog="+(time.Duration(ntests)*s.Duration+scale(60*time.Second, f)).String())
	}
	if o.MemoryMB > 0 && o.MemoryMB < c.needs.MemoryMB {
		c.ui.Notice("%s: --memory %d is less than its config fragments ask for (%d MiB, from a \"# rig: memory=\" line); booting with %d as told",
			c.res.ID, o.MemoryMB, c.needs.MemoryMB, o.MemoryMB)
	}
	bootTimeout, runTimeout := c.timeouts(ntests)
	cfg := machine.Config{Arch: c.arch.Name, CPUs: o.CPUs, MemoryMB: c.memoryMB(), Kernel: kernel,
		Initramfs: initrd, Cmdline: strings.Join(args, " "), BootTimeout: bootTimeout, RunTimeout: runTimeout, Shell: c.spec.Shell}
	if c.spec.Shell {
		cfg.RunTimeout = 24 * time.Hour // a human is at the console
	}

	var accel string
	if err := c.stage("accel", func() (bool, string, error) {
		if !c.probes() {
			// KVM cannot run another arch's guest: no probe needed.
			accel = "tcg"
			return false, "tcg", nil
		}
		// Decided while the run's cells built (accelprobe.go), or now.
		a, notice, early, err := c.accels.answer(ctx, c)
		if !early {
			a, notice, err = c.environment().ResolveAccel(ctx, s.Accel, cfg, cache.KVMProbe.Path(o.Cache))
		}
		if err != nil {
			return false, "", err
		}
		if notice != "" {
			c.ui.Notice("%s", notice)
		}
		accel = a
		return notice == "" && s.Accel == "auto", a, nil
	}); err != nil {
		c.fail(result.InfraError, "accelerator: "+err.Error())
		return
	}
	cfg.Accel = accel
	// The user's arguments are the boot's, not the KVM probe's.
	cfg.Append, cfg.QEMUArgs = o.Append, o.QEMUArgs
	c.res.Accel = accel
	c.res.Seed = s.Seed
	c.ui.Stage(c.res.ID, "boot", fmt.Sprintf("%s, %d vCPUs, seed %d, tests %s", accel, max(cfg.CPUs, 2), s.Seed, strings.Join(orAll(s.Tests), ",")))
	if c.spec.GDB {
		if err := c.gdbStub(&cfg); err != nil {
			c.fail(result.InfraError, err.Error())
			return
		}
	}

	if !c.spec.Shell {
		c.writeReproducer(cfg)
	}

	// A kernel report that means the machine is wedged stops it WedgeGrace
	// later, with the report as the reason; not with a human at the console
	// or in gdb (a kernel held at a breakpoint reports stalls once resumed).
	bootCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if !c.spec.Shell && !c.spec.GDB {
		st.onWedge = func(r oops.Report) {
			time.AfterFunc(wedgeGrace, func() {
				stop(&machine.Stop{Reason: fmt.Sprintf("kernel %s (console.log:%d)", r.Kind, r.Line)})
			})
		}
	}
	cfg.EventTimeout = c.eventTimeout()
	start := time.Now()
	outcome, err := c.environment().Boot(bootCtx, cfg, st.out)
	wall := time.Since(start)
	if outcome != nil {
		c.res.QEMUArgv, c.res.QEMUVersion, c.res.Cmdline = outcome.Argv, outcome.QEMUVersion, outcome.Cmdline
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	c.res.Tests = st.results
	c.res.GuestEvents, c.res.ConsoleLines = st.nevents, st.lines
	oo, stacks := oopses(st.scanner)
	c.res.Oopses = append(c.res.Oopses, oo...)
	c.bootStages(start, wall, st)
	c.symbolize(ctx, stacks)
	if err != nil && outcome == nil || err != nil && ctx.Err() == nil {
		c.fail(result.InfraError, "machine: "+err.Error())
		c.keep(kernel, initrd)
		return
	}
	if ctx.Err() != nil {
		return // Run marks the run interrupted
	}
	if c.spec.Shell {
		if st.hello {
			c.fail(result.Pass, "")
		} else {
			c.fail(result.BootError, "the guest never started; console ends: "+lastLine(st.lastLines))
		}
		return
	}
	c.res.BootedVersion = st.booted
	ob := Observed{Hello: st.hello, Done: st.done, Results: st.results,
		WantBuildID: c.res.BuildID, BootedVersion: st.booted, Running: strings.Join(st.running, ", "),
		Oopses: c.res.Oopses, ConsoleTail: st.lastLines, BootTimeout: cfg.BootTimeout, RunTimeout: runTimeout,
		EventTimeout: cfg.EventTimeout}
	if st.wedge != nil {
		ob.WedgeLine = st.wedge.Line
	}
	status, cause := Decide(outcome, ob)
	c.fail(status, cause)
	c.keep(kernel, initrd)
}

func orAll(t []string) []string {
	if len(t) == 0 {
		return []string{"all"}
	}
	return t
}

// bootStages splits the machine's life into boot (to the first guest event),
// tests (to the done event) and poweroff (to QEMU's exit).
func (c *cell) bootStages(start time.Time, wall time.Duration, st *bootState) {
	add := func(name string, from, to time.Duration) {
		if to < from {
			to = from
		}
		c.res.Stages = append(c.res.Stages, result.Stage{Name: name, Start: start.Add(from), Elapsed: to - from})
	}
	switch {
	case st.hello && st.wedge != nil && !st.done:
		// The time from the wedging report to the machine's end is the
		// stage "wedged": how long the verdict took once it was certain.
		add("boot", 0, st.helloAt)
		add("tests", st.helloAt, st.wedgeAt)
		add("wedged", st.wedgeAt, wall)
		c.res.Stages[len(c.res.Stages)-1].Note = st.wedge.Title
	case st.hello && st.done:
		add("boot", 0, st.helloAt)
		add("tests", st.helloAt, st.doneAt)
		add("poweroff", st.doneAt, wall)
	case st.hello:
		add("boot", 0, st.helloAt)
		add("tests", st.helloAt, wall)
	default:
		add("boot", 0, wall)
	}
	for _, s := range c.res.Stages[len(c.res.Stages)-2:] {
		if s.Name == "boot" || s.Name == "tests" || s.Name == "poweroff" || s.Name == "wedged" {
			c.ui.Stage(c.res.ID, s.Name, fmt.Sprintf("%.2fs", s.Elapsed.Seconds()))
		}
	}
}

// Observed is what the run stage saw of one boot.
type Observed struct {
	Hello, Done bool
	// WantBuildID, if set, is the build id of the image the rig meant to
	// boot; BootedVersion is the `uname -v` the guest reported.
	WantBuildID   string
	BootedVersion string
	Results       []result.Test
	Oopses        []result.Oops
	ConsoleTail   []string
	BootTimeout   time.Duration
	RunTimeout    time.Duration
	EventTimeout  time.Duration
	// Running are the tests started without a result; WedgeLine the
	// console line of the report that meant the machine was wedged (0:
	// none).
	Running   string
	WedgeLine int
}

// Decide turns a boot's outcome into a cell verdict and a one-line cause
// (docs/design.md). It is a pure function of what was observed.
func Decide(out *machine.Outcome, ob Observed) (result.Status, string) {
	firstOops := func() (result.Oops, bool) {
		// The most telling report (oops.CauseRank): a sanitizer's bad
		// access before what it set off, a panic's cause before the panic.
		if len(ob.Oopses) == 0 {
			return result.Oops{}, false
		}
		first := ob.Oopses[0]
		for _, o := range ob.Oopses[1:] {
			if oops.CauseRank(o.Kind) < oops.CauseRank(first.Kind) {
				first = o
			}
		}
		return first, true
	}
	oopsCause := func(o result.Oops) string {
		where := ""
		if w := o.Where(); w != "" {
			where = " at " + w
		}
		if strings.HasPrefix(o.Title, o.Kind) {
			return fmt.Sprintf("kernel %s%s (console.log:%d)", o.Title, where, o.Line)
		}
		return fmt.Sprintf("kernel %s: %s%s (console.log:%d)", o.Kind, o.Title, where, o.Line)
	}
	if !ob.Hello {
		// The guest never spoke: the kernel did not boot (or not far enough).
		if o, ok := firstOops(); ok {
			return result.BootError, oopsCause(o)
		}
		if out.BootTimedOut {
			return result.BootError, fmt.Sprintf("no guest event within the boot timeout (%s); console ends: %s", ob.BootTimeout, lastLine(ob.ConsoleTail))
		}
		if out.TimedOut {
			return result.BootError, fmt.Sprintf("no guest event within the run timeout (%s); console ends: %s", ob.RunTimeout, lastLine(ob.ConsoleTail))
		}
		return result.BootError, fmt.Sprintf("machine ended (%s, %s) before the guest started; console ends: %s", orNone(string(out.Shutdown)), out.Exit, lastLine(ob.ConsoleTail))
	}
	if ob.WantBuildID != "" && !strings.HasPrefix(ob.BootedVersion, "#"+ob.WantBuildID+" ") {
		// Nothing this guest reported is about the kernel the cell names.
		return result.InfraError, fmt.Sprintf("booted the wrong kernel: the guest runs %q, the image this cell built is #%s; its test results were discarded",
			ob.BootedVersion, ob.WantBuildID)
	}
	if out.Stopped != "" && ob.WedgeLine > 0 {
		// The rig stopped a wedged machine: its report is the cause, not
		// whatever the tests made of the wedge meanwhile.
		for _, o := range ob.Oopses {
			if o.Line == ob.WedgeLine {
				return result.Fail, oopsCause(o) + "; the machine was wedged and stopped"
			}
		}
	}
	// A failing test is the most specific cause.
	var failed, errored []result.Test
	for _, t := range ob.Results {
		switch t.Status {
		case event.Fail:
			failed = append(failed, t)
		case event.Error:
			errored = append(errored, t)
		}
	}
	if len(failed) > 0 {
		t := failed[0]
		cause := fmt.Sprintf("test %s failed: %s", t.Name, t.Reason)
		if len(failed) > 1 {
			cause += fmt.Sprintf(" (and %d more failing)", len(failed)-1)
		}
		return result.Fail, cause
	}
	if o, ok := firstOops(); ok {
		return result.Fail, oopsCause(o)
	}
	if out.Silent {
		test := ob.Running
		if test == "" {
			test = "(unknown)"
		}
		return result.Timeout, fmt.Sprintf("test %s: no guest event for %s (--event-timeout); console ends: %s", test, ob.EventTimeout, lastLine(ob.ConsoleTail))
	}
	if out.TimedOut {
		return result.Timeout, fmt.Sprintf("tests still running at the run timeout (%s); console ends: %s", ob.RunTimeout, lastLine(ob.ConsoleTail))
	}
	if !ob.Done && (out.Exit.Signal != 0 || out.Shutdown == machine.HostSignal) {
		// Not the guest's doing: the rig sends signals only past a timeout.
		return result.InfraError, fmt.Sprintf("machine killed from outside while tests ran (%s, %s); console ends: %s", orNone(string(out.Shutdown)), out.Exit, lastLine(ob.ConsoleTail))
	}
	if !ob.Done {
		why := "guest exited without verdict"
		if out.Shutdown == "guest-reset" {
			why = "guest exited without verdict: the machine reset (unexpected reboot or panic)"
			return result.Fail, why + "; console ends: " + lastLine(ob.ConsoleTail)
		}
		return result.Fail, fmt.Sprintf("%s (%s, %s); console ends: %s", why, orNone(string(out.Shutdown)), out.Exit, lastLine(ob.ConsoleTail))
	}
	if len(errored) > 0 {
		t := errored[0]
		return result.InfraError, fmt.Sprintf("test %s could not decide: %s", t.Name, t.Reason)
	}
	if len(ob.Results) == 0 {
		return result.InfraError, "guest finished without running any test"
	}
	return result.Pass, ""
}

func orNone(s string) string {
	if s == "" {
		return "no shutdown event"
	}
	return s
}

func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			return s
		}
	}
	return "(no console output)"
}
