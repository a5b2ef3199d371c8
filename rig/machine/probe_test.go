package machine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testProber returns a prober whose /dev/kvm is an openable file and whose
// boots go to f through the real Boot (so timeouts are the real ones).
func testProber(t *testing.T, f *fakeBackend) (*prober, Config) {
	dev := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	base := register(t, f)
	base.Kernel = dev // any existing file
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	p := &prober{
		kvmDev:  dev,
		boot:    Boot,
		version: func(context.Context, Config) (string, error) { return "7.2.22", nil },
		release: func() string { return "6.18.44" },
		now:     func() time.Time { return now },
		timeout: 300 * time.Millisecond,
		silence: 150 * time.Millisecond,
	}
	return p, base
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name       string
		f          *fakeBackend
		noDev      bool
		devIsDir   bool
		wantAccel  string
		wantReason string // substring
		wantRuns   int32
		cacheable  bool
	}{
		{name: "works", f: &fakeBackend{outputs: []Output{ev(20*time.Millisecond, "hello")}, life: time.Hour},
			wantAccel: "kvm", wantRuns: 1, cacheable: true},
		{name: "no device", f: &fakeBackend{}, noDev: true,
			wantAccel: "tcg", wantReason: "does not exist", wantRuns: 0, cacheable: true},
		{name: "device not openable", f: &fakeBackend{}, devIsDir: true,
			wantAccel: "tcg", wantReason: "cannot open", wantRuns: 0, cacheable: true},
		{name: "aborts", f: &fakeBackend{outputs: []Output{
			{Kind: QEMUStderr, Line: "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x2000000000", Time: 5 * time.Millisecond},
		}, life: time.Hour},
			wantAccel: "tcg", wantReason: "qemu failed: qemu-system-x86_64: error: failed to set MSR 0x10a", wantRuns: 1, cacheable: true},
		{name: "dies unexplained", f: &fakeBackend{life: 10 * time.Millisecond, exit: KilledBy(syscall.SIGABRT)},
			wantAccel: "tcg", wantReason: "qemu killed by signal 6 (aborted) before any guest event", wantRuns: 1, cacheable: true},
		{name: "hangs in firmware", f: &fakeBackend{outputs: []Output{{Kind: Console, Line: "Booting from ROM.."}}},
			wantAccel: "tcg", wantReason: "no kernel console output within 150ms", wantRuns: 1, cacheable: true},
		{name: "kernel hangs", f: &fakeBackend{outputs: []Output{{Kind: Console, Line: "[    0.000000] Linux version 6.12.117 (rig@rig)", Time: 50 * time.Millisecond}}},
			wantAccel: "tcg", wantReason: "no guest event within 300ms", wantRuns: 1, cacheable: true},
		{name: "kernel without time stamps hangs", f: &fakeBackend{outputs: []Output{{Kind: Console, Line: "Linux version 6.12.117 (rig@rig)", Time: 50 * time.Millisecond}}},
			wantAccel: "tcg", wantReason: "no guest event within 300ms", wantRuns: 1, cacheable: true},
		{name: "slow but working", f: &fakeBackend{outputs: []Output{
			{Kind: Console, Line: "[    0.000000] Linux version 6.12.117", Time: 100 * time.Millisecond},
			ev(250*time.Millisecond, "hello")}, life: time.Hour},
			wantAccel: "kvm", wantRuns: 1, cacheable: true},
		{name: "cannot start", f: &fakeBackend{err: errorString("qemu: qemu-system-x86_64 failed to start (exited 1)\nqemu-system-x86_64: Could not access KVM kernel module")},
			wantAccel: "tcg", wantReason: "KVM probe: qemu: qemu-system-x86_64 failed to start (exited 1)", wantRuns: 1, cacheable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, base := testProber(t, tt.f)
			if tt.noDev {
				p.kvmDev = filepath.Join(t.TempDir(), "nokvm")
			}
			if tt.devIsDir {
				p.kvmDev = t.TempDir()
			}
			start := time.Now()
			accel, reason, cacheable := p.probe(context.Background(), base, p.timeout)
			if accel != tt.wantAccel || !strings.Contains(reason, tt.wantReason) || cacheable != tt.cacheable {
				t.Errorf("probe = %q, %q, %v; want %q, ~%q, %v", accel, reason, cacheable, tt.wantAccel, tt.wantReason, tt.cacheable)
			}
			if (accel == "kvm") != (reason == "") {
				t.Errorf("reason %q with accel %s", reason, accel)
			}
			if n := tt.f.runs.Load(); n != tt.wantRuns {
				t.Errorf("%d boots, want %d", n, tt.wantRuns)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("probe took %v", d)
			}
			if tt.wantRuns > 0 {
				cfg := tt.f.lastCfg
				if cfg.Accel != "kvm" || !strings.Contains(cfg.Cmdline, "rig.probe=1") || cfg.Shell {
					t.Errorf("probe boot config %+v", cfg)
				}
			}
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestProbeInterrupted(t *testing.T) {
	f := &fakeBackend{}
	p, base := testProber(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	accel, _, cacheable := p.probe(ctx, base, time.Hour)
	if accel != "tcg" || cacheable {
		t.Errorf("interrupted probe: %s cacheable %v", accel, cacheable)
	}
}

func TestResolveAccel(t *testing.T) {
	hang := func() *fakeBackend { return &fakeBackend{} }
	works := func() *fakeBackend {
		return &fakeBackend{outputs: []Output{ev(10*time.Millisecond, "hello")}, life: time.Hour}
	}
	tests := []struct {
		name       string
		requested  string
		f          *fakeBackend
		wantAccel  string
		wantNotice string
		wantErr    string
	}{
		{"tcg asked", "tcg", hang(), "tcg", "", ""},
		{"auto works", "auto", works(), "kvm", "", ""},
		{"empty is auto", "", works(), "kvm", "", ""},
		{"kvm works", "kvm", works(), "kvm", "", ""},
		{"auto fails", "auto", hang(), "tcg", "KVM unusable here (KVM probe: no kernel console output within 150ms (the vCPU does not run)); using TCG (slower)", ""},
		{"kvm fails", "kvm", hang(), "", "", "KVM requested but unusable: KVM probe: no kernel console output within 150ms (the vCPU does not run); use --accel tcg"},
		{"bad request", "hvf", hang(), "", "", `unknown accel "hvf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, base := testProber(t, tt.f)
			accel, notice, err := p.resolve(context.Background(), tt.requested, base, "")
			if accel != tt.wantAccel || notice != tt.wantNotice {
				t.Errorf("got %q, %q; want %q, %q", accel, notice, tt.wantAccel, tt.wantNotice)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err %v, want ~%q", err, tt.wantErr)
			}
			if tt.requested == "tcg" && tt.f.runs.Load() != 0 {
				t.Errorf("probed for tcg")
			}
		})
	}
}

func TestResolveAccelCache(t *testing.T) {
	f := &fakeBackend{}
	p, base := testProber(t, f)
	cache := filepath.Join(t.TempDir(), "sub", "kvm-probe.json")
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }

	resolve := func(req string) (string, string, error) {
		return p.resolve(context.Background(), req, base, cache)
	}
	a1, n1, err := resolve("auto")
	if err != nil || a1 != "tcg" || f.runs.Load() != 1 {
		t.Fatalf("first: %s %q %v, %d runs", a1, n1, err, f.runs.Load())
	}
	// Honoured: same answer, no boot; "kvm" fails from the cache too.
	now = now.Add(23 * time.Hour)
	a2, n2, err := resolve("auto")
	if err != nil || a2 != a1 || n2 != n1 || f.runs.Load() != 1 {
		t.Errorf("cached: %s %q %v, %d runs", a2, n2, err, f.runs.Load())
	}
	if _, _, err := resolve("kvm"); err == nil || f.runs.Load() != 1 {
		t.Errorf("cached kvm: err %v, %d runs", err, f.runs.Load())
	}
	// Another key (host kernel updated): probes again.
	p.release = func() string { return "6.19.0" }
	resolve("auto")
	if f.runs.Load() != 2 {
		t.Errorf("new key: %d runs, want 2", f.runs.Load())
	}
	// Expired: probes again.
	p.release = func() string { return "6.18.44" }
	now = now.Add(2 * time.Hour)
	resolve("auto")
	if f.runs.Load() != 3 {
		t.Errorf("expired: %d runs, want 3", f.runs.Load())
	}
	b, err := os.ReadFile(cache)
	if err != nil || !strings.Contains(string(b), `"accel": "tcg"`) || !strings.Contains(string(b), "version=7.2.22") {
		t.Errorf("cache file %s: %v", b, err)
	}

	// A KVM success is cached as such.
	f2 := &fakeBackend{outputs: []Output{ev(10*time.Millisecond, "hello")}, life: time.Hour}
	p2, base2 := testProber(t, f2)
	cache2 := filepath.Join(t.TempDir(), "kvm.json")
	for i := 0; i < 2; i++ {
		a, _, err := p2.resolve(context.Background(), "kvm", base2, cache2)
		if a != "kvm" || err != nil {
			t.Errorf("kvm %d: %s %v", i, a, err)
		}
	}
	if f2.runs.Load() != 1 {
		t.Errorf("kvm success not cached: %d runs", f2.runs.Load())
	}

	// A corrupt cache is ignored and rewritten.
	os.WriteFile(cache2, []byte("{not json"), 0o644)
	if a, _, err := p2.resolve(context.Background(), "auto", base2, cache2); a != "kvm" || err != nil || f2.runs.Load() != 2 {
		t.Errorf("corrupt cache: %s %v %d runs", a, err, f2.runs.Load())
	}
}

// An interrupted probe is not cached.
func TestResolveAccelInterruptedNotCached(t *testing.T) {
	f := &fakeBackend{}
	p, base := testProber(t, f)
	p.timeout = time.Hour
	cache := filepath.Join(t.TempDir(), "kvm.json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	p.resolve(ctx, "auto", base, cache)
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("interrupted probe cached (%v)", err)
	}
}
