package machine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
)

// fakeBackend plays a scripted machine: it sends the given outputs at
// their times, then ends by itself after life (if > 0) or when ctx is
// cancelled, like a QEMU stopped through QMP.
type fakeBackend struct {
	outputs []Output
	life    time.Duration
	exit    Exit  // Exit when it ends by itself
	err     error // returned as is (a machine that could not run)
	runs    atomic.Int32
	lastCfg Config
	mu      sync.Mutex
}

func (f *fakeBackend) Version(context.Context, string) (string, error) { return "fake 1.0", nil }

func (f *fakeBackend) Run(ctx context.Context, cfg Config, out func(Output)) (*Outcome, error) {
	f.runs.Add(1)
	f.mu.Lock()
	f.lastCfg = cfg
	f.mu.Unlock()
	o := &Outcome{Argv: []string{"fake"}, Accel: cfg.Accel}
	if f.err != nil {
		o.Exit = Exited(1)
		return o, f.err
	}
	start := time.Now()
	for _, x := range f.outputs {
		select {
		case <-time.After(x.Time - time.Since(start)):
			out(x)
		case <-ctx.Done():
			o.Shutdown, o.Exit = HostQMPQuit, Exited(0)
			return o, nil
		}
	}
	var end <-chan time.Time
	if f.life > 0 {
		end = time.After(f.life - time.Since(start))
	}
	select {
	case <-end:
		o.Exit = f.exit
		if !o.Exit.Started {
			o.Shutdown, o.Exit = GuestShutdown, Exited(0)
		}
	case <-ctx.Done():
		o.Shutdown, o.Exit = HostQMPQuit, Exited(0)
	}
	return o, nil
}

var fakeSeq atomic.Int32

// register makes f available under a fresh name and returns a config
// using it.
func register(t *testing.T, f *fakeBackend) Config {
	name := fmt.Sprintf("fake-%s-%d", t.Name(), fakeSeq.Add(1))
	Register(name, f)
	return Config{Backend: name, Kernel: "/k", BootTimeout: time.Second, RunTimeout: 5 * time.Second}
}

func ev(at time.Duration, kind string) Output {
	return Output{Kind: Event, Event: event.Event{Ev: kind}, Time: at}
}

func testEv(at time.Duration, kind, test string) Output {
	return Output{Kind: Event, Event: event.Event{Ev: kind, Test: test}, Time: at}
}

func TestWithDefaults(t *testing.T) {
	c, err := Config{Kernel: "/k"}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "qemu" || c.Arch != "x86_64" || c.Accel != "tcg" || c.CPUs != 2 || c.MemoryMB != 512 || c.BootTimeout != DefaultBootTimeout || c.RunTimeout != DefaultRunTimeout {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []Config{
		{Kernel: "/k", Accel: "auto"},
		{Kernel: "/k", Accel: "hvf"},
		{Kernel: "/k", CPUs: -1},
		{},
	} {
		if _, err := bad.WithDefaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestBootUnknownBackend(t *testing.T) {
	_, err := Boot(context.Background(), Config{Backend: "nope", Kernel: "/k"}, nil)
	if err == nil || !strings.Contains(err.Error(), `no backend "nope"`) {
		t.Errorf("err = %v", err)
	}
}

func TestBootClean(t *testing.T) {
	f := &fakeBackend{outputs: []Output{{Kind: Console, Line: "Linux version"}, ev(20*time.Millisecond, "hello"), ev(30*time.Millisecond, "done")}, life: 40 * time.Millisecond}
	cfg := register(t, f)
	var kinds []string
	o, err := Boot(context.Background(), cfg, func(x Output) { kinds = append(kinds, x.Kind.String()) })
	if err != nil {
		t.Fatal(err)
	}
	if o.BootTimedOut || o.TimedOut || o.Shutdown != "guest-shutdown" || o.FirstEvent != 20*time.Millisecond {
		t.Errorf("outcome %+v", o)
	}
	if strings.Join(kinds, ",") != "console,event,event" {
		t.Errorf("kinds %v", kinds)
	}
}

func TestBootTimeout(t *testing.T) {
	f := &fakeBackend{outputs: []Output{{Kind: Console, Line: "booting"}}}
	cfg := register(t, f)
	cfg.BootTimeout = 50 * time.Millisecond
	start := time.Now()
	o, err := Boot(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !o.BootTimedOut || o.TimedOut || o.FirstEvent != 0 {
		t.Errorf("outcome %+v", o)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// An event stops the boot timer; the run timer still applies.
func TestRunTimeout(t *testing.T) {
	f := &fakeBackend{outputs: []Output{ev(10*time.Millisecond, "hello")}}
	cfg := register(t, f)
	cfg.BootTimeout = 50 * time.Millisecond
	cfg.RunTimeout = 200 * time.Millisecond
	start := time.Now()
	o, err := Boot(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.BootTimedOut || !o.TimedOut || o.FirstEvent != 10*time.Millisecond {
		t.Errorf("outcome %+v", o)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestBootCancelled(t *testing.T) {
	f := &fakeBackend{}
	cfg := register(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	o, err := Boot(ctx, cfg, nil)
	if !errors.Is(err, context.DeadlineExceeded) || o == nil || o.BootTimedOut || o.TimedOut {
		t.Errorf("err %v outcome %+v", err, o)
	}
}

func TestBootBackendError(t *testing.T) {
	f := &fakeBackend{err: errors.New("qemu: failed to start")}
	cfg := register(t, f)
	o, err := Boot(context.Background(), cfg, nil)
	if err == nil || o == nil || o.Exit != Exited(1) {
		t.Errorf("err %v outcome %+v", err, o)
	}
}

// concurrentBackend calls out from many goroutines at once.
type concurrentBackend struct{}

func (concurrentBackend) Version(context.Context, string) (string, error) { return "", nil }

func (concurrentBackend) Run(ctx context.Context, cfg Config, out func(Output)) (*Outcome, error) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				out(Output{Kind: Console, Line: "x"})
			}
		}()
	}
	wg.Wait()
	return &Outcome{}, nil
}

func TestBootSerialisesOutput(t *testing.T) {
	Register("concurrent", concurrentBackend{})
	var inside, n atomic.Int32
	_, err := Boot(context.Background(), Config{Backend: "concurrent", Kernel: "/k"}, func(Output) {
		if inside.Add(1) != 1 {
			t.Error("out called concurrently")
		}
		time.Sleep(10 * time.Microsecond)
		n.Add(1)
		inside.Add(-1)
	})
	if err != nil || n.Load() != 800 {
		t.Errorf("err %v, %d outputs", err, n.Load())
	}
}

// A guest that said done but whose machine does not end is stopped.
func TestHungAfterDone(t *testing.T) {
	defer func(d time.Duration) { doneGrace = d }(doneGrace)
	doneGrace = 50 * time.Millisecond
	f := &fakeBackend{outputs: []Output{ev(5*time.Millisecond, "hello"), ev(10*time.Millisecond, "done")}}
	cfg := register(t, f)
	o, err := Boot(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !o.HungAfterDone || o.TimedOut || o.BootTimedOut || o.Shutdown != "host-qmp-quit" {
		t.Errorf("outcome %+v", o)
	}
}

// In shell mode "done" comes before the shell starts: the machine lives on
// until the guest ends it (here after 200 ms), never cut at doneGrace.
func TestShellIgnoresDoneGrace(t *testing.T) {
	defer func(d time.Duration) { doneGrace = d }(doneGrace)
	doneGrace = 50 * time.Millisecond
	f := &fakeBackend{outputs: []Output{ev(5*time.Millisecond, "hello"), ev(10*time.Millisecond, "done")}, life: 200 * time.Millisecond, exit: Exited(0)}
	cfg := register(t, f)
	cfg.Shell = true
	start := time.Now()
	o, err := Boot(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.HungAfterDone || time.Since(start) < 150*time.Millisecond {
		t.Errorf("shell session cut short: %+v", o)
	}
}

// A guest silent for EventTimeout while a test runs is stopped; silence
// before the first start, or after a result, is not a test's.
func TestEventTimeout(t *testing.T) {
	const timeout = 250 * time.Millisecond // every gap below is well within it, or far past it
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name       string
		outputs    []Output
		wantSilent bool
	}{
		{"silent in a test", []Output{ev(ms(5), "hello"), ev(ms(10), "start"), ev(ms(900), "progress")}, true},
		{"progress keeps it alive", []Output{ev(ms(5), "hello"), ev(ms(10), "start"),
			ev(ms(60), "progress"), ev(ms(110), "progress"), ev(ms(160), "progress"), ev(ms(210), "progress"),
			ev(ms(260), "progress"), ev(ms(310), "progress"), ev(ms(360), "result"), ev(ms(370), "done")}, false},
		{"silent between tests", []Output{ev(ms(5), "hello"), ev(ms(10), "start"),
			ev(ms(20), "result"), ev(ms(600), "done")}, false},
		// A test asleep lets the next start beside it; its result leaves
		// the other still watched.
		{"silent in a test beside one that ended", []Output{ev(ms(5), "hello"), testEv(ms(10), "start", "a"),
			testEv(ms(20), "start", "b"), testEv(ms(30), "result", "a"), testEv(ms(900), "result", "b")}, true},
		{"overlapping tests that keep talking", []Output{ev(ms(5), "hello"), testEv(ms(10), "start", "a"),
			testEv(ms(20), "start", "b"), testEv(ms(200), "result", "a"), testEv(ms(380), "progress", "b"),
			testEv(ms(400), "result", "b"), ev(ms(900), "done")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBackend{outputs: tc.outputs, life: time.Second}
			cfg := register(t, f)
			cfg.EventTimeout = timeout
			start := time.Now()
			o, err := Boot(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.Silent != tc.wantSilent || o.TimedOut {
				t.Errorf("silent %v, want %v: %+v", o.Silent, tc.wantSilent, o)
			}
			if tc.wantSilent && (o.Shutdown != HostQMPQuit || time.Since(start) > 850*time.Millisecond) {
				t.Errorf("not stopped at the event timeout: %v, %+v", time.Since(start), o)
			}
		})
	}
}

// A caller that stops the machine with a Stop cause gets its Outcome, with
// the reason and no error; any other cancellation is an interruption.
func TestBootStopped(t *testing.T) {
	f := &fakeBackend{outputs: []Output{ev(5*time.Millisecond, "hello")}}
	cfg := register(t, f)
	ctx, stop := context.WithCancelCause(context.Background())
	time.AfterFunc(30*time.Millisecond, func() { stop(&Stop{Reason: "wedged"}) })
	o, err := Boot(ctx, cfg, nil)
	if err != nil || o == nil || o.Stopped != "wedged" || o.Shutdown != HostQMPQuit {
		t.Errorf("err %v outcome %+v", err, o)
	}
}
