package run

import (
	"context"
	"runtime"
	"sync"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/machine"
)

// accelProbes lets a run decide its accelerator (the KVM probe: a boot
// that waits up to machine.DefaultProbeSilence for the kernel's first
// line) while its other cells still build, rather than at the first boot,
// where it delayed that arch's boots. The first cell of an arch to get an
// image starts the probe; the boots wait for its answer. The probe is no
// race test, so a build beside it distorts nothing (schedule.go). A run
// whose decision is in the KVM probe's cache (machine.ResolveAccel) gets
// it at once either way.
type accelProbes struct {
	mu sync.Mutex
	m  map[accelKey]*accelAnswer
}

type accelKey struct{ arch, requested string }

// accelAnswer is one probe's outcome, set before done is closed.
type accelAnswer struct {
	done          chan struct{}
	accel, notice string
	err           error
}

func newAccelProbes() *accelProbes { return &accelProbes{m: map[accelKey]*accelAnswer{}} }

// probes reports whether the cell's accelerator needs deciding: a request
// of auto or kvm for a guest of the host's arch (another arch's guest
// always runs on TCG, and tcg is no question).
func (c *cell) probes() bool {
	if c.spec.Accel == "tcg" {
		return false
	}
	return c.arch.HostGOARCH == runtime.GOARCH || c.spec.Accel == "kvm"
}

// start begins deciding the cell's accelerator with its image, unless a
// cell of the same arch and request did already.
func (p *accelProbes) start(ctx context.Context, c *cell, kernel, initrd string) {
	if p == nil || !c.probes() {
		return
	}
	k := accelKey{c.arch.Name, c.spec.Accel}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[k]; ok {
		return
	}
	a := &accelAnswer{done: make(chan struct{})}
	p.m[k] = a
	// The machine as the cell's boot will have it; the probe adds its own
	// command line (machine.ProbeCmdline) and timeouts.
	cfg := machine.Config{Arch: c.arch.Name, CPUs: c.opts.CPUs, MemoryMB: c.memoryMB(), Kernel: kernel, Initramfs: initrd}
	env := c.environment()
	go func() {
		defer close(a.done)
		a.accel, a.notice, a.err = env.ResolveAccel(ctx, c.spec.Accel, cfg, cache.KVMProbe.Path(c.opts.Cache))
	}()
}

// answer returns the decision a cell of this arch and request started, waiting
// for it; ok is false when none was started (the caller probes itself).
func (p *accelProbes) answer(ctx context.Context, c *cell) (accel, notice string, ok bool, err error) {
	if p == nil {
		return "", "", false, nil
	}
	p.mu.Lock()
	a := p.m[accelKey{c.arch.Name, c.spec.Accel}]
	p.mu.Unlock()
	if a == nil {
		return "", "", false, nil
	}
	select {
	case <-a.done:
		return a.accel, a.notice, true, a.err
	case <-ctx.Done():
		return "", "", true, context.Cause(ctx)
	}
}
