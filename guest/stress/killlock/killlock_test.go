package killlock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// The host kernel handles both windows correctly: both tests must pass.
func TestKillInLockHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	start := time.Now()
	o := runInLock(ctx, stress.Env{Seed: 1})
	t.Logf("%s in %v: %s %v", o.Status, time.Since(start), o.Reason, o.Evidence)
	if o.Status != event.Pass {
		t.Fatalf("robust-kill-in-lock: %s: %s %v", o.Status, o.Reason, o.Evidence)
	}
}

func TestKillInUnlockHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	start := time.Now()
	o := runInUnlock(ctx, stress.Env{Seed: 1})
	t.Logf("%s in %v: %s %v", o.Status, time.Since(start), o.Reason, o.Evidence)
	if o.Status != event.Pass {
		t.Fatalf("robust-kill-in-unlock: %s: %s %v", o.Status, o.Reason, o.Evidence)
	}
}

// Each variant stays well inside the 3 s budget.
func TestKillVariantsBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for _, c := range []struct {
		mode string
		vs   []variant
	}{{lockMode, lockVariants}, {unlockMode, unlockVariants}} {
		for _, v := range c.vs {
			start := time.Now()
			o, err := killVariant(ctx, c.mode, v)
			took := time.Since(start)
			var sk errSkipVariant
			if errors.As(err, &sk) && v.syscall {
				t.Logf("%s/%s: skipped on this kernel: %s", c.mode, v.name, sk.why)
				continue
			}
			if err != nil {
				t.Fatalf("%s/%s: %v", c.mode, v.name, err)
			}
			t.Logf("%s/%s: %v word %#08x -> %#08x woken=%v after %v %s", c.mode, v.name, took, o.Mutex.Before, o.Mutex.After, o.Woken, o.WakeAfter, o.WaiterErr)
			if took > 3*time.Second {
				t.Errorf("%s/%s took %v, want < 3s", c.mode, v.name, took)
			}
		}
	}
}

func goodObservation() observation {
	return observation{
		Variant: "v", ChildTID: 77, WakeBound: 2 * time.Second,
		Mutex:  robust.WatchedWord{Name: "word", Before: 77 | 0x80000000, After: 0xc0000000},
		Others: []robust.WatchedWord{{Name: "neighbour", Before: 77, After: 77}, {Name: "pattern", Before: 0x5a5aa5a5, After: 0x5a5aa5a5}},
		Waiter: true, WantWake: true, WaiterTID: 90, Woken: true, WakeAfter: time.Millisecond,
	}
}

func TestCheckKillInLock(t *testing.T) {
	if ok, why := checkInLock(goodObservation()); !ok {
		t.Fatalf("good history judged bad: %s", why)
	}
	nw := goodObservation()
	nw.Waiter, nw.WantWake, nw.Woken = false, false, false
	nw.Mutex = robust.WatchedWord{Name: "word", Before: 77, After: 0x40000000}
	if ok, why := checkInLock(nw); !ok {
		t.Fatalf("good no-waiter history judged bad: %s", why)
	}
	pi := goodObservation()
	pi.PI, pi.PIWord = true, 0xc0000000|90
	if ok, why := checkInLock(pi); !ok {
		t.Fatalf("good PI handover judged bad: %s", why)
	}
	for _, c := range []struct {
		name string
		mod  func(*observation)
		want string
	}{
		{"pending lock ignored", func(o *observation) { o.Mutex.After = o.Mutex.Before }, "unchanged: the pending lock was ignored"},
		{"tid kept", func(o *observation) { o.Mutex.After = 77 | 0xc0000000 }, "want 0xc0000000"},
		{"waiters lost", func(o *observation) { o.Mutex.After = 0x40000000 }, "want 0xc0000000"},
		{"waiters invented", func(o *observation) { o.Mutex.Before, o.Mutex.After = 77, 0xc0000000 }, "want 0x40000000"},
		{"neighbour corrupted", func(o *observation) { o.Others[0].After = 77 | 0x40000000 }, "neighbour"},
		{"waiter never woken", func(o *observation) { o.Woken, o.WaiterErr, o.WakeAfter = false, "still asleep", 2*time.Second }, "not woken"},
		{"waiter late", func(o *observation) { o.WakeAfter = 2500 * time.Millisecond }, "woken 2.5s after"},
		{"pi handover without owner died", func(o *observation) { o.PI, o.PIWord = true, 0x80000000|90 }, "want the waiter's TID 90"},
		{"pi handover to nobody", func(o *observation) { o.PI, o.PIWord = true, 0xc0000000 }, "want the waiter's TID 90"},
		{"pi waiter never got the lock", func(o *observation) { o.PI, o.Woken, o.WaiterErr = true, false, "timed out" }, "not woken"},
	} {
		o := goodObservation()
		o.Others = append([]robust.WatchedWord{}, o.Others...)
		c.mod(&o)
		ok, why := checkInLock(o)
		if ok || !strings.Contains(why, c.want) {
			t.Errorf("%s: got ok=%v %q, want a failure naming %q", c.name, ok, why, c.want)
		}
	}
}

func TestCheckKillInUnlock(t *testing.T) {
	good := goodObservation()
	good.Mutex = robust.WatchedWord{Name: "word", Before: 0, After: 0}
	if ok, why := checkInUnlock(good); !ok {
		t.Fatalf("good history judged bad: %s", why)
	}
	owned := goodObservation()
	owned.OwnerTID = 55
	owned.Mutex = robust.WatchedWord{Name: "word", Before: 55, After: 55}
	if ok, why := checkInUnlock(owned); !ok {
		t.Fatalf("good third-party history judged bad: %s", why)
	}
	stateC := owned
	stateC.Mutex = robust.WatchedWord{Name: "word", Before: 55 | 0x80000000, After: 55 | 0x80000000}
	stateC.WantWake, stateC.Woken, stateC.WaiterErr = false, false, "still asleep"
	if ok, why := checkInUnlock(stateC); !ok {
		t.Fatalf("a waiter left asleep behind a live owner with WAITERS judged bad: %s", why)
	}
	for _, c := range []struct {
		name string
		base observation
		mod  func(*observation)
		want string
	}{
		{"owner died on a live owner's word", owned, func(o *observation) { o.Mutex.After = 0x40000000 }, "OWNER_DIED set on a word owned by live TID 55"},
		{"owner died or'ed into a live owner's word", owned, func(o *observation) { o.Mutex.After = 55 | 0x40000000 }, "live TID 55"},
		{"owner died on a released word", good, func(o *observation) { o.Mutex.After = 0x40000000 }, "OWNER_DIED set on a word the dead task 77 had released"},
		{"released word changed", good, func(o *observation) { o.Mutex.After = 0x80000000 }, "changed 0x00000000 -> 0x80000000"},
		{"waiter never woken", good, func(o *observation) { o.Woken, o.WaiterErr = false, "still asleep" }, "not woken within 2s"},
		{"waiter late", owned, func(o *observation) { o.WakeAfter = 3 * time.Second }, "woken 3s after"},
		{"pattern corrupted", good, func(o *observation) { o.Others[1].After = 0 }, "pattern"},
		{"vDSO released a contended word", good, func(o *observation) {
			o.VdsoProblem = "the vDSO try-unlock of a contended word 0x8000004d returned 0x8000004d and left the word 0x00000000"
		}, "vDSO try-unlock of a contended word"},
	} {
		o := c.base
		o.Others = append([]robust.WatchedWord{}, o.Others...)
		c.mod(&o)
		ok, why := checkInUnlock(o)
		if ok || !strings.Contains(why, c.want) {
			t.Errorf("%s: got ok=%v %q, want a failure naming %q", c.name, ok, why, c.want)
		}
	}
}
