// Package machine boots a kernel in a virtual machine through a registered
// Backend (rig/machine/qemu) and reports what happened as an Outcome: Boot
// applies the defaults and the boot and run timeouts for every backend and
// streams console lines, guest events and the backend's stderr. An error
// means the machine could not run at all (docs/design.md, "Machines").
package machine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rig-kernel/rig/guest/event"
)

// Config describes one boot.
type Config struct {
	Backend   string // registered backend name; "" means "qemu"
	Arch      string // "x86_64" or "arm64"
	Accel     string // "kvm" or "tcg" ("" means tcg; resolve "auto" with ResolveAccel first)
	CPUs      int    // default 2
	MemoryMB  int    // default 512
	Kernel    string // boot image (bzImage, Image)
	Initramfs string // optional
	// Cmdline holds extra kernel arguments (the guest's rig.* options); the
	// backend adds the console, the events port, panic=-1 and the like.
	Cmdline string
	// Dir is a private work directory for sockets. "" means a fresh
	// temporary one, removed afterwards. Unix socket paths must stay under
	// 108 bytes: a longer Dir is replaced by a temporary one.
	Dir string
	// BootTimeout bounds the time from start to the first guest event
	// (default 2m); RunTimeout bounds the whole run (default 30m).
	BootTimeout time.Duration
	RunTimeout  time.Duration
	// EventTimeout, if set, bounds the silence on the events port while a
	// test runs (between a start event and its result, while any test has
	// started without one): a guest that sends
	// nothing for that long is stopped and the Outcome is Silent. The guest
	// sends a progress event at least every event.Heartbeat while a test
	// runs (docs/protocol.md).
	EventTimeout time.Duration
	// Shell wires the console to the user's terminal (stdin/stdout, raw
	// mode; Ctrl-] ends the session). Console lines and events are still
	// delivered.
	Shell bool

	// Append is the user's kernel arguments (--append), after the rig's;
	// QEMUArgs the user's QEMU arguments (--qemu-arg), after all of the
	// rig's. Both are recorded with the argv.
	Append   string
	QEMUArgs []string
	// GDBPort, if set, opens a gdb stub on localhost:GDBPort and leaves the
	// machine paused before its first instruction until gdb continues it.
	// A debugged machine has no boot or run timeout: it ends when it powers
	// off or ctx is cancelled.
	GDBPort int
}

// Defaults for the zero fields of Config.
const (
	DefaultBackend     = "qemu"
	DefaultArch        = "x86_64"
	DefaultCPUs        = 2
	DefaultMemoryMB    = 512
	DefaultBootTimeout = 90 * time.Second
	DefaultRunTimeout  = 30 * time.Minute
	// DoneGrace is how long a machine may live after the guest's "done".
	DoneGrace = 30 * time.Second
)

// WithDefaults returns c with its zero fields filled in, or an error naming
// the first invalid field.
func (c Config) WithDefaults() (Config, error) {
	if c.Backend == "" {
		c.Backend = DefaultBackend
	}
	if c.Arch == "" {
		c.Arch = DefaultArch
	}
	switch c.Accel {
	case "":
		c.Accel = "tcg"
	case "kvm", "tcg":
	case "auto":
		return c, errors.New(`machine: accel "auto" must be resolved first (ResolveAccel)`)
	default:
		return c, fmt.Errorf("machine: unknown accel %q (want kvm or tcg)", c.Accel)
	}
	if c.CPUs == 0 {
		c.CPUs = DefaultCPUs
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.CPUs < 0 || c.MemoryMB < 0 {
		return c, fmt.Errorf("machine: bad size: %d CPUs, %d MB", c.CPUs, c.MemoryMB)
	}
	if c.Kernel == "" {
		return c, errors.New("machine: no kernel image given")
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = DefaultBootTimeout
	}
	if c.RunTimeout == 0 {
		c.RunTimeout = DefaultRunTimeout
	}
	return c, nil
}

// Kind tags an Output chunk.
type Kind int

// Kinds of output.
const (
	Console    Kind = iota + 1 // a kernel console line
	Event                      // a guest event from the events port
	QEMUStderr                 // a line of the backend process's own stdout/stderr
)

func (k Kind) String() string {
	switch k {
	case Console:
		return "console"
	case Event:
		return "event"
	case QEMUStderr:
		return "qemu-stderr"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Output is one chunk of a machine's output.
type Output struct {
	Kind Kind
	// Line is the console or stderr line without its line end (bounded: a
	// longer line is cut and marked); for an Event, the raw JSON line.
	Line  string
	Event event.Event   // Kind == Event
	Time  time.Duration // since the machine process started
}

// Shutdown is a QMP SHUTDOWN reason (QEMU's ShutdownCause).
type Shutdown string

// The reasons the rig acts on; QEMU has others.
const (
	GuestShutdown Shutdown = "guest-shutdown" // the guest powered off
	GuestReset    Shutdown = "guest-reset"    // a panic with panic=-1 and -no-reboot
	HostQMPQuit   Shutdown = "host-qmp-quit"  // the rig stopped it
	HostSignal    Shutdown = "host-signal"    // QEMU got SIGTERM or SIGINT
)

// Exit is how a machine process ended: its exit status, or the signal
// that killed it. The zero Exit is a process that never started.
type Exit struct {
	Started bool
	Code    int            // the exit status, when Signal is 0
	Signal  syscall.Signal // the signal that killed it, or 0
}

// Exited is the Exit of a process that exited with code.
func Exited(code int) Exit { return Exit{Started: true, Code: code} }

// KilledBy is the Exit of a process killed by sig.
func KilledBy(sig syscall.Signal) Exit { return Exit{Started: true, Signal: sig} }

// ExitOf reads a reaped process's state (nil: it never started).
func ExitOf(ps *os.ProcessState) Exit {
	if ps == nil {
		return Exit{}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return KilledBy(ws.Signal())
	}
	return Exited(ps.ExitCode())
}

// Success reports an exit with status 0.
func (e Exit) Success() bool { return e.Started && e.Signal == 0 && e.Code == 0 }

// String is "exited 0", "killed by signal 9 (killed)" or "not started".
func (e Exit) String() string {
	switch {
	case !e.Started:
		return "not started"
	case e.Signal != 0:
		return fmt.Sprintf("killed by signal %d (%v)", int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("exited %d", e.Code)
}

// Outcome is what happened, decided by the backend from its monitor and
// process state. It carries what is needed to replay the run by hand.
type Outcome struct {
	Argv        []string // the exact command line of the machine process
	QEMUVersion string   // e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
	Cmdline     string   // the full kernel command line used
	Accel       string   // "kvm" or "tcg"
	// Shutdown is the QMP SHUTDOWN reason; "" if none was seen.
	Shutdown Shutdown
	// QMPEvents lists the monitor's events in order ("RESUME", "STOP",
	// "SHUTDOWN guest-shutdown", ...), bounded.
	QMPEvents []string
	// Exit is how the process ended.
	Exit Exit
	// BootTimedOut: no guest event within BootTimeout. TimedOut: the run
	// exceeded RunTimeout. Either way the machine was stopped.
	BootTimedOut, TimedOut bool
	// Silent: no guest event for EventTimeout while a test ran; the machine
	// was stopped.
	Silent bool
	// Stopped is the reason the caller gave when it stopped the machine
	// (a Stop cause on Boot's context); "" if it did not.
	Stopped string
	// HungAfterDone: the guest sent "done" but the machine did not end
	// within DoneGrace (a power-off that does not stop the machine, e.g. a
	// kernel without ACPI); it was stopped.
	HungAfterDone bool
	// FirstEvent is the time of the first guest event since the process
	// started; 0 if none arrived.
	FirstEvent time.Duration
	// Wall is how long the machine process lived.
	Wall time.Duration
	// EventsSkipped counts lines on the events port that were not events.
	EventsSkipped int
	// Stderr is the tail of the process's own stderr.
	Stderr string
}

// Backend starts machines. Implementations must be safe for concurrent use.
type Backend interface {
	// Run boots cfg (defaults applied) and returns once the machine is gone
	// and its output drained. Cancelling ctx stops the machine: gracefully
	// first, then by force; nothing it started may outlive Run. out may be
	// called from several goroutines. The error is for a machine that could
	// not be run at all; the Outcome, when not nil, is valid either way.
	Run(ctx context.Context, cfg Config, out func(Output)) (*Outcome, error)
	// Version names the program that would run cfg's arch (for results and
	// the KVM decision cache).
	Version(ctx context.Context, arch string) (string, error)
}

// Standalone is a Backend that can write down a boot that runs without the
// rig: argv starts the machine at once with the console on its stdio and
// the guest's events written to the file events (a cell's reproduce.sh).
type Standalone interface {
	StandaloneArgv(cfg Config, events string) (argv []string, cmdline string, err error)
}

// StandaloneArgv returns the argv of cfg's boot without the rig (see
// Standalone), defaults applied, from cfg's backend.
func StandaloneArgv(cfg Config, events string) ([]string, string, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, "", err
	}
	b, err := Lookup(cfg.Backend)
	if err != nil {
		return nil, "", err
	}
	s, ok := b.(Standalone)
	if !ok {
		return nil, "", fmt.Errorf("machine: backend %q cannot run a boot without the rig", cfg.Backend)
	}
	return s.StandaloneArgv(cfg, events)
}

var (
	backendsMu sync.Mutex
	backends   = map[string]Backend{}
)

// Register makes a backend available under name; it panics on a duplicate.
func Register(name string, b Backend) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := backends[name]; dup {
		panic("machine: backend registered twice: " + name)
	}
	backends[name] = b
}

// Lookup returns the named backend ("" means DefaultBackend).
func Lookup(name string) (Backend, error) {
	if name == "" {
		name = DefaultBackend
	}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b, ok := backends[name]; ok {
		return b, nil
	}
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("machine: no backend %q (registered: %s; import rig/machine/qemu)", name, strings.Join(names, ", "))
}

var doneGrace = DoneGrace // tests shorten it

// forever is the timeout of a machine under gdb: longer than any session.
const forever = 100 * 365 * 24 * time.Hour

// FreePort returns a TCP port on localhost that nothing listens on now,
// for a gdb stub.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("machine: no free local port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Stop is the cause to cancel Boot's context with (context.WithCancelCause)
// when the caller ends the machine for a reason of its own, such as a kernel
// report that means it is wedged: Boot then returns the Outcome with Stopped
// set and no error, where another cancellation is an interruption.
type Stop struct{ Reason string }

func (s *Stop) Error() string { return "machine stopped: " + s.Reason }

var (
	errSilent      = errors.New("no guest event while a test ran")
	errBootTimeout = errors.New("boot timeout")
	errRunTimeout  = errors.New("run timeout")
	errHungDone    = errors.New("machine still running after the guest's done event")
)

// Boot runs one machine to its end: until it powers off, crashes, exceeds a
// timeout (then it is stopped and the Outcome says which timeout), or ctx is
// cancelled (then the Outcome is returned with ctx's error). out, if not nil,
// receives every output chunk, one call at a time.
func Boot(ctx context.Context, cfg Config, out func(Output)) (*Outcome, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	b, err := Lookup(cfg.Backend)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		mu       sync.Mutex
		gotEvent bool
		first    time.Duration
	)
	if cfg.GDBPort != 0 {
		// A machine stopped in gdb is not stuck.
		cfg.BootTimeout, cfg.RunTimeout = forever, forever
	}
	bootTimer := time.AfterFunc(cfg.BootTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !gotEvent {
			cancel(errBootTimeout)
		}
	})
	defer bootTimer.Stop()
	runTimer := time.AfterFunc(cfg.RunTimeout, func() { cancel(errRunTimeout) })
	defer runTimer.Stop()

	var doneTimer, silenceTimer *time.Timer
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if doneTimer != nil {
			doneTimer.Stop()
		}
		if silenceTimer != nil {
			silenceTimer.Stop()
		}
	}()
	// watchSilence arms, re-arms or disarms the silence timer on an event
	// (with mu held): armed while a test has started without its result.
	// Tests may overlap (a test asleep lets the next start beside it:
	// guest/runner), so one's result leaves the timer armed for the other.
	running := map[string]bool{}
	watchSilence := func(e event.Event) {
		switch e.Ev {
		case event.Start:
			running[e.Test] = true
		case event.Result:
			delete(running, e.Test)
		case event.Done:
			clear(running)
		}
		if cfg.EventTimeout <= 0 || cfg.Shell || cfg.GDBPort != 0 {
			return
		}
		if silenceTimer != nil {
			silenceTimer.Stop()
			silenceTimer = nil
		}
		if len(running) > 0 {
			silenceTimer = time.AfterFunc(cfg.EventTimeout, func() { cancel(errSilent) })
		}
	}

	deliver := func(o Output) {
		mu.Lock()
		defer mu.Unlock()
		if o.Kind == Event && !gotEvent {
			gotEvent, first = true, o.Time
			bootTimer.Stop()
		}
		// In shell mode the guest says done before starting the shell: the
		// machine then lives as long as the human wants it.
		if o.Kind == Event {
			watchSilence(o.Event)
		}
		if o.Kind == Event && o.Event.Ev == event.Done && doneTimer == nil && !cfg.Shell && cfg.GDBPort == 0 {
			doneTimer = time.AfterFunc(doneGrace, func() { cancel(errHungDone) })
		}
		if out != nil {
			out(o)
		}
	}
	o, err := b.Run(runCtx, cfg, deliver)
	if o != nil {
		mu.Lock()
		o.FirstEvent = first
		mu.Unlock()
		switch context.Cause(runCtx) {
		case errBootTimeout:
			o.BootTimedOut = true
		case errRunTimeout:
			o.TimedOut = true
		case errHungDone:
			o.HungAfterDone = true
		case errSilent:
			o.Silent = true
		}
	}
	if err == nil && ctx.Err() != nil {
		if s, ok := errors.AsType[*Stop](context.Cause(ctx)); ok && o != nil {
			o.Stopped = s.Reason
			return o, nil
		}
		err = fmt.Errorf("machine: boot interrupted: %w", context.Cause(ctx))
	}
	return o, err
}
