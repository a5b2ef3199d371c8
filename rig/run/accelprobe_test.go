package run

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/machine"
)

// probeEnv is a fakeEnv whose other-arch Pack waits until the accelerator
// was asked for, so that a run that probes only at its first boot (after
// every cell is prepared) fails the test instead of passing by luck.
type probeEnv struct {
	*fakeEnv
	other  string
	mu     sync.Mutex
	probes []string // the arch of each ResolveAccel call
	asked  chan struct{}
	once   sync.Once
	late   bool // the other arch's Pack gave up waiting
}

func (p *probeEnv) ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (string, string, error) {
	p.mu.Lock()
	p.probes = append(p.probes, cfg.Arch)
	p.mu.Unlock()
	p.once.Do(func() { close(p.asked) })
	return p.fakeEnv.ResolveAccel(ctx, requested, cfg, cache)
}

func (p *probeEnv) Pack(ctx context.Context, c *cell, selftests map[string]string) (*initramfs.Image, error) {
	if c.arch.Name == p.other {
		select {
		case <-p.asked:
		case <-time.After(5 * time.Second):
			p.mu.Lock()
			p.late = true
			p.mu.Unlock()
		}
	}
	return p.fakeEnv.Pack(ctx, c, selftests)
}

func hostAndOther() (host, other string) {
	if runtime.GOARCH == "arm64" {
		return "arm64", "x86_64"
	}
	return "x86_64", "arm64"
}

// The KVM probe runs once per arch and request, as soon as the first cell
// of the host's arch has an image, while the other arch still prepares;
// every cell of that arch boots with its answer. Another arch's guest and
// --accel tcg need no probe.
func TestAccelDecidedWhileBuilding(t *testing.T) {
	host, other := hostAndOther()
	specs := []Spec{{ID: "h-baseline", Arch: host, Role: "baseline"}, {ID: "h", Arch: host},
		{ID: "o-baseline", Arch: other, Role: "baseline"}, {ID: "o", Arch: other}}
	env := &probeEnv{fakeEnv: &fakeEnv{outcome: poweredOff}, other: other, asked: make(chan struct{})}
	cells := runCells(t, context.Background(), env, specs)
	if env.late {
		t.Errorf("the other arch's cells were prepared before the accelerator was asked for: the probe waited for the boots")
	}
	if len(env.probes) != 1 || env.probes[0] != host {
		t.Errorf("ResolveAccel calls for arches %q, want one for %s", env.probes, host)
	}
	if env.probed.Kernel == "" || env.probed.Initramfs == "" || env.probed.Arch != host {
		t.Errorf("probed machine %+v: want the %s cell's kernel and image", env.probed, host)
	}
	for _, c := range cells {
		if c.res.Accel != "tcg" {
			t.Errorf("%s booted with accel %q, want the probe's tcg", c.res.ID, c.res.Accel)
		}
	}

	// --accel tcg: no probe at all.
	for i := range specs {
		specs[i].Accel = "tcg"
	}
	env = &probeEnv{fakeEnv: &fakeEnv{outcome: poweredOff}, other: "none", asked: make(chan struct{})}
	runCells(t, context.Background(), env, specs)
	if len(env.probes) != 0 {
		t.Errorf("--accel tcg probed for %q", env.probes)
	}
}

// A probe that fails (--accel kvm where KVM is unusable) fails every cell
// of the arch that waits for it, as the probe at boot did.
func TestAccelProbeErrorFailsTheCells(t *testing.T) {
	host, _ := hostAndOther()
	env := &kvmlessEnv{fakeEnv: &fakeEnv{outcome: poweredOff}}
	cells := runCells(t, context.Background(), env, []Spec{{ID: "h-baseline", Arch: host, Role: "baseline", Accel: "kvm"}, {ID: "h", Arch: host, Accel: "kvm"}})
	for _, c := range cells {
		if c.res.Status != "infra-error" || c.res.Accel != "" {
			t.Errorf("%s: status %q accel %q, want an infra-error without a boot", c.res.ID, c.res.Status, c.res.Accel)
		}
	}
	if n := env.count(); n != 1 {
		t.Errorf("ResolveAccel called %d times, want once for both cells", n)
	}
}

type kvmlessEnv struct {
	*fakeEnv
	mu sync.Mutex
	n  int
}

func (k *kvmlessEnv) ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (string, string, error) {
	k.mu.Lock()
	k.n++
	k.mu.Unlock()
	return "", "", context.DeadlineExceeded
}

func (k *kvmlessEnv) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n
}
