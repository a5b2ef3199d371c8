package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// DefaultProbeTimeout bounds the KVM probe boot.
const DefaultProbeTimeout = 20 * time.Second

// DefaultProbeSilence bounds the wait for the kernel's first console line
// in a probe boot. Under KVM it comes well within a second; a vCPU that
// cannot run (this machine's paravirtual KVM hangs after the firmware)
// never prints one, so the probe need not wait for DefaultProbeTimeout.
const DefaultProbeSilence = 6 * time.Second

// probeCacheTTL is how long a cached KVM decision is trusted.
const probeCacheTTL = 24 * time.Hour

// ProbeCmdline is added to the kernel command line of a probe boot; the
// guest may say hello and power off at once.
const ProbeCmdline = "rig.probe=1"

// prober holds the probe's dependencies so the decision logic can be tested
// with fakes.
type prober struct {
	kvmDev  string
	boot    func(ctx context.Context, cfg Config, out func(Output)) (*Outcome, error)
	version func(ctx context.Context, cfg Config) (string, error)
	release func() string
	now     func() time.Time
	timeout time.Duration // of the probe boot in ResolveAccel
	silence time.Duration // for the kernel's first console line
}

func defaultProber() *prober {
	return &prober{
		kvmDev: "/dev/kvm",
		boot:   Boot,
		version: func(ctx context.Context, cfg Config) (string, error) {
			b, err := Lookup(cfg.Backend)
			if err != nil {
				return "", err
			}
			return b.Version(ctx, cfg.Arch)
		},
		release: hostRelease,
		now:     time.Now,
		timeout: DefaultProbeTimeout,
		silence: DefaultProbeSilence,
	}
}

// Probe tells whether KVM works for base (its kernel and initramfs are
// booted with -accel kvm and ProbeCmdline): quick checks of /dev/kvm first,
// then a real boot that must deliver a guest event within timeout (0 means
// DefaultProbeTimeout). It returns "kvm", or "tcg" and the reason KVM is
// unusable.
func Probe(ctx context.Context, base Config, timeout time.Duration) (accel, reason string) {
	accel, reason, _ = defaultProber().probe(ctx, base, timeout)
	return accel, reason
}

// probe returns the decision and whether it may be cached (not when the
// probe itself was interrupted or could not try).
func (p *prober) probe(ctx context.Context, base Config, timeout time.Duration) (accel, reason string, cacheable bool) {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if _, err := os.Stat(p.kvmDev); err != nil {
		return "tcg", fmt.Sprintf("%s does not exist", p.kvmDev), true
	}
	f, err := os.OpenFile(p.kvmDev, os.O_RDWR, 0)
	if err != nil {
		return "tcg", fmt.Sprintf("cannot open %s: %v", p.kvmDev, errors.Unwrap(err)), true
	}
	f.Close()
	if base.Kernel == "" {
		return "tcg", "no kernel to probe KVM with", false
	}
	if _, err := os.Stat(base.Kernel); err != nil {
		return "tcg", fmt.Sprintf("no kernel to probe KVM with: %v", err), false
	}

	cfg := base
	cfg.Accel = "kvm"
	cfg.Shell = false
	cfg.Cmdline = strings.TrimSpace(base.Cmdline + " " + ProbeCmdline)
	cfg.BootTimeout = timeout
	cfg.RunTimeout = timeout + 10*time.Second
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var errLine string
	hello := errors.New("guest event arrived")
	silent := errors.New("kernel silent")
	var kernelSpoke atomic.Bool
	if p.silence > 0 && p.silence < timeout {
		t := time.AfterFunc(p.silence, func() {
			if !kernelSpoke.Load() {
				cancel(silent)
			}
		})
		defer t.Stop()
	}
	o, err := p.boot(pctx, cfg, func(out Output) {
		switch out.Kind {
		case Console:
			if !kernelSpoke.Load() && kernelLine(out.Line) {
				kernelSpoke.Store(true)
			}
		case Event:
			cancel(hello) // KVM works: no need to wait for the rest
		case QEMUStderr:
			// A vCPU that cannot run: some QEMUs abort, others stop the
			// machine and wait forever. Either way, stop at once.
			if errLine == "" && kvmFailure(out.Line) {
				errLine = strings.TrimSpace(out.Line)
				cancel(errors.New(errLine))
			}
		}
	})
	if context.Cause(pctx) == hello {
		return "kvm", "", true
	}
	if ctx.Err() != nil {
		return "tcg", "KVM probe interrupted", false
	}
	if context.Cause(pctx) == silent {
		return "tcg", fmt.Sprintf("KVM probe: no kernel console output within %v (the vCPU does not run)", p.silence), true
	}
	switch {
	case errLine != "":
		return "tcg", "KVM probe: qemu failed: " + errLine, true
	case err != nil:
		return "tcg", "KVM probe: " + lines.First(err.Error()), true
	case o == nil:
		return "tcg", "KVM probe: no outcome", false
	case o.BootTimedOut || o.TimedOut:
		return "tcg", fmt.Sprintf("KVM probe: no guest event within %v", timeout), true
	}
	why := "qemu " + o.Exit.String()
	if l := stderrReason(o.Stderr); l != "" {
		why = "qemu aborted: " + l
	} else if o.Shutdown != "" {
		why += " (shutdown: " + string(o.Shutdown) + ")"
	}
	return "tcg", "KVM probe: " + why + " before any guest event", true
}

// kernelLine reports whether a console line is the kernel's (a printk time
// stamp, or the banner when time stamps are off), not the firmware's.
func kernelLine(line string) bool {
	return printkStamp.MatchString(line) || strings.Contains(line, "Linux version ")
}

var printkStamp = regexp.MustCompile(`^\[\s*\d+\.\d+\]`)

// kvmFailure reports whether a QEMU stderr line means the vCPU cannot run.
func kvmFailure(line string) bool {
	for _, s := range []string{"KVM internal error", "failed to set MSR", "kvm_init_vcpu failed", "Could not access KVM"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// stderrReason picks the most telling line of a stderr tail.
func stderrReason(tail string) string {
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	for _, l := range lines {
		if kvmFailure(l) || strings.Contains(l, "error") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// ResolveAccel turns a requested accelerator ("auto", "kvm", "tcg"; ""
// means "auto") into "kvm" or "tcg". "auto" falls back to TCG with a notice
// saying why; "kvm" that does not work is an error. Decisions are cached in
// the JSON file cache (none if ""), keyed by the host kernel release, the
// backend's version, the arch and /dev/kvm's presence, for 24 hours.
func ResolveAccel(ctx context.Context, requested string, base Config, cache string) (accel, notice string, err error) {
	return defaultProber().resolve(ctx, requested, base, cache)
}

func (p *prober) resolve(ctx context.Context, requested string, base Config, cache string) (accel, notice string, err error) {
	switch requested {
	case "tcg":
		return "tcg", "", nil
	case "", "auto", "kvm":
	default:
		return "", "", fmt.Errorf("unknown accel %q (want auto, kvm or tcg)", requested)
	}
	if base.Backend == "" {
		base.Backend = DefaultBackend
	}
	if base.Arch == "" {
		base.Arch = DefaultArch
	}
	key := ""
	if cache != "" {
		key, err = p.cacheKey(ctx, base)
		if err != nil {
			return "", "", err
		}
	}
	accel, reason, ok := p.lookupCache(cache, key)
	if !ok {
		var cacheable bool
		accel, reason, cacheable = p.probe(ctx, base, p.timeout)
		if cacheable && cache != "" {
			if err := p.storeCache(cache, key, accel, reason); err != nil {
				notice = fmt.Sprintf("could not cache the KVM decision: %v", err)
			}
		}
	}
	if accel == "kvm" {
		return "kvm", notice, nil
	}
	if requested == "kvm" {
		return "", "", fmt.Errorf("KVM requested but unusable: %s; use --accel tcg (or auto)", reason)
	}
	n := fmt.Sprintf("KVM unusable here (%s); using TCG (slower)", reason)
	if notice != "" {
		n += "; " + notice
	}
	return "tcg", n, nil
}

func (p *prober) cacheKey(ctx context.Context, base Config) (string, error) {
	v, err := p.version(ctx, base)
	if err != nil {
		return "", err
	}
	_, statErr := os.Stat(p.kvmDev)
	return fmt.Sprintf("host=%s backend=%s version=%s arch=%s kvmdev=%t",
		p.release(), base.Backend, v, base.Arch, statErr == nil), nil
}

// cacheEntry is one cached KVM decision.
type cacheEntry struct {
	Accel  string    `json:"accel"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

func readCache(path string) map[string]cacheEntry {
	m := map[string]cacheEntry{}
	b, err := safefile.ReadFile(path, 1<<20) // not a FIFO or /dev/zero
	if err == nil {
		_ = json.Unmarshal(b, &m) // a corrupt cache is an empty one
	}
	return m
}

func (p *prober) lookupCache(path, key string) (accel, reason string, ok bool) {
	if path == "" {
		return "", "", false
	}
	e, ok := readCache(path)[key]
	if !ok || (e.Accel != "kvm" && e.Accel != "tcg") {
		return "", "", false
	}
	if age := p.now().Sub(e.Time); age < 0 || age > probeCacheTTL {
		return "", "", false
	}
	return e.Accel, e.Reason, true
}

// storeCache records a decision, dropping expired ones; the file is
// replaced atomically.
func (p *prober) storeCache(path, key, accel, reason string) error {
	m := readCache(path)
	for k, e := range m {
		if p.now().Sub(e.Time) > probeCacheTTL {
			delete(m, k)
		}
	}
	m[key] = cacheEntry{Accel: accel, Reason: reason, Time: p.now()}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kvm-probe-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func hostRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
