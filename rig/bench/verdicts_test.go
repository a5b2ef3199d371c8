package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// TestMachineTimes: a broken kernel's time to verdict is its machine
// stages, and what detected it is the wedged stage, else the failing
// test's own time; the table shows both.
func TestMachineTimes(t *testing.T) {
	st := func(name string, s float64) result.Stage {
		return result.Stage{Name: name, Elapsed: time.Duration(s * float64(time.Second))}
	}
	wedged := result.Cell{Stages: []result.Stage{st("build", 9), st("boot", 2), st("tests", 22), st("wedged", 3)},
		Tests: []result.Test{{Name: "pi-consistency", Status: "fail", Seconds: 20}}}
	failed := result.Cell{Stages: []result.Stage{st("boot", 2), st("tests", 6), st("poweroff", 1)},
		Tests: []result.Test{{Name: "robust-kill-in-lock", Status: "pass", Seconds: 1}, {Name: "robust-owner-death", Status: "fail", Seconds: 4.5}}}
	for _, tc := range []struct {
		c               result.Cell
		machine, detect time.Duration
	}{
		{wedged, 27 * time.Second, 3 * time.Second},
		{failed, 9 * time.Second, 4500 * time.Millisecond},
	} {
		m, d := machineTimes(tc.c)
		if m != tc.machine || d != tc.detect {
			t.Errorf("machine %s detect %s; want %s, %s", m, d, tc.machine, tc.detect)
		}
	}
	var b bytes.Buffer
	(&Report{Verdicts: []Verdict{{Series: "break-exit-spin", Kind: "wedge: RCU stall", Status: "fail", Wall: 35 * time.Second,
		Machine: 27 * time.Second, Detect: 3 * time.Second, Cause: "kernel rcu-stall: ..."}}}).Print(&b)
	if !strings.Contains(b.String(), "break-exit-spin") || !strings.Contains(b.String(), "3.00s") {
		t.Errorf("table:\n%s", b.String())
	}
}
