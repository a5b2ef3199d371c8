package ownerdeath

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

func TestOwnerDeathHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	o := run(ctx, stress.Env{Seed: 1})
	t.Logf("%s in %v: %s %v", o.Status, time.Since(start), o.Reason, o.Evidence)
	if o.Status != event.Pass {
		t.Fatalf("robust-owner-death: %s: %s %v", o.Status, o.Reason, o.Evidence)
	}
}

func goodObservation() observation {
	return observation{
		Variant: "v", ChildTID: 77, WakeBound: 2 * time.Second,
		Owned: []robust.WatchedWord{{Name: "lock0", Before: 77 | 0x80000000, After: 0xc0000000},
			{Name: "lock1", Before: 77, After: 0x40000000}},
		Others: []robust.WatchedWord{{Name: "nobody", Before: 0, After: 0}, {Name: "unlinked", Before: 77, After: 77}},
		Waiter: true, WaiterOn: 0, Woken: true, WakeAfter: time.Millisecond,
	}
}

func TestCheckOwnerDeath(t *testing.T) {
	if ok, why := check(goodObservation()); !ok {
		t.Fatalf("good history judged bad: %s", why)
	}
	pi := goodObservation()
	pi.PI, pi.WaiterTID = true, 90
	pi.Owned = append([]robust.WatchedWord{}, pi.Owned...)
	pi.Owned[0].After = 0xc0000000 | 90
	if ok, why := check(pi); !ok {
		t.Fatalf("good PI handover judged bad: %s", why)
	}
	for _, c := range []struct {
		name string
		mod  func(*observation)
		want string
	}{
		{"no owner died", func(o *observation) { o.Owned[1].After = 77 }, "lock1"},
		{"tid kept", func(o *observation) { o.Owned[1].After = 77 | 0x40000000 }, "lock1"},
		{"waiters lost", func(o *observation) { o.Owned[0].After = 0x40000000 }, "lock0"},
		{"waiters invented", func(o *observation) { o.Owned[1].After = 0xc0000000 }, "lock1"},
		{"bystander corrupted", func(o *observation) { o.Others[1].After = 77 | 0x40000000 }, "unlinked"},
		{"waiter never woken", func(o *observation) { o.Woken = false; o.WaiterErr = "still asleep" }, "not woken"},
		{"waiter late", func(o *observation) { o.WakeAfter = 3 * time.Second }, "woken after"},
		{"pi handover to nobody", func(o *observation) { o.PI, o.WaiterTID = true, 90; o.Owned[0].After = 0xc0000000 }, "want TID 90"},
		{"pi handover without owner died", func(o *observation) { o.PI, o.WaiterTID = true, 90; o.Owned[0].After = 0x80000000 | 90 }, "want TID 90"},
		{"pi waiter never got the lock", func(o *observation) { o.PI, o.WaiterTID, o.Woken = true, 90, false }, "not woken"},
	} {
		o := goodObservation()
		o.Owned = append([]robust.WatchedWord{}, o.Owned...)
		o.Others = append([]robust.WatchedWord{}, o.Others...)
		c.mod(&o)
		ok, why := check(o)
		if ok || !strings.Contains(why, c.want) {
			t.Errorf("%s: got ok=%v %q, want a failure naming %q", c.name, ok, why, c.want)
		}
	}
}
