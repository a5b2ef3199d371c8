package pigiveup

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/pifutex"
)

// On the host kernel (which handles waiters that give up) a short run
// passes, and every way of giving up happens.
func TestPIGiveUpHost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 3 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := run(ctx, stress.Env{Seed: 1, Duration: 3 * time.Second})
	t.Logf("%s: %s", o.Status, o.Reason)
	if o.Status != event.Pass {
		t.Fatalf("%s: %s %v", o.Status, o.Reason, o.Evidence)
	}
	for _, k := range []string{"gave_up_lock_pi", "gave_up_lock_pi2", "gave_up_requeue_pi", "killed_asleep", "raced_killed", "stayers_handed", "requeued", "requeue_woken"} {
		if o.Evidence[k] == "" || o.Evidence[k] == "0" {
			t.Errorf("%s = %q in 3 s: that way of giving up (or of waking) never ran; evidence %v", k, o.Evidence[k], o.Evidence)
		}
	}
}

func TestPIGiveUpCheckers(t *testing.T) {
	const me, other = 100, 200
	for _, tc := range []struct {
		name string
		v    *pifutex.Violation
		kind string // "" = fine
		has  string
	}{
		{"unlock released", checkUnlock(ownerUnlock{TID: me, Word: other | futex.FUTEX_WAITERS}), "", ""},
		{"unlock released to 0", checkUnlock(ownerUnlock{TID: me}), "", ""},
		{"unlock left the word naming the unlocker", checkUnlock(ownerUnlock{TID: me, Word: me | futex.FUTEX_WAITERS}), "unlock",
			"FUTEX_UNLOCK_PI by TID 100 returned 0 but the word is 0x80000064: it still names TID 100"},
		{"unlock errno", checkUnlock(ownerUnlock{TID: me, Err: unix.EPERM, Word: other}), "unlock", "operation not permitted"},
		{"timed out, word names another", checkWait(waited{Way: lockPI, TID: me, Err: unix.ETIMEDOUT, Word: other}, 0), "", ""},
		{"timed out, word names the leaver", checkWait(waited{Way: lockPI2, TID: me, Err: unix.ETIMEDOUT, Word: me | futex.FUTEX_WAITERS}, 0), "owner",
			"lock_pi2 by TID 100 returned ETIMEDOUT but the word is 0x80000064"},
		{"stayer never handed", checkWait(waited{Way: stay, TID: me, Err: unix.ETIMEDOUT, Word: other}, 0), "wait-bound", "never handed the lock"},
		{"EINVAL", checkWait(waited{Way: lockPI, TID: me, Err: unix.EINVAL, Word: 0}, 0), "errno", "lock_pi by TID 100: invalid argument (word 0x00000000, TID 0)"},
		{"EDEADLK", checkWait(waited{Way: requeuePI, TID: me, Err: unix.EDEADLK, Word: me}, 0), "errno", "requeue_pi by TID 100: resource deadlock avoided"},
		{"got it", checkWait(waited{Way: lockPI, TID: me, Word: me | futex.FUTEX_WAITERS, After: 0}, 0), "", ""},
		{"got it, word names another", checkWait(waited{Way: lockPI, TID: me, Word: other}, 0), "owner", "returned 0 but the word is 0x000000c8: it names TID 200"},
		{"two inside", checkWait(waited{Way: lockPI, TID: me, Word: me, Prev: other}, 0), "mutual-exclusion", "while TID 200 was inside"},
		{"inside: the killed one", checkWait(waited{Way: stay, TID: me, Word: me | futex.FUTEX_OWNER_DIED, Prev: other}, other), "", ""},
		{"OWNER_DIED, nobody died", checkWait(waited{Way: stay, TID: me, Word: me | futex.FUTEX_OWNER_DIED}, 0), "owner-died", "no owner died"},
		{"release left its TID", checkWait(waited{Way: lockPI, TID: me, Word: me, After: me | futex.FUTEX_WAITERS}, 0), "unlock", "still names TID 100"},
		{"end free", checkEnd(0, 0), "", ""},
		{"end OWNER_DIED after a kill", checkEnd(futex.FUTEX_OWNER_DIED, other), "", ""},
		{"end OWNER_DIED|WAITERS after a kill", checkEnd(futex.FUTEX_OWNER_DIED|futex.FUTEX_WAITERS, other), "", ""},
		{"end OWNER_DIED without one", checkEnd(futex.FUTEX_OWNER_DIED, 0), "owner", "the word is 0x40000000"},
		{"end dead owner's TID kept", checkEnd(other|futex.FUTEX_OWNER_DIED, other), "owner", "the word is 0x400000c8"},
		{"end held", checkEnd(me|futex.FUTEX_WAITERS, 0), "owner", "the word is 0x80000064 (TID 100)"},
	} {
		switch {
		case tc.kind == "" && tc.v != nil:
			t.Errorf("%s: violation %s: %s", tc.name, tc.v.Kind, tc.v.Detail)
		case tc.kind != "" && tc.v == nil:
			t.Errorf("%s: no violation, want %s", tc.name, tc.kind)
		case tc.kind != "" && (tc.v.Kind != tc.kind || !strings.Contains(tc.v.Detail, tc.has)):
			t.Errorf("%s: %s: %s; want %s containing %q", tc.name, tc.v.Kind, tc.v.Detail, tc.kind, tc.has)
		}
	}
	u := ownerUnlock{Start: 1000, End: 2000}
	for _, tc := range []struct {
		left, ret int64
		want      bool
	}{{500, 1500, true}, {1900, 2100, true}, {500, 900, false}, {2100, 2200, false}} {
		if got := racedUnlock(tc.left, tc.ret, u); got != tc.want {
			t.Errorf("racedUnlock(%d, %d, [1000,2000]) = %v", tc.left, tc.ret, got)
		}
	}
}
