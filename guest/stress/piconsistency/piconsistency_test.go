package piconsistency

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/pifutex"
)

func TestPIConsistencyHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	var last map[string]int64
	o := run(ctx, stress.Env{Seed: 1, Duration: 3 * time.Second, Progress: func(c map[string]int64) { last = c }})
	t.Logf("%s in %v: %s %v (last progress %v)", o.Status, time.Since(start), o.Reason, o.Evidence, last)
	if o.Status != event.Pass {
		t.Fatalf("pi-consistency: %s: %s %v", o.Status, o.Reason, o.Evidence)
	}
	if last["acquisitions"] == 0 || last["lock_pi"] == 0 || last["fast"] == 0 || last["trylock"] == 0 {
		t.Errorf("some acquisition path never ran: %v", last)
	}
}

// judged runs a checker's violation (as the run would record it) through
// the verdict.
func judged(v *pifutex.Violation) stress.Outcome {
	st := stats{Acquisitions: 100, LockPI: 40, Fast: 40, Trylock: 20}
	if v != nil {
		st.Violations = 1
	}
	return judge(st, v, time.Second, 4)
}

func TestPICheckersGood(t *testing.T) {
	good := []*pifutex.Violation{
		checkAcquire(acquisition{How: "lock_pi", Lock: 0, TID: 100, Word: 0x80000000 | 100}),
		checkAcquire(acquisition{How: "fast", Lock: 1, TID: 100, Word: 100}),
		checkAcquire(acquisition{How: "lock_pi", Lock: 1, TID: 100, Word: 0xc0000000 | 100, PrevOwner: 55, PrevDead: true}),
		checkWait(0, 100, 0x80000064, 3*time.Millisecond, 2*time.Second, nil),
		checkWaiters(0, 100, 101, 0x80000064, time.Second, true),
		checkWaiters(0, 100, 101, 100, 10*time.Millisecond, true), // about to enter
		checkWaiters(0, 100, 101, 100, time.Second, false),        // not seen asleep
		checkCounters([]uint64{5, 7, 0}, []uint64{5, 7, 0}),
	}
	for i, v := range good {
		if v != nil {
			t.Errorf("good observation %d judged bad: %+v", i, v)
		}
	}
	if o := judged(nil); o.Status != event.Pass {
		t.Errorf("clean run: %s %s", o.Status, o.Reason)
	}
}

func TestPICheckersBroken(t *testing.T) {
	for _, c := range []struct {
		name string
		v    *pifutex.Violation
		want []string // in the reason, then evidence key=value
	}{
		{"word names another TID after LOCK_PI",
			checkAcquire(acquisition{How: "lock_pi", Lock: 2, TID: 100, Word: 0x80000000 | 77}),
			[]string{"owner invariant", "word=0x8000004d", "tid=100", "other_tid=77"}},
		{"word names another TID after trylock",
			checkAcquire(acquisition{How: "trylock", Lock: 0, TID: 100, Word: 0}),
			[]string{"owner invariant", "word=0x00000000"}},
		{"LOCK_PI EDEADLK: the word names a releaser",
			errnoViolation("FUTEX_LOCK_PI", 1, 100, 0x80000000|100, unix.EDEADLK),
			[]string{"owner invariant", "EDEADLK", "other_tid=100"}},
		{"LOCK_PI unexpected errno",
			errnoViolation("FUTEX_LOCK_PI", 1, 100, 0x80000000|101, unix.EINVAL),
			[]string{"errno invariant"}},
		{"two owners in the critical section",
			checkAcquire(acquisition{How: "fast", Lock: 0, TID: 100, Word: 100, PrevOwner: 101}),
			[]string{"mutual-exclusion invariant", "other_tid=101"}},
		{"dead owner without OWNER_DIED",
			checkAcquire(acquisition{How: "lock_pi", Lock: 0, TID: 100, Word: 0x80000000 | 100, PrevOwner: 55, PrevDead: true}),
			[]string{"owner-died invariant", "without OWNER_DIED"}},
		{"OWNER_DIED with a live owner",
			checkAcquire(acquisition{How: "lock_pi", Lock: 0, TID: 100, Word: 0x40000000 | 100}),
			[]string{"owner-died invariant", "released it alive"}},
		{"LOCK_PI timed out",
			checkWait(1, 100, 0x80000065, 2001*time.Millisecond, 2*time.Second, unix.ETIMEDOUT),
			[]string{"wait-bound invariant", "expected=2000", "actual=2001"}},
		{"wait over the bound",
			checkWait(1, 100, 0x80000065, 3*time.Second, 2*time.Second, nil),
			[]string{"wait-bound invariant", "actual=3000"}},
		{"waiter asleep, WAITERS clear",
			checkWaiters(0, 100, 101, 100, 200*time.Millisecond, true),
			[]string{"waiters invariant", "word=0x00000064", "other_tid=101"}},
		{"counter mismatch",
			checkCounters([]uint64{5, 6, 0}, []uint64{5, 7, 0}),
			[]string{"counter invariant", "expected=7", "actual=6", "lock=1"}},
	} {
		if c.v == nil {
			t.Errorf("%s: checker found nothing", c.name)
			continue
		}
		o := judged(c.v)
		if o.Status != event.Fail {
			t.Errorf("%s: status %s, want fail", c.name, o.Status)
			continue
		}
		if !strings.Contains(o.Reason, c.want[0]) {
			t.Errorf("%s: reason %q lacks %q", c.name, o.Reason, c.want[0])
		}
		for _, kv := range c.want[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if ok && o.Evidence[k] != v {
				t.Errorf("%s: evidence %s=%q, want %q", c.name, k, o.Evidence[k], v)
			}
			if !ok && !strings.Contains(o.Reason, kv) {
				t.Errorf("%s: reason %q lacks %q", c.name, o.Reason, kv)
			}
		}
	}
}

// The first violation survives the shared-memory record, as a child
// would leave it for the parent.
func TestSharedMemViolationRecord(t *testing.T) {
	mem, err := unix.MmapPtr(-1, 0, nil, shmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.MunmapPtr(mem, shmSize)
	sh := sharedMem{mem}
	v := checkAcquire(acquisition{How: "lock_pi", Lock: 2, TID: 100, Word: 0x80000000 | 77})
	sh.violate(v)
	sh.violate(checkCounters([]uint64{1}, []uint64{2}))
	got := sh.first()
	if got == nil || *got != *v {
		t.Fatalf("first violation %+v, want %+v", got, v)
	}
	if !sh.stopped() || sh.collect(4, 0).Violations != 2 {
		t.Errorf("stop %v, violations %d", sh.stopped(), sh.collect(4, 0).Violations)
	}
	sh.addKilled(55)
	if !sh.killed(55) || sh.killed(56) {
		t.Errorf("killed table wrong")
	}
	for i := 0; i < killedMax+10; i++ {
		sh.addKilled(uint32(1000 + i))
	}
	if sh.killed(1005) || !sh.killed(1000+killedMax+9) || !sh.killed(1010) {
		t.Errorf("killed ring wrong")
	}
}
