package run

import (
	"slices"
	"testing"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/machine"
)

// A test the guest runs alongside the others (kselftest-futex) is still
// running while they start and finish: a silent guest names every test
// without a result, and each result keeps its own start.
func TestRunningAlongside(t *testing.T) {
	st := newTestBootState(t, t.TempDir())
	for i, step := range []struct {
		ev   event.Event
		want []string
	}{
		{event.Event{Ev: event.Start, Test: "kselftest-futex", T: 1}, []string{"kselftest-futex"}},
		{event.Event{Ev: event.Start, Test: "pi-consistency", T: 1}, []string{"kselftest-futex", "pi-consistency"}},
		{event.Event{Ev: event.Result, Test: "pi-consistency", Status: event.Pass, T: 11}, []string{"kselftest-futex"}},
		{event.Event{Ev: event.Start, Test: "pi-giveup", T: 11}, []string{"kselftest-futex", "pi-giveup"}},
		{event.Event{Ev: event.Result, Test: "kselftest-futex", Status: event.Pass, T: 12}, []string{"pi-giveup"}},
	} {
		st.out(machine.Output{Kind: machine.Event, Event: step.ev})
		if !slices.Equal(st.running, step.want) {
			t.Errorf("step %d: running %v, want %v", i, st.running, step.want)
		}
	}
	if len(st.results) != 2 || st.results[0].Seconds != 10 || st.results[1].Name != "kselftest-futex" || st.results[1].Seconds != 11 {
		t.Errorf("results %+v", st.results)
	}
}
