package run

import (
	"slices"
	"testing"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/machine"
)

// A test asleep beside the next (kselftest-futex while its sleepers wait
// out their sleeps: guest/runner) is still running while the next starts:
// a silent guest names every test without a result, each result keeps its
// own start, and the results keep the start order whichever came first.
func TestRunningBeside(t *testing.T) {
	st := newTestBootState(t, t.TempDir())
	for i, step := range []struct {
		ev   event.Event
		want []string
	}{
		{event.Event{Ev: event.Start, Test: "kselftest-futex", T: 1}, []string{"kselftest-futex"}},
		{event.Event{Ev: event.Start, Test: "pi-consistency", T: 4}, []string{"kselftest-futex", "pi-consistency"}},
		{event.Event{Ev: event.Result, Test: "kselftest-futex", Status: event.Pass, T: 6}, []string{"pi-consistency"}},
		{event.Event{Ev: event.Result, Test: "pi-consistency", Status: event.Pass, T: 14}, nil},
		{event.Event{Ev: event.Start, Test: "pi-giveup", T: 14}, []string{"pi-giveup"}},
		{event.Event{Ev: event.Start, Test: "pi-handover", T: 15}, []string{"pi-giveup", "pi-handover"}},
		{event.Event{Ev: event.Result, Test: "pi-handover", Status: event.Fail, T: 16}, []string{"pi-giveup"}},
		{event.Event{Ev: event.Result, Test: "pi-giveup", Status: event.Pass, T: 24}, nil},
	} {
		st.out(machine.Output{Kind: machine.Event, Event: step.ev})
		if !slices.Equal(st.running, step.want) {
			t.Errorf("step %d: running %v, want %v", i, st.running, step.want)
		}
	}
	var names []string
	for _, r := range st.results {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"kselftest-futex", "pi-consistency", "pi-giveup", "pi-handover"}) {
		t.Errorf("results in order %v, want the start order", names)
	}
	if st.results[0].Seconds != 5 || st.results[2].Seconds != 10 || st.results[3].Seconds != 1 {
		t.Errorf("results %+v", st.results)
	}
}
