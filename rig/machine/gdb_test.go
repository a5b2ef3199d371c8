package machine

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
)

// A machine under gdb may sit paused, or stopped at a breakpoint, for as
// long as the human wants: neither timeout nor the grace after "done"
// ends it; it ends when it powers off.
func TestGDBHasNoTimeouts(t *testing.T) {
	f := &fakeBackend{outputs: []Output{ev(150*time.Millisecond, event.Hello), ev(160*time.Millisecond, event.Done)}, life: 400 * time.Millisecond}
	cfg := register(t, f)
	cfg.BootTimeout, cfg.RunTimeout, cfg.GDBPort = 50*time.Millisecond, 100*time.Millisecond, 1234
	old := doneGrace
	doneGrace = 10 * time.Millisecond
	defer func() { doneGrace = old }()
	o, err := Boot(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.BootTimedOut || o.TimedOut || o.HungAfterDone || o.Shutdown != GuestShutdown {
		t.Errorf("debugged machine was stopped: %+v", o)
	}

	// Without gdb the same machine misses its boot timeout.
	cfg.GDBPort = 0
	if o, _ := Boot(context.Background(), cfg, nil); !o.BootTimedOut {
		t.Errorf("undebugged machine: %+v, want a boot timeout", o)
	}
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	ln.Close()
}
