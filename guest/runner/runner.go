// Package runner runs the selected guest tests in order and reports them:
// start/progress/result events on the event port and one human line per
// result on the console. A test that says what is left of it only sleeps
// (stress.Env.Asleep) lets the next one start beside it. A panicking or
// hung test becomes an `error` result; the run goes on.
package runner

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
)

// Runner holds one run's settings.
type Runner struct {
	Tests    []stress.Test // the tests it knows; names select from these
	Events   *event.Writer
	Console  io.Writer // human progress; may be nil
	Seed     int64
	Duration time.Duration
	MinKills int // natural kill tests: kills wanted (rig.min-kills); 0: the test's default
	// Grace is how long past a test's timeout the runner waits for it to
	// return before reporting it hung (default DefaultGrace).
	Grace time.Duration
	// Heartbeat is the longest a running test goes without a progress
	// event (default event.Heartbeat).
	Heartbeat time.Duration

	consoleMu sync.Mutex // a test asleep beside another reports at any time
}

func (r *Runner) heartbeat() time.Duration {
	if r.Heartbeat > 0 {
		return r.Heartbeat
	}
	return event.Heartbeat
}

// heartbeat sends a test's progress as the test reports it, and repeats
// the last counters when the test has been quiet for every.
type heartbeat struct {
	mu   sync.Mutex
	last map[string]int64
	at   time.Time
	send func(map[string]int64)
	quit chan struct{}
}

func newHeartbeat(send func(map[string]int64), every time.Duration) *heartbeat {
	h := &heartbeat{send: send, at: time.Now(), quit: make(chan struct{})}
	go func() {
		tick := time.NewTicker(every / 2)
		defer tick.Stop()
		for {
			select {
			case <-h.quit:
				return
			case <-tick.C:
				h.mu.Lock()
				if time.Since(h.at) >= every/2 {
					h.at = time.Now()
					h.send(h.last)
				}
				h.mu.Unlock()
			}
		}
	}()
	return h
}

func (h *heartbeat) progress(c map[string]int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last, h.at = c, time.Now()
	h.send(c)
}

func (h *heartbeat) stop() {
	close(h.quit)
	h.mu.Lock() // a beat being sent is sent before the result
	defer h.mu.Unlock()
	h.send = func(map[string]int64) {}
}

// DefaultGrace is the Grace of a Runner that sets none.
const DefaultGrace = 10 * time.Second

// Result is one test's verdict as reported.
type Result struct {
	Test    string
	Outcome stress.Outcome
	Took    time.Duration
}

// Run runs names in order (nil: every test of r.Tests, by name), each
// after the one before has returned or said it is asleep, and reports
// whether every test passed or was skipped. Results are in names' order.
func (r *Runner) Run(ctx context.Context, names []string) ([]Result, bool) {
	if names == nil {
		names = stress.Names(r.Tests)
	}
	results := make([]Result, len(names))
	var all sync.WaitGroup
	for i, name := range names {
		returned, asleep := make(chan struct{}), make(chan struct{})
		all.Add(1)
		go func() {
			defer all.Done()
			defer close(returned)
			results[i] = r.one(ctx, name, sync.OnceFunc(func() { close(asleep) }))
		}()
		select {
		case <-returned:
		case <-asleep:
		}
	}
	all.Wait()
	ok := true
	for _, res := range results {
		if res.Outcome.Status != event.Pass && res.Outcome.Status != event.Skip {
			ok = false
		}
	}
	return results, ok
}

// one runs test name; asleep is its Env.Asleep.
func (r *Runner) one(ctx context.Context, name string, asleep func()) Result {
	start := time.Now()
	r.send(event.Event{Ev: event.Start, Test: name, Seed: r.Seed})
	var o stress.Outcome
	t, found := r.lookup(name)
	if !found {
		o = stress.Outcome{Status: event.Error,
			Reason: fmt.Sprintf("unknown test %q (valid: %s)", name, strings.Join(stress.Names(r.Tests), ", "))}
	} else {
		o = r.run(ctx, t, asleep)
	}
	o.Reason = stress.OneLine(o.Reason)
	res := Result{Test: name, Outcome: o, Took: time.Since(start)}
	r.send(event.Event{Ev: event.Result, Test: name, Status: o.Status, Reason: o.Reason, Evidence: o.Evidence})
	if r.Console != nil {
		r.consoleMu.Lock()
		defer r.consoleMu.Unlock()
		fmt.Fprintf(r.Console, "rig-guest: %s: %s (%.2fs) %s\n", name, strings.ToUpper(o.Status), res.Took.Seconds(), o.Reason)
	}
	return res
}

func (r *Runner) lookup(name string) (stress.Test, bool) {
	for _, t := range r.Tests {
		if t.Name == name {
			return t, true
		}
	}
	return stress.Test{}, false
}

// run runs t with its deadline, turning panics and hangs into errors.
func (r *Runner) run(parent context.Context, t stress.Test, asleep func()) stress.Outcome {
	timeout := t.Timeout(r.Duration)
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	beat := newHeartbeat(func(c map[string]int64) {
		r.send(event.Event{Ev: event.Progress, Test: t.Name, Counters: c})
	}, r.heartbeat())
	defer beat.stop()
	env := stress.Env{Seed: r.Seed, Duration: r.Duration, MinKills: r.MinKills, Progress: beat.progress, Output: func(line string) {
		r.send(event.Event{Ev: event.Output, Test: t.Name, Msg: line})
	}, Asleep: asleep}
	done := make(chan stress.Outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- stress.Outcome{Status: event.Error, Reason: fmt.Sprintf("panic: %v", p),
					Evidence: map[string]string{"stack": string(debug.Stack())}}
			}
		}()
		done <- t.Run(ctx, env)
	}()
	grace := r.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	select {
	case o := <-done:
		if o.Status == "" {
			o.Status = event.Error
			o.Reason = "test returned no status: " + o.Reason
		}
		return o
	case <-time.After(timeout + grace):
		return stress.Outcome{Status: event.Error, Reason: fmt.Sprintf("test hung: no verdict %v after its %v deadline", grace, timeout)}
	}
}

func (r *Runner) send(e event.Event) {
	if r.Events != nil {
		r.Events.Send(e)
	}
}
