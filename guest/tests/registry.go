// Package tests holds the guest's tests and their registry: each Test has a
// stable name (the one rig.tests= selects), runs with a deadline, a seed and
// a duration, and returns a verdict with one-line reason and evidence.
//
// Tests that need another process to kill re-execute the running binary
// (/proc/self/exe) as a child helper: the guest binary and a `go test`
// binary both call ChildMain first thing, so the same code runs in a VM, on
// the host, and under `go test`.
package tests

import (
	"context"
	"sort"
	"time"

	"github.com/rig-kernel/rig/guest/catalog"
	"github.com/rig-kernel/rig/guest/event"
)

// Env is what a test gets besides its context.
type Env struct {
	Seed     int64
	Duration time.Duration // for natural tests: how long to run
	// MinKills (rig.min-kills) asks a natural kill test for this many
	// kills, bounded by Duration: it stops once it has them, and a pass
	// with fewer is not claimed. 0: the test's own default.
	MinKills int
	// Progress reports counters (may be nil).
	Progress func(counters map[string]int64)
}

func (e Env) progress(c map[string]int64) {
	if e.Progress != nil {
		e.Progress(c)
	}
}

// Outcome is a test's verdict.
type Outcome struct {
	Status   string // event.Pass, Fail, Skip or Error
	Reason   string // one line
	Evidence map[string]string
}

// Test is a catalog entry (name, doc, natural, timeout) with its code.
type Test struct {
	catalog.Test
	Run func(ctx context.Context, env Env) Outcome
}

var registry = map[string]Test{}

// Register binds test code to a name; tests outside the catalog (a
// runner's unit tests use some) carry their own entry.
func Register(t Test) {
	if _, dup := registry[t.Name]; dup {
		panic("duplicate test " + t.Name)
	}
	registry[t.Name] = t
}

// register binds run to the catalog's entry called name.
func register(name string, run func(ctx context.Context, env Env) Outcome) {
	c, ok := catalog.Lookup(name)
	if !ok {
		panic("test " + name + " is not in guest/catalog")
	}
	Register(Test{Test: c, Run: run})
}

// Lookup returns the test called name.
func Lookup(name string) (Test, bool) {
	t, ok := registry[name]
	return t, ok
}

// Names returns every registered test name, sorted.
func Names() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func pass(reason string, ev map[string]string) Outcome {
	return Outcome{event.Pass, reason, ev}
}
func fail(reason string, ev map[string]string) Outcome {
	return Outcome{event.Fail, reason, ev}
}
func skip(reason string, ev map[string]string) Outcome {
	return Outcome{event.Skip, reason, ev}
}
func errorf(reason string, ev map[string]string) Outcome {
	return Outcome{event.Error, reason, ev}
}
