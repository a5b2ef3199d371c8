package run

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// fakeEnv scripts a cell's world: what Prepare decides, and what the
// machine prints and how it ends. It counts boots.
type fakeEnv struct {
	prepare   func(c *cell) bool // nil: ok, with the build id "rig-fake"
	console   []string
	events    []event.Event
	outcome   machine.Outcome
	bootErr   error
	interrupt func() // called while the machine runs (Ctrl-C); Boot then waits for ctx
	boots     int
}

func (f *fakeEnv) Prepare(ctx context.Context, c *cell, patches []patch.Patch) (string, string, bool) {
	if f.prepare != nil && !f.prepare(c) {
		return "", "", false
	}
	c.res.BuildID = "rig-fake"
	return "bzImage", "initramfs.cpio", true
}

func (f *fakeEnv) ResolveAccel(ctx context.Context, requested string, cfg machine.Config, cache string) (string, string, error) {
	return "tcg", "", nil
}

func (f *fakeEnv) Boot(ctx context.Context, cfg machine.Config, out func(machine.Output)) (*machine.Outcome, error) {
	f.boots++
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
	o := f.outcome
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
// directory, with env as its world.
func newTestCell(t *testing.T, env Env) *cell {
	dir := t.TempDir()
	o := Options{Duration: time.Second, Seed: 7, BootTimeout: time.Minute, Cache: t.TempDir(), Root: "../..", UI: ui.Discard()}
	c, err := newCell(o, Spec{ID: "x86_64", Arch: "x86_64", Tests: []string{"pi-giveup"}}, &record{run: &result.Run{ID: "r"}, dir: dir}, dir)
	if err != nil {
		t.Fatal(err)
	}
	c.env = env
	return c
}

// TestPipeline drives whole cells through a fake world: the verdict, its
// cause, which stages were recorded, and that run.json holds the cell.
func TestPipeline(t *testing.T) {
	oopsLine := "[    3.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008"
	for _, tc := range []struct {
		name       string
		env        *fakeEnv
		status     result.Status
		cause      string // substring
		boots      int
		stages     string // the stages recorded, in order
		interrupt  bool
		testStatus string // the guest test's status in the cell, "" = none
	}{
		{name: "pass", env: &fakeEnv{events: testEvents("pass", "fine"), outcome: poweredOff},
			status: result.Pass, boots: 1, stages: "accel boot tests poweroff", testStatus: "pass"},
		{name: "a failing test is the cause", env: &fakeEnv{events: testEvents("fail", "word 0x80000025 names the unlocker"), outcome: poweredOff},
			status: result.Fail, cause: "test pi-giveup failed: word 0x80000025", boots: 1, stages: "accel boot tests poweroff", testStatus: "fail"},
		{name: "a kernel report fails passing tests", env: &fakeEnv{console: []string{oopsLine}, events: testEvents("pass", "fine"), outcome: poweredOff},
			status: result.Fail, cause: "kernel BUG", boots: 1, stages: "accel boot tests poweroff", testStatus: "pass"},
		{name: "a failing test outranks a kernel report", env: &fakeEnv{console: []string{oopsLine}, events: testEvents("fail", "lost"), outcome: poweredOff},
			status: result.Fail, cause: "test pi-giveup failed: lost", boots: 1, stages: "accel boot tests poweroff", testStatus: "fail"},
		{name: "the wrong kernel booted", env: &fakeEnv{events: append([]event.Event{hello("rig-other")}, testEvents("pass", "fine")[1:]...), outcome: poweredOff},
			status: result.InfraError, cause: "booted the wrong kernel", boots: 1, stages: "accel boot tests poweroff", testStatus: "pass"},
		{name: "no hello is a boot error", env: &fakeEnv{console: []string{"[    0.1] Kernel panic - not syncing: VFS: Unable to mount root fs"}, outcome: machine.Outcome{Shutdown: machine.GuestReset, Exit: machine.Exited(0)}},
			status: result.BootError, cause: "Kernel panic", boots: 1, stages: "accel boot"},
		{name: "a prepare verdict never boots", env: &fakeEnv{prepare: func(c *cell) bool { c.fail(result.PatchError, "0002-x.patch does not apply"); return false }},
			status: result.PatchError, cause: "does not apply", boots: 0, stages: ""},
		{name: "a machine error is infra", env: &fakeEnv{bootErr: errors.New("qemu-system-x86_64: not found")},
			status: result.InfraError, cause: "machine: qemu-system-x86_64: not found", boots: 1, stages: "accel boot"},
		{name: "interrupted: no verdict, results kept", env: &fakeEnv{events: testEvents("pass", "fine")[:3]}, interrupt: true,
			status: "", boots: 1, stages: "accel boot tests", testStatus: "pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCell(t, tc.env)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.interrupt {
				tc.env.interrupt = cancel
			}
			c.execute(ctx, nil)
			if c.res.Status != tc.status || !strings.Contains(c.res.Cause, tc.cause) {
				t.Errorf("verdict %q (%s), want %q containing %q", c.res.Status, c.res.Cause, tc.status, tc.cause)
			}
			if tc.env.boots != tc.boots {
				t.Errorf("%d boots, want %d", tc.env.boots, tc.boots)
			}
			var stages []string
			for _, s := range c.res.Stages {
				stages = append(stages, s.Name)
			}
			if got := strings.Join(stages, " "); got != tc.stages {
				t.Errorf("stages %q, want %q", got, tc.stages)
			}
			got := ""
			if len(c.res.Tests) > 0 {
				got = c.res.Tests[0].Status
			}
			if got != tc.testStatus {
				t.Errorf("test status %q, want %q", got, tc.testStatus)
			}
			if tc.boots > 0 { // run.json is written after every stage
				saved, err := result.Load(c.rec.dir)
				if err != nil || len(saved.Cells) != 1 || len(saved.Cells[0].Stages) == 0 || saved.Cells[0].Stages[0].Name != "accel" {
					t.Errorf("run.json after the accel stage: %v, %+v", err, saved)
				}
			}
		})
	}
}
