package runner

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/catalog"
	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
)

// fakes are tests that pass, panic and hang.
var fakes = []stress.Test{
	{Test: catalog.Test{Name: "zz-panic"}, Run: func(context.Context, stress.Env) stress.Outcome { panic("boom") }},
	{Test: catalog.Test{Name: "zz-hang", MaxTime: 20 * time.Millisecond}, Run: func(context.Context, stress.Env) stress.Outcome {
		select {}
	}},
	{Test: catalog.Test{Name: "zz-ok"}, Run: func(ctx context.Context, env stress.Env) stress.Outcome {
		env.Progress(map[string]int64{"n": 1})
		return stress.Outcome{Status: event.Pass, Reason: "fine\nsecond line"}
	}},
}

func TestRunner(t *testing.T) {
	var evs, con bytes.Buffer
	r := Runner{Tests: fakes, Events: event.NewWriter(&evs), Console: &con, Seed: 5, Duration: time.Second, Grace: 20 * time.Millisecond}
	res, ok := r.Run(context.Background(), []string{"zz-ok", "zz-panic", "zz-hang", "nope"})
	if ok {
		t.Fatal("run with failures reported ok")
	}
	want := []struct{ status, reason string }{
		{event.Pass, "fine second line"},
		{event.Error, "panic: boom"},
		{event.Error, "test hung"},
		{event.Error, `unknown test "nope" (valid: `},
	}
	for i, w := range want {
		if res[i].Outcome.Status != w.status || !strings.Contains(res[i].Outcome.Reason, w.reason) {
			t.Errorf("%s: %s %q, want %s %q", res[i].Test, res[i].Outcome.Status, res[i].Outcome.Reason, w.status, w.reason)
		}
	}
	d := event.NewDecoder(&evs)
	var kinds []string
	for {
		e, _, err := d.Next()
		if err != nil {
			break
		}
		kinds = append(kinds, e.Ev)
		if e.Ev == event.Start && e.Seed != 5 {
			t.Errorf("start without seed: %+v", e)
		}
	}
	if got := strings.Join(kinds, ","); got != "start,progress,result,start,result,start,result,start,result" {
		t.Errorf("events %s", got)
	}
	if d.Skipped != 0 {
		t.Errorf("%d invalid lines", d.Skipped)
	}
	if n := strings.Count(con.String(), "\n"); n != 4 || !strings.Contains(con.String(), "zz-ok: PASS") {
		t.Errorf("console:\n%s", con.String())
	}
	if _, ok := r.Run(context.Background(), []string{"zz-ok"}); !ok {
		t.Error("all-pass run not ok")
	}
}

// A test that goes quiet still has a progress event at least every
// heartbeat, repeating its last counters, so the host's no-event timeout
// only fires on a guest that is really silent.
func TestHeartbeat(t *testing.T) {
	quiet := stress.Test{Test: catalog.Test{Name: "zz-quiet"}, Run: func(ctx context.Context, env stress.Env) stress.Outcome {
		env.Progress(map[string]int64{"n": 7})
		time.Sleep(250 * time.Millisecond)
		return stress.Outcome{Status: event.Pass}
	}}
	var evs bytes.Buffer
	r := Runner{Tests: []stress.Test{quiet}, Events: event.NewWriter(&evs), Duration: time.Second, Heartbeat: 50 * time.Millisecond}
	r.Run(context.Background(), nil)
	d := event.NewDecoder(&evs)
	var beats int
	var last float64
	for {
		e, _, err := d.Next()
		if err != nil {
			break
		}
		if e.Ev == event.Progress {
			beats++
			if e.Counters["n"] != 7 {
				t.Errorf("heartbeat without the last counters: %+v", e)
			}
			if beats > 1 && e.T-last > 0.2 {
				t.Errorf("%.3fs between progress events, want about the heartbeat (0.05s)", e.T-last)
			}
			last = e.T
		}
		if e.Ev == event.Result && beats < 3 {
			t.Errorf("%d progress events in a 250ms quiet test with a 50ms heartbeat, want at least 3", beats)
		}
	}
}

// A test that says it is asleep lets the next start beside it: here the
// sleeper returns only once the next test has run, which a runner that
// waited for it to return could not let happen (it would time out). The
// results keep the names' order.
func TestAsleep(t *testing.T) {
	ran := make(chan struct{})
	sleeper := stress.Test{Test: catalog.Test{Name: "aa-sleeper", MaxTime: 5 * time.Second},
		Run: func(ctx context.Context, env stress.Env) stress.Outcome {
			env.ReportAsleep()
			env.ReportAsleep() // a second call does nothing
			select {
			case <-ran:
				return stress.Outcome{Status: event.Pass}
			case <-ctx.Done():
				return stress.Outcome{Status: event.Fail, Reason: "the next test did not run beside it"}
			}
		}}
	next := stress.Test{Test: catalog.Test{Name: "bb-next"}, Run: func(context.Context, stress.Env) stress.Outcome {
		close(ran)
		return stress.Outcome{Status: event.Pass}
	}}
	var evs, con bytes.Buffer
	r := Runner{Tests: []stress.Test{next, sleeper}, Events: event.NewWriter(&evs), Console: &con, Duration: time.Second}
	res, ok := r.Run(context.Background(), nil)
	if !ok || len(res) != 2 || res[0].Test != "aa-sleeper" || res[1].Test != "bb-next" {
		t.Fatalf("ok %v, results %+v", ok, res)
	}
	d := event.NewDecoder(&evs)
	var seq []string
	for {
		e, _, err := d.Next()
		if err != nil {
			break
		}
		seq = append(seq, e.Ev+" "+e.Test)
	}
	// The sleeper's result and the next test's come in either order.
	if got := strings.Join(seq, ", "); got != "start aa-sleeper, start bb-next, result bb-next, result aa-sleeper" &&
		got != "start aa-sleeper, start bb-next, result aa-sleeper, result bb-next" {
		t.Errorf("events: %s", got)
	}
	if !strings.Contains(con.String(), "rig-guest: aa-sleeper: PASS") {
		t.Errorf("console: %s", con.String())
	}
}
