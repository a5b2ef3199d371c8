// Package stress is what every guest test is: a catalog entry bound to its
// code, which runs with a deadline, a seed and a duration and returns a
// verdict with a one-line reason and evidence. Each test is a package
// below this one; guest/cmd/rig-guest lists them.
package stress

import (
	"context"
	"sort"
	"strings"
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
	// Output sends one line of what the test's program printed (may be
	// nil).
	Output func(line string)
	// Asleep tells the runner that what is left of the test only sleeps,
	// its outcome already settled or settling without CPU: the runner
	// starts the next test beside it, and the test's result still comes
	// when it returns. May be nil; a second call does nothing.
	Asleep func()
}

// ReportAsleep calls Asleep, if there is one.
func (e Env) ReportAsleep() {
	if e.Asleep != nil {
		e.Asleep()
	}
}

// ReportProgress sends counters through Progress, if there is one.
func (e Env) ReportProgress(c map[string]int64) {
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

// Helpers are the child helper processes a test starts, by name (see
// guest/stress/child): a helper's function runs in a copy of the guest
// binary and returns when the helper is done.
type Helpers map[string]func(args []string) error

// Test is a catalog entry (name, doc, natural, timeout) with its code.
type Test struct {
	catalog.Test
	Run     func(ctx context.Context, env Env) Outcome
	Helpers Helpers
}

// New binds run and helpers to the catalog's entry called name.
func New(name string, run func(ctx context.Context, env Env) Outcome, helpers Helpers) Test {
	c, ok := catalog.Lookup(name)
	if !ok {
		panic("test " + name + " is not in guest/catalog")
	}
	return Test{Test: c, Run: run, Helpers: helpers}
}

// Names returns the names of tests, sorted.
func Names(tests []Test) []string {
	var n []string
	for _, t := range tests {
		n = append(n, t.Name)
	}
	sort.Strings(n)
	return n
}

// Pass, Fail, Skip and Error make an Outcome of their status.
func Pass(reason string, ev map[string]string) Outcome {
	return Outcome{event.Pass, reason, ev}
}
func Fail(reason string, ev map[string]string) Outcome {
	return Outcome{event.Fail, reason, ev}
}
func Skip(reason string, ev map[string]string) Outcome {
	return Outcome{event.Skip, reason, ev}
}
func Error(reason string, ev map[string]string) Outcome {
	return Outcome{event.Error, reason, ev}
}

// OneLine folds s onto one line, as reasons are.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
