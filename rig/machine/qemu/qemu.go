// Package qemu is the QEMU backend of rig/machine, registered as "qemu":
// one process group per boot, started paused with QMP (go-qemu), console
// and events on sockets the rig listens on first, and a bounded
// quit-SIGTERM-SIGKILL stop; per-arch facts come from rig/arch's Table
// (docs/design.md, "Machines").
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/machine"
)

func init() { machine.Register("qemu", Backend{}) }

// Bounds of the lifecycle steps.
const (
	qmpStartTimeout = 15 * time.Second // QEMU start until QMP answers
	qmpCmdTimeout   = 5 * time.Second  // one QMP command ("cont")
	quitTimeout     = 2 * time.Second  // "quit" until the process is gone
	termGrace       = 2 * time.Second  // SIGTERM until SIGKILL
	drainTimeout    = 5 * time.Second  // process gone until streams end
	maxQMPEvents    = 200
	stderrTailLines = 30
)

// Backend runs machines with QEMU. The zero value is ready to use.
type Backend struct{}

var _ machine.Backend = Backend{}

// Version returns the first line of "qemu-system-<arch> -version" without
// its "QEMU emulator version " prefix, cached per binary.
func (Backend) Version(ctx context.Context, arch string) (string, error) {
	a, err := lookupArch(arch)
	if err != nil {
		return "", err
	}
	return version(ctx, a)
}

var _ machine.Standalone = Backend{}

// StandaloneArgv is the standalone form of Argv; argv[0] is the emulator's
// name, found in PATH by whoever runs it.
func (Backend) StandaloneArgv(cfg machine.Config, events string) ([]string, string, error) {
	return StandaloneArgv(cfg, events)
}

var versions sync.Map // binary path -> string

func version(ctx context.Context, a archConfig) (string, error) {
	bin, err := findBinary(a)
	if err != nil {
		return "", err
	}
	if v, ok := versions.Load(bin); ok {
		return v.(string), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{bin, "-version"}})
	if err != nil {
		return "", fmt.Errorf("qemu: version: %w", err)
	}
	v, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	v = strings.TrimPrefix(strings.TrimSpace(v), "QEMU emulator version ")
	versions.Store(bin, v)
	return v, nil
}

func findBinary(a archConfig) (string, error) {
	bin, err := exec.LookPath(a.Binary)
	if err != nil {
		return "", fmt.Errorf("qemu: %s not found (install the %s package): %w", a.Binary, a.Package, err)
	}
	return bin, nil
}

// Run boots cfg; see machine.Backend.
func (Backend) Run(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error) {
	a, err := lookupArch(cfg.Arch)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{cfg.Kernel, cfg.Initramfs} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}
	bin, err := findBinary(a)
	if err != nil {
		return nil, err
	}
	ver, err := version(ctx, a)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := workDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	argv, cmdline, err := Argv(cfg, dir)
	if err != nil {
		return nil, err
	}
	argv[0] = bin
	r := &run{
		cfg: cfg,
		out: out,
		o: &machine.Outcome{
			Argv:        argv,
			QEMUVersion: ver,
			Cmdline:     cmdline,
			Accel:       cfg.Accel,
		},
		stderr: &tail{max: stderrTailLines},
	}
	err = r.boot(ctx, dir)
	r.o.Stderr = r.stderr.String()
	return r.o, err
}

// workDir returns a private directory for the sockets, short enough for
// unix socket paths.
func workDir(dir string) (string, func(), error) {
	const maxSun = 107 // sun_path is 108 bytes with the NUL
	if dir != "" && len(filepath.Join(dir, consoleSock)) <= maxSun {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("qemu: work dir: %w", err)
		}
		return dir, func() {
			for _, s := range []string{qmpSock, consoleSock, eventsSock} {
				os.Remove(filepath.Join(dir, s))
			}
		}, nil
	}
	d, err := os.MkdirTemp("", "rig-")
	if err != nil {
		return "", nil, fmt.Errorf("qemu: work dir: %w", err)
	}
	if len(filepath.Join(d, consoleSock)) > maxSun {
		os.RemoveAll(d)
		return "", nil, fmt.Errorf("qemu: temporary dir %s too long for unix sockets (set TMPDIR)", d)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// run is the state of one boot.
type run struct {
	cfg    machine.Config
	out    func(machine.Output)
	o      *machine.Outcome
	stderr *tail
	start  time.Time

	mu        sync.Mutex // guards shutdown, qmpEvents
	shutdown  string
	qmpEvents []string
}

func (r *run) emit(o machine.Output) {
	o.Time = time.Since(r.start)
	if r.out != nil {
		r.out(o)
	}
}

func (r *run) boot(ctx context.Context, dir string) error {
	// Listen before QEMU starts: it connects to these (server=off).
	conLn, err := listen(filepath.Join(dir, consoleSock))
	if err != nil {
		return err
	}
	defer conLn.Close()
	evLn, err := listen(filepath.Join(dir, eventsSock))
	if err != nil {
		return err
	}
	defer evLn.Close()
	os.Remove(filepath.Join(dir, qmpSock))

	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	cmd := exec.Command(r.o.Argv[0], r.o.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r.start = time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("qemu: start: %w", err)
	}
	pw.Close()
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	var streams sync.WaitGroup
	streams.Add(1)
	go func() { // QEMU's own output
		defer streams.Done()
		defer pr.Close()
		_ = readLines(pr, maxLine, func(l string) {
			r.stderr.add(l)
			r.emit(machine.Output{Kind: machine.QEMUStderr, Line: l})
		})
	}()

	var conns connSet
	var quitShell <-chan struct{} // nil: never
	var sh *shell
	if r.cfg.Shell {
		sh = newShell()
		defer sh.stop()
		quitShell = sh.quit
	}
	streams.Add(2)
	go func() { // console
		defer streams.Done()
		c := conns.accept(conLn)
		if c == nil {
			return
		}
		defer c.Close()
		var src io.Reader = c
		if sh != nil {
			src = sh.attach(c)
		}
		_ = readLines(src, maxLine, func(l string) {
			r.emit(machine.Output{Kind: machine.Console, Line: l})
		})
	}()
	go func() { // events
		defer streams.Done()
		c := conns.accept(evLn)
		if c == nil {
			return
		}
		defer c.Close()
		d := event.NewDecoder(c)
		for {
			ev, raw, err := d.Next()
			if err != nil {
				break
			}
			r.emit(machine.Output{Kind: machine.Event, Line: string(raw), Event: ev})
		}
		r.mu.Lock()
		r.o.EventsSkipped = d.Skipped
		r.mu.Unlock()
	}()

	// finish waits for QEMU to be gone and the streams drained, then
	// records how it ended.
	var qmpDone <-chan struct{} // the QMP event pump, once connected
	finish := func() {
		<-exited
		_ = syscall.Kill(-pid, syscall.SIGKILL) // leftovers of the group
		conLn.Close()
		evLn.Close()
		drained := make(chan struct{})
		go func() { streams.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(drainTimeout):
			conns.closeAll()
			pr.Close()
			<-drained
		}
		r.o.Wall = time.Since(r.start)
		r.o.Exit = machine.ExitOf(cmd.ProcessState)
		r.mu.Lock()
		seen := r.shutdown != ""
		r.mu.Unlock()
		if qmpDone != nil && !seen {
			// QEMU is gone, so its QMP connection is closing: let the
			// event pump deliver the SHUTDOWN it sent before exiting.
			// (After a read error go-qemu's reader blocks until Close,
			// so the pump may never end by itself: do not wait once
			// SHUTDOWN is in.)
			select {
			case <-qmpDone:
			case <-time.After(drainTimeout):
			}
		}
		r.mu.Lock()
		r.o.Shutdown = machine.Shutdown(r.shutdown)
		r.o.QMPEvents = append([]string(nil), r.qmpEvents...)
		r.mu.Unlock()
	}
	kill := func() {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(termGrace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}

	mon, err := r.connectQMP(ctx, dir, exited)
	if err != nil {
		kill()
		finish()
		if ctx.Err() != nil {
			return fmt.Errorf("qemu: stopped while starting: %w", context.Cause(ctx))
		}
		return r.startError(err)
	}
	defer mon.Close()
	qmpDone = mon.done
	// Under gdb the machine stays paused until gdb continues it.
	if r.cfg.GDBPort == 0 {
		if _, err := mon.execute("cont", qmpCmdTimeout); err != nil {
			kill()
			finish()
			return r.startError(err)
		}
	}

	select {
	case <-exited:
	case <-ctx.Done():
		r.stop(mon, exited, kill)
	case <-quitShell:
		r.stop(mon, exited, kill)
	}
	finish()
	return nil
}

// stop ends a running machine: QMP quit, then SIGTERM, then SIGKILL.
func (r *run) stop(mon *qmpClient, exited <-chan struct{}, kill func()) {
	_, _ = mon.execute("quit", quitTimeout)
	select {
	case <-exited:
		return
	case <-time.After(quitTimeout):
	}
	kill()
}

// startError names a QEMU that could not be brought up, with its stderr.
func (r *run) startError(err error) error {
	msg := fmt.Sprintf("qemu: %s failed to start (%s)", filepath.Base(r.o.Argv[0]), r.o.Exit)
	if err != errExited {
		msg += ": " + err.Error()
	}
	if t := strings.TrimSpace(r.stderr.String()); t != "" {
		// QEMU's last word names the problem: keep it on the first line,
		// which is what a one-line cause shows.
		msg += ": " + t[strings.LastIndexByte(t, '\n')+1:]
		msg += "\n" + t
	}
	return errors.New(msg)
}

var errExited = errors.New("qemu exited")

// connectQMP dials the QMP socket until QEMU has created it and completes
// the handshake, all bounded by qmpStartTimeout.
func (r *run) connectQMP(ctx context.Context, dir string, exited <-chan struct{}) (*qmpClient, error) {
	path := filepath.Join(dir, qmpSock)
	deadline := time.Now().Add(qmpStartTimeout)
	for {
		mon, err := dialQMP(path, time.Until(deadline), r.onQMPEvent)
		if err == nil {
			return mon, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("QMP: %w", err)
		}
		select {
		case <-exited:
			return nil, errExited
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *run) onQMPEvent(ev qmpEvent) {
	name := ev.Name
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Name == "SHUTDOWN" {
		var d struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		name += " " + d.Reason
		if r.shutdown == "" {
			r.shutdown = d.Reason
		}
	}
	if len(r.qmpEvents) < maxQMPEvents {
		r.qmpEvents = append(r.qmpEvents, name)
	}
}

func listen(path string) (net.Listener, error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// connSet remembers accepted connections so a stuck stream can be closed.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

// accept returns QEMU's connection, or nil once the listener is closed.
func (s *connSet) accept(ln net.Listener) net.Conn {
	c, err := ln.Accept()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		c.Close()
		return nil
	}
	s.conns = append(s.conns, c)
	return c
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for _, c := range s.conns {
		c.Close()
	}
}
