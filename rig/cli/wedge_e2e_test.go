package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
)

// wedgeBound is how long a cell may go on after a kernel report that means
// the machine is wedged (docs/design.md, "Kernel reports").
const wedgeBound = 10 * time.Second

// TestE2EWedgedKernel: patches/break-exit-spin makes a task that dies
// owning a contended robust futex spin in the kernel for ever.
//
// With two vCPUs the guest's other CPU keeps going, so only the kernel
// says what happened: an RCU stall about 21 s after the spin starts, on
// x86_64 and on arm64. Each cell must end on that report, as its cause, within wedgeBound of the
// report's console line (the "wedged" stage, timed on the host from the
// line's arrival to the machine's end, plus whatever stages follow it).
//
// With one vCPU the whole guest stops, events included: with a 10 s
// --event-timeout the cell ends as a timeout naming the running test,
// before the stall is even printed.
//
// It runs in parallel with TestE2EExecHang, whose guest idles: see there.
func TestE2EWedgedKernel(t *testing.T) {
	root, results := e2e(t)
	t.Parallel()
	series := filepath.Join(root, "patches/break-exit-spin")

	t.Run("stall", func(t *testing.T) {
		code, r, _, _ := rig(t, "run", "--arch", "x86_64,arm64", "--series", series, "--baseline=false", "--results", results,
			"--tests", "pi-consistency", "--duration", "5s")
		if r == nil || len(r.Cells) != 2 {
			t.Fatalf("exit %d, run %+v; want a cell per arch", code, r)
		}
		if code != ExitFail {
			t.Errorf("exit %d; want %d", code, ExitFail)
		}
		for _, c := range r.Cells {
			if c.Status != result.Fail {
				t.Errorf("%s: %s (%s); want a failure", c.ID, c.Status, c.Cause)
				continue
			}
			// The stalled CPU reports itself ("self-detected stall on
			// CPU") or the other CPU reports it ("detected stalls on
			// CPUs/tasks"), whichever CPU's tick checks first: the
			// same stall either way, and its stack is checked below.
			if !(strings.HasPrefix(c.Cause, "kernel rcu-stall: rcu: INFO: rcu_sched self-detected stall on CPU") ||
				strings.HasPrefix(c.Cause, "kernel rcu-stall: rcu: INFO: rcu_sched detected stalls on CPUs/tasks")) ||
				!strings.Contains(c.Cause, "wedged and stopped") {
				t.Errorf("%s: cause %q; want the RCU stall, the machine stopped for it", c.ID, c.Cause)
			}
			if len(c.Oopses) == 0 || !oops.Wedges(c.Oopses[0].Kind) {
				t.Errorf("%s: reports %+v; want a wedging one first", c.ID, c.Oopses)
				continue
			}
			// The spin is in the exit path: the stall's RIP or pc names it.
			if fr := c.Oopses[0].Stack; len(fr) == 0 || !strings.HasPrefix(fr[0].Func, "handle_futex_death+") {
				t.Errorf("%s: stall stack %+v; want handle_futex_death first", c.ID, fr)
			}
			w, ok := stage(c, "wedged")
			if !ok {
				t.Errorf("%s: stages %+v; want a wedged stage", c.ID, c.Stages)
				continue
			}
			after := w.Elapsed
			for _, s := range c.Stages {
				if s.Start.After(w.Start) {
					after += s.Elapsed
				}
			}
			t.Logf("%s: report to machine end %s, to cell end %s", c.ID, w.Elapsed.Round(time.Millisecond), after.Round(time.Millisecond))
			if after > wedgeBound {
				t.Errorf("%s: the cell ended %s after the report; want at most %s", c.ID, after, wedgeBound)
			}
			if tests, _ := stage(c, "tests"); tests.Elapsed > 2*time.Minute {
				t.Errorf("%s: tests stage %s: the stall should come about 21 s after the spin", c.ID, tests.Elapsed)
			}
		}
	})

	t.Run("silent", func(t *testing.T) {
		code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--series", series, "--baseline=false", "--results", results,
			"--tests", "pi-consistency", "--duration", "5s", "--cpus", "1", "--event-timeout", "10s")
		if r == nil || len(r.Cells) != 1 {
			t.Fatalf("exit %d, run %+v; want one cell", code, r)
		}
		c := r.Cells[0]
		if c.Status != result.Timeout || !strings.HasPrefix(c.Cause, "test pi-consistency: no guest event for 10s (--event-timeout)") {
			t.Errorf("exit %d, cell %s (%s); want a timeout naming pi-consistency", code, c.Status, c.Cause)
		}
		if tests, _ := stage(c, "tests"); tests.Elapsed > time.Minute {
			t.Errorf("tests stage %s; want the cell ended about 10 s after the guest went silent", tests.Elapsed)
		}
	})
}
