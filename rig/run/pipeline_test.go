package run

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// fakeEnv scripts a cell's world: which stage fails and how, whether
// the kernel cache has the kernel, what the machine prints and how it
// ends. It logs the stage calls ("source x86_64", "boot arm64", ...) in
// the order they happen; one fakeEnv may serve every cell of a run.
type fakeEnv struct {
	errs      map[string]error // a stage's error, by stage method ("apply", "build", ...)
	cached    bool             // the kernel cache has the kernel
	missing   []kconfig.Missing
	slowArch  string // this arch's Source takes a while (the slower build)
	badSeries bool   // a series (not the base tree) does not apply
	console   []string
	events    []event.Event
	outcome   machine.Outcome
	bootErr   error
	interrupt func() // called while the machine runs (Ctrl-C); Boot then waits for ctx
	// hang: the machine never ends by itself; Boot waits for ctx and, as
	// machine.Boot does, returns a Stop cause as the Outcome's Stopped.
	hang bool
	// bootHold: each boot lasts this long, and Boot records "end ARCH"
	// when it ends.
	bootHold time.Duration

	mu    sync.Mutex
	calls []string
	boots int
	// probed and booted are the machine configs ResolveAccel and Boot
	// were given last.
	probed, booted machine.Config
}

func (f *fakeEnv) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.errs[strings.Fields(name)[0]]
}

func (f *fakeEnv) called(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.calls, func(s string) bool { return strings.Fields(s)[0] == name })
}

func (f *fakeEnv) Source(ctx context.Context, c *cell) (*source.Tree, error) {
	if c.arch.Name == f.slowArch {
		time.Sleep(20 * time.Millisecond)
	}
	return &source.Tree{Desc: "fake tree", Version: "6.12.0"}, f.call("source " + c.res.ID)
}

func (f *fakeEnv) Lock(ctx context.Context, c *cell, tree *source.Tree) error { return f.call("lock") }
func (f *fakeEnv) Release()                                                   { f.call("release") }

func (f *fakeEnv) Apply(ctx context.Context, c *cell, patches []patch.Patch) ([]patch.Applied, string, error) {
	var applied []patch.Applied
	for _, p := range patches {
		applied = append(applied, patch.Applied{Patch: p, State: patch.StateApplied})
	}
	if f.badSeries && len(patches) > 0 {
		f.call("apply")
		return nil, "", &patch.PatchError{Patch: patches[0].Name}
	}
	return applied, "tree-fake", f.call("apply")
}

func (f *fakeEnv) CachedKernel(c *cell, treeID string) (kbuild.Kernel, bool) {
	f.call("cached")
	return kbuild.Kernel{Key: "k1", Image: "bzImage-cached", BuildID: "rig-fake"}, f.cached
}

func (f *fakeEnv) Config(ctx context.Context, c *cell, patches []patch.Patch) ([]kconfig.Missing, bool, string, error) {
	return f.missing, false, "", f.call("config")
}

func (f *fakeEnv) Build(ctx context.Context, c *cell, buildID string) (string, error) {
	return "bzImage", f.call("build")
}

func (f *fakeEnv) Verify(ctx context.Context, c *cell, image, buildID, treeID string) (string, string, error) {
	return image, "verified", f.call("verify")
}

func (f *fakeEnv) Publish(c *cell, k kbuild.Kernel, image string) string {
	f.call("publish")
	return k.Image
}

func (f *fakeEnv) Selftests(ctx context.Context, c *cell) (map[string]string, error) {
	return map[string]string{"futex_requeue": "k/futex_requeue"}, f.call("selftests")
}

func (f *fakeEnv) Pack(ctx context.Context, c *cell, selftests map[string]string) (*initramfs.Image, error) {
	return &initramfs.Image{Path: "initramfs.cpio", Size: 1 << 20}, f.call("pack")
}

func (f *fakeEnv) ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (string, string, error) {
	f.mu.Lock()
	f.probed = cfg
	f.mu.Unlock()
	return "tcg", "", nil
}

func (f *fakeEnv) Boot(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error) {
	f.call("boot " + cfg.Arch)
	f.mu.Lock()
	f.boots++
	f.booted = cfg
	f.mu.Unlock()
	t := time.Duration(0)
	for _, l := range f.console {
		t += time.Millisecond
		out(machine.Output{Kind: machine.Console, Line: l, Time: t})
	}
	for _, ev := range f.events {
		t += time.Millisecond
		b, _ := json.Marshal(ev)
		out(machine.Output{Kind: machine.Event, Line: string(b), Event: ev, Time: t})
	}
	if f.interrupt != nil {
		f.interrupt()
		<-ctx.Done()
		return &machine.Outcome{Shutdown: machine.HostQMPQuit, Exit: machine.Exited(0)}, ctx.Err()
	}
	if f.bootHold > 0 {
		time.Sleep(f.bootHold)
		f.call("end " + cfg.Arch)
	}
	o := f.outcome
	if f.hang {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			return &o, errors.New("fake machine: never stopped")
		}
		if s, ok := errors.AsType[*machine.Stop](context.Cause(ctx)); ok {
			o.Shutdown, o.Stopped = machine.HostQMPQuit, s.Reason
			return &o, nil
		}
		return &o, ctx.Err()
	}
	return &o, f.bootErr
}

func hello(buildID string) event.Event {
	return event.Event{Ev: event.Hello, Msg: "rig-guest", Evidence: map[string]string{event.KernelVersion: "#" + buildID + " SMP PREEMPT_DYNAMIC"}}
}

func testEvents(status, reason string) []event.Event {
	return []event.Event{hello("rig-fake"), {Ev: event.Start, Test: "pi-giveup", Seed: 7},
		{Ev: event.Result, Test: "pi-giveup", Status: status, Reason: reason}, {Ev: event.Done}}
}

var poweredOff = machine.Outcome{Shutdown: machine.GuestShutdown, Exit: machine.Exited(0)}

// newTestCell is a cell of a one-cell run writing into a temporary
// directory, with env as its world and the series patches.
func newTestCell(t *testing.T, env Env, o Options, tests []string, patches []patch.Patch) *cell {
	return newArchCell(t, env, o, "x86_64", tests, patches)
}

// newArchCell is newTestCell for arch.
func newArchCell(t *testing.T, env Env, o Options, arch string, tests []string, patches []patch.Patch) *cell {
	dir := t.TempDir()
	o.Duration, o.Seed, o.BootTimeout, o.Cache, o.Root, o.UI = time.Second, 7, time.Minute, t.TempDir(), "../..", ui.Discard()
	s := Spec{ID: arch, Arch: arch, Tests: tests, Series: "s", Patches: patches}
	c, err := newCell(o, s, &record{run: &result.Run{ID: "r"}, dir: dir}, dir)
	if err != nil {
		t.Fatal(err)
	}
	c.env = env
	return c
}

// built is the stages of a cell whose kernel is built and booted.
const built = "source apply config build verify pack accel boot tests poweroff"

// TestPipeline drives whole cells through a fake world: the verdict, its
// cause, which stages were recorded, what was cached, and that run.json
// holds the cell.
func TestPipeline(t *testing.T) {
	defer func(d time.Duration) { wedgeGrace = d }(wedgeGrace)
	wedgeGrace = 20 * time.Millisecond
	oopsLine := "[    3.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008"
	series := []patch.Patch{{Name: "0001-futex-fix.patch", Subject: "futex: fix", Data: []byte("a\n")}, {Name: "0002-x.patch", Subject: "x", Data: []byte("b\n")}}
	passing := func() []event.Event { return testEvents("pass", "fine") }
	missing := []kconfig.Missing{{Option: kconfig.Option{Name: "CONFIG_FUTEX_PI", Value: "y"}, Got: "n"}}
	cancelOn := func(stage string) *fakeEnv { return &fakeEnv{errs: map[string]error{stage: context.Canceled}} }
	for _, tc := range []struct {
		name       string
		env        *fakeEnv
		opts       Options
		tests      []string // nil: pi-giveup
		status     result.Status
		cause      string // substring
		boots      int
		stages     string // the stages recorded, in order
		cachedStg  string // the prepare stages recorded as cached
		interrupt  string // cancel the run at this stage ("boot": while the machine runs)
		testStatus string // the guest test's status in the cell, "" = none
	}{
		{name: "pass", env: &fakeEnv{events: passing(), outcome: poweredOff},
			status: result.Pass, boots: 1, stages: built, testStatus: "pass"},
		{name: "a cached kernel is not configured or built", env: &fakeEnv{cached: true, events: passing(), outcome: poweredOff},
			status: result.Pass, boots: 1, stages: "source apply build pack accel boot tests poweroff", cachedStg: "build", testStatus: "pass"},
		{name: "the tree cannot be opened", env: &fakeEnv{errs: map[string]error{"source": errors.New("/src: not a kernel tree")}},
			status: result.InfraError, cause: "kernel source: /src: not a kernel tree", stages: "source"},
		{name: "a patch that does not apply", env: &fakeEnv{errs: map[string]error{"apply": &patch.PatchError{Patch: "0002-x.patch", File: "kernel/futex/core.c"}}},
			status: result.PatchError, cause: "0002-x.patch: kernel/futex/core.c", stages: "source apply"},
		{name: "a config the kernel lacks", env: &fakeEnv{missing: missing},
			status: result.BuildError, cause: "CONFIG_FUTEX_PI", stages: "source apply config"},
		{name: "a lacking config allowed", env: &fakeEnv{missing: missing, events: passing(), outcome: poweredOff}, opts: Options{AllowMissingConfig: true},
			status: result.Pass, boots: 1, stages: built, testStatus: "pass"},
		{name: "a compile error", env: &fakeEnv{errs: map[string]error{"build": &kbuild.Error{Cause: "compiler error", First: "kernel/futex/core.c:1:1: error: boom"}}},
			status: result.BuildError, cause: "compiler error: kernel/futex/core.c:1:1", stages: "source apply config build"},
		{name: "a build the rig cannot run is infra", env: &fakeEnv{errs: map[string]error{"build": errors.New("make: not found")}},
			status: result.InfraError, cause: "make: not found", stages: "source apply config build"},
		{name: "a stale image is never booted", env: &fakeEnv{errs: map[string]error{"verify": &kbuild.StaleError{Image: "bzImage", BuildID: "rig-fake"}}},
			status: result.InfraError, cause: "stale image", stages: "source apply config build verify"},
		{name: "selftests that do not build are skipped, not fatal", env: &fakeEnv{errs: map[string]error{"selftests": errors.New("no headers")}, events: passing(), outcome: poweredOff},
			tests: []string{"pi-giveup", "kselftest-futex"}, status: result.Pass, boots: 1, stages: "source apply config build verify kselftest pack accel boot tests poweroff", testStatus: "pass"},
		{name: "an image that cannot be packed", env: &fakeEnv{errs: map[string]error{"pack": errors.New("disk full")}},
			status: result.InfraError, cause: "packing the initramfs: disk full", stages: "source apply config build verify pack"},
		{name: "a failing test is the cause", env: &fakeEnv{events: testEvents("fail", "word 0x80000025 names the unlocker"), outcome: poweredOff},
			status: result.Fail, cause: "test pi-giveup failed: word 0x80000025", boots: 1, stages: built, testStatus: "fail"},
		{name: "a kernel report fails passing tests", env: &fakeEnv{console: []string{oopsLine}, events: passing(), outcome: poweredOff},
			status: result.Fail, cause: "kernel BUG", boots: 1, stages: built, testStatus: "pass"},
		{name: "a failing test outranks a kernel report", env: &fakeEnv{console: []string{oopsLine}, events: testEvents("fail", "lost"), outcome: poweredOff},
			status: result.Fail, cause: "test pi-giveup failed: lost", boots: 1, stages: built, testStatus: "fail"},
		{name: "the wrong kernel booted", env: &fakeEnv{events: append([]event.Event{hello("rig-other")}, passing()[1:]...), outcome: poweredOff},
			status: result.InfraError, cause: "booted the wrong kernel", boots: 1, stages: built, testStatus: "pass"},
		{name: "a wedged kernel is stopped, its report the cause", env: &fakeEnv{hang: true, events: passing()[:2], console: []string{
			"[   22.993034] rcu: INFO: rcu_sched self-detected stall on CPU", "[   22.997602] RIP: 0010:handle_futex_death+0xdd/0xf1"}},
			status: result.Fail, cause: "kernel rcu-stall: rcu: INFO: rcu_sched self-detected stall on CPU (console.log:1); the machine was wedged and stopped",
			boots: 1, stages: "source apply config build verify pack accel boot tests wedged"},
		{name: "no hello is a boot error", env: &fakeEnv{console: []string{"[    0.1] Kernel panic - not syncing: VFS: Unable to mount root fs"}, outcome: machine.Outcome{Shutdown: machine.GuestReset, Exit: machine.Exited(0)}},
			status: result.BootError, cause: "Kernel panic", boots: 1, stages: "source apply config build verify pack accel boot"},
		{name: "a machine error is infra", env: &fakeEnv{bootErr: errors.New("qemu-system-x86_64: not found")},
			status: result.InfraError, cause: "machine: qemu-system-x86_64: not found", boots: 1, stages: "source apply config build verify pack accel boot"},
		{name: "interrupted in the build: no verdict, no boot", env: cancelOn("build"), interrupt: "build",
			status: "", stages: "source apply config build"},
		{name: "interrupted in the boot: no verdict, results kept", env: &fakeEnv{events: passing()[:3]}, interrupt: "boot",
			status: "", boots: 1, stages: "source apply config build verify pack accel boot tests", testStatus: "pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tests := tc.tests
			if tests == nil {
				tests = []string{"pi-giveup"}
			}
			c := newTestCell(t, tc.env, tc.opts, tests, series)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch tc.interrupt {
			case "boot":
				tc.env.interrupt = cancel
			case "":
			default:
				cancel() // the stage's error is ctx's
			}
			c.execute(ctx, nil)
			if c.res.Status != tc.status || !strings.Contains(c.res.Cause, tc.cause) {
				t.Errorf("verdict %q (%s), want %q containing %q", c.res.Status, c.res.Cause, tc.status, tc.cause)
			}
			if tc.env.boots != tc.boots {
				t.Errorf("%d boots, want %d", tc.env.boots, tc.boots)
			}
			var stages, cached []string
			for _, s := range c.res.Stages {
				stages = append(stages, s.Name)
				if s.Cached && s.Name != "accel" { // accel: the probe's own cache
					cached = append(cached, s.Name)
				}
			}
			if got := strings.Join(stages, " "); got != tc.stages {
				t.Errorf("stages %q, want %q", got, tc.stages)
			}
			if got := strings.Join(cached, " "); got != tc.cachedStg {
				t.Errorf("cached stages %q, want %q", got, tc.cachedStg)
			}
			if tc.env.called("lock") && !tc.env.called("release") {
				t.Errorf("the build slot was never released: %q", tc.env.calls)
			}
			if tc.cachedStg != "" && (tc.env.called("config") || tc.env.called("build")) {
				t.Errorf("a cached kernel was configured or built: %q", tc.env.calls)
			}
			got := ""
			if len(c.res.Tests) > 0 {
				got = c.res.Tests[0].Status
			}
			if got != tc.testStatus {
				t.Errorf("test status %q, want %q", got, tc.testStatus)
			}
			if strings.Contains(tc.stages, "apply") && tc.status != result.PatchError && len(c.res.Patches) != len(series) {
				t.Errorf("%d patches recorded, want %d", len(c.res.Patches), len(series))
			}
			// Each patch's sha256 (of "a\n", "b\n"), for a report made later.
			for i, want := range []string{"87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7", "0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f"} {
				if i < len(c.res.Patches) && c.res.Patches[i].SHA256 != want {
					t.Errorf("patch %d sha256 %q, want %s", i+1, c.res.Patches[i].SHA256, want)
				}
			}
			saved, err := result.Load(c.rec.dir) // run.json is written after every stage
			if err != nil || len(saved.Cells) != 1 || len(saved.Cells[0].Stages) == 0 || saved.Cells[0].Stages[0].Name != "source" {
				t.Errorf("run.json after the source stage: %v, %+v", err, saved)
			}
		})
	}
}
