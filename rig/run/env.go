package run

import (
	"context"

	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
)

// Env is what a cell's pipeline asks of the world: a kernel and an image
// built from the source and the series, an accelerator, and a machine to
// boot them in. The real one (realEnv) wires source, patch, kconfig,
// kbuild, kselftest, initramfs and machine; the pipeline's unit tests give
// a fake one, so the orchestration around the stages (stages recorded,
// events to results, verdict precedence, interruption) is tested without
// building or booting anything.
type Env interface {
	// Prepare takes the cell from source to a packed image: source,
	// apply, config, build, verify, selftests, pack. ok is false when
	// the cell's verdict is already set (patch-error, build-error, ...)
	// or ctx was cancelled.
	Prepare(ctx context.Context, c *cell, patches []patch.Patch) (kern, initrd string, ok bool)
	// ResolveAccel turns the requested accelerator into kvm or tcg, with
	// a notice for the user when it falls back.
	ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (accel, notice string, err error)
	// Boot runs the machine, passing what it prints to out.
	Boot(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error)
}

// realEnv is the Env of every real run.
type realEnv struct{}

func (realEnv) Prepare(ctx context.Context, c *cell, patches []patch.Patch) (string, string, bool) {
	return c.prepare(ctx, patches)
}

func (realEnv) ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (string, string, error) {
	return machine.ResolveAccel(ctx, requested, cfg, cache)
}

func (realEnv) Boot(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error) {
	return machine.Boot(ctx, cfg, out)
}

// environment is the cell's Env: the real one unless a test set another.
func (c *cell) environment() Env {
	if c.env == nil {
		return realEnv{}
	}
	return c.env
}
