// Package piconsistency is the guest test pi-consistency: threads and
// child processes contend on PI futexes, some are killed, and every
// acquisition checks that the word names the real owner.
package piconsistency

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/child"
	"github.com/rig-kernel/rig/guest/stress/pifutex"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// pi-consistency (docs/design.md, "PI futexes"): threads pinned to OS
// threads, some of them in child processes with a robust list, contend on a
// few PI futexes in shared memory through the user-space fast path,
// FUTEX_LOCK_PI (with a timeout), FUTEX_TRYLOCK_PI and FUTEX_UNLOCK_PI;
// children are SIGKILLed while they hold a lock. Every acquisition checks
// that the word names the caller, that nobody else is inside the critical
// section, that OWNER_DIED shows up exactly after a dead owner, that no
// waiter slept past the bound and that a sleeping waiter is reflected by
// FUTEX_WAITERS; at the end a non-atomic counter per lock must equal the
// acquisitions of that lock.

// Test is pi-consistency.
var Test = stress.New("pi-consistency", run, stress.Helpers{"pi-contend": contendChild})

const (
	locks        = 3
	waitBound    = 2 * time.Second       // FUTEX_LOCK_PI timeout and the bound on any wait
	asleepBound  = 50 * time.Millisecond // a waiter registered this long must be reflected by WAITERS
	maxSlots     = 200
	shmSize      = 1 << 16
	killSpacing  = 150 * time.Millisecond // mean pause between kills (plus jitter)
	childAnswer  = 20 * time.Second
	childTimeout = waitBound + 10*time.Second
)

// Layout of the shared memory (a memfd, mapped by the parent and every
// child at different addresses: only offsets are shared).
const (
	stopFlag       = 0x00 // u32: 1 = contenders finish their iteration and stop
	violationCount = 0x08 // u64: violations counted
	firstClaim     = 0x10 // u32: the first violation record is being written
	firstReady     = 0x14 // u32: ... and complete
	killedCount    = 0x18 // u32: TIDs ever added to the killed-TID ring (one writer: the parent)
	firstRecord    = 0x40 // the first violation's record, rec* offsets
	killedRing     = 0x400
	killedMax      = 768 // ring of u32 TIDs killed while holding, up to 0x1000
	lockBase       = 0x1000
	lockStride     = 64 // list entry at +0, word at +robust.FutexOffset, owner at +12, counter at +16
	slotBase       = 0x2000
	slotStride     = 256

	recKind, recLock, recWord, recTID, recOther = 0, 4, 8, 12, 16
	recExpected, recActual, recMsgLen, recMsg   = 24, 32, 40, 48
	recMsgMax                                   = 0x400 - firstRecord - recMsg

	// Per-contender slot.
	slotTID       = 0  // u32
	slotPID       = 4  // u32
	slotWaitLock  = 8  // u32: lock index + 1 while inside FUTEX_LOCK_PI
	slotHold      = 12 // u32: 1 = parent asks to die holding, 2 = holding and ready to die
	slotWaitSince = 16 // i64: CLOCK_MONOTONIC ns when the LOCK_PI call started
	slotMaxWait   = 24 // i64 ns
	slotFast      = 32 // u64 counters
	slotLockPI    = 40
	slotTrylock   = 48
	slotOwnerDied = 56
	slotAcq       = 64                // u64 per lock
	slotWaitersOK = slotAcq + locks*8 // u64: samples with a registered waiter and WAITERS set
)

func kindIndex(name string) uint32 {
	for i, k := range pifutex.Kinds {
		if k == name {
			return uint32(i)
		}
	}
	return 0
}

// sharedMem is the shared memory as seen by one process.
type sharedMem struct{ p unsafe.Pointer }

func (s sharedMem) u32(off uintptr) *uint32 { return (*uint32)(unsafe.Add(s.p, off)) }
func (s sharedMem) u64(off uintptr) *uint64 { return (*uint64)(unsafe.Add(s.p, off)) }
func (s sharedMem) i64(off uintptr) *int64  { return (*int64)(unsafe.Add(s.p, off)) }

func lockOff(l int) uintptr                    { return lockBase + uintptr(l)*lockStride }
func (s sharedMem) entry(l int) unsafe.Pointer { return unsafe.Add(s.p, lockOff(l)) }
func (s sharedMem) word(l int) *uint32         { return s.u32(lockOff(l) + robust.FutexOffset) }
func (s sharedMem) owner(l int) *uint32        { return s.u32(lockOff(l) + 12) }
func (s sharedMem) counter(l int) *uint64      { return s.u64(lockOff(l) + 16) }
func slotOff(slot int, field uintptr) uintptr {
	return slotBase + uintptr(slot)*slotStride + field
}
func (s sharedMem) s32(slot int, f uintptr) *uint32 { return s.u32(slotOff(slot, f)) }
func (s sharedMem) s64(slot int, f uintptr) *uint64 { return s.u64(slotOff(slot, f)) }
func (s sharedMem) acq(slot, l int) *uint64 {
	return s.u64(slotOff(slot, slotAcq+uintptr(l)*8))
}

func (s sharedMem) stopped() bool { return atomic.LoadUint32(s.u32(stopFlag)) != 0 }

// killed reports whether tid was SIGKILLed while holding a lock.
func (s sharedMem) killed(tid uint32) bool {
	n := int(atomic.LoadUint32(s.u32(killedCount)))
	for i := 0; i < n && i < killedMax; i++ { // a ring: the recent kills
		if atomic.LoadUint32(s.u32(killedRing+uintptr(i)*4)) == tid {
			return true
		}
	}
	return false
}

func (s sharedMem) addKilled(tid uint32) {
	n := atomic.LoadUint32(s.u32(killedCount))
	atomic.StoreUint32(s.u32(killedRing+uintptr(n%killedMax)*4), tid)
	atomic.StoreUint32(s.u32(killedCount), n+1)
}

// violate counts v, keeps it if it is the first, and stops the run.
func (s sharedMem) violate(v *pifutex.Violation) {
	atomic.AddUint64(s.u64(violationCount), 1)
	if atomic.CompareAndSwapUint32(s.u32(firstClaim), 0, 1) {
		r := uintptr(firstRecord)
		atomic.StoreUint32(s.u32(r+recKind), kindIndex(v.Kind))
		atomic.StoreUint32(s.u32(r+recLock), uint32(v.Lock))
		atomic.StoreUint32(s.u32(r+recWord), v.Word)
		atomic.StoreUint32(s.u32(r+recTID), v.TID)
		atomic.StoreUint32(s.u32(r+recOther), v.Other)
		atomic.StoreInt64(s.i64(r+recExpected), v.Expected)
		atomic.StoreInt64(s.i64(r+recActual), v.Actual)
		msg := v.Detail
		if len(msg) > recMsgMax {
			msg = msg[:recMsgMax]
		}
		copy(unsafe.Slice((*byte)(unsafe.Add(s.p, r+recMsg)), recMsgMax), msg)
		atomic.StoreUint32(s.u32(r+recMsgLen), uint32(len(msg)))
		atomic.StoreUint32(s.u32(firstReady), 1)
	}
	atomic.StoreUint32(s.u32(stopFlag), 1)
}

func (s sharedMem) first() *pifutex.Violation {
	if atomic.LoadUint32(s.u32(firstReady)) == 0 {
		return nil
	}
	r := uintptr(firstRecord)
	v := &pifutex.Violation{
		Lock: int(atomic.LoadUint32(s.u32(r + recLock))), Word: atomic.LoadUint32(s.u32(r + recWord)),
		TID: atomic.LoadUint32(s.u32(r + recTID)), Other: atomic.LoadUint32(s.u32(r + recOther)),
		Expected: atomic.LoadInt64(s.i64(r + recExpected)), Actual: atomic.LoadInt64(s.i64(r + recActual)),
	}
	if k := int(atomic.LoadUint32(s.u32(r + recKind))); k < len(pifutex.Kinds) {
		v.Kind = pifutex.Kinds[k]
	}
	n := int(atomic.LoadUint32(s.u32(r + recMsgLen)))
	v.Detail = string(unsafe.Slice((*byte)(unsafe.Add(s.p, r+recMsg)), n))
	return v
}

// The invariant checkers: pure functions of what a contender observed, so
// that unit tests can feed them broken histories. nil means fine.

// acquisition is one acquisition as observed right after it.
type acquisition struct {
	How       string // fast, lock_pi, trylock
	Lock      int
	TID       uint32
	Word      uint32 // read right after the acquisition
	PrevOwner uint32 // the critical-section owner field we replaced (0: free)
	PrevDead  bool   // PrevOwner was SIGKILLed while holding
}

func checkAcquire(a acquisition) *pifutex.Violation {
	v := &pifutex.Violation{Lock: a.Lock, Word: a.Word, TID: a.TID, Other: a.PrevOwner}
	switch {
	case a.Word&futex.FUTEX_TID_MASK != a.TID:
		v.Kind = "owner"
		v.Other = a.Word & futex.FUTEX_TID_MASK
		v.Expected, v.Actual = int64(a.TID), int64(v.Other)
		v.Detail = fmt.Sprintf("after %s succeeded on lock %d the word is %#08x: TID %d, the caller is %d",
			a.How, a.Lock, a.Word, v.Other, a.TID)
	case a.PrevOwner != 0 && !a.PrevDead:
		v.Kind = "mutual-exclusion"
		v.Detail = fmt.Sprintf("%s gave lock %d (word %#08x) to TID %d while TID %d was still inside the critical section",
			a.How, a.Lock, a.Word, a.TID, a.PrevOwner)
	case a.PrevOwner != 0 && a.Word&futex.FUTEX_OWNER_DIED == 0:
		v.Kind = "owner-died"
		v.Detail = fmt.Sprintf("lock %d held by TID %d when it was SIGKILLed went to TID %d without OWNER_DIED (word %#08x)",
			a.Lock, a.PrevOwner, a.TID, a.Word)
	case a.PrevOwner == 0 && a.Word&futex.FUTEX_OWNER_DIED != 0:
		v.Kind = "owner-died"
		v.Detail = fmt.Sprintf("lock %d went to TID %d with OWNER_DIED (word %#08x) but its last owner released it alive",
			a.Lock, a.TID, a.Word)
	default:
		return nil
	}
	return v
}

// checkWait judges one FUTEX_LOCK_PI call that took wait and returned err.
func checkWait(lock int, tid uint32, word uint32, wait, bound time.Duration, err error) *pifutex.Violation {
	if errors.Is(err, unix.ETIMEDOUT) || wait > bound {
		return &pifutex.Violation{Kind: "wait-bound", Lock: lock, TID: tid, Word: word,
			Expected: bound.Milliseconds(), Actual: wait.Milliseconds(),
			Detail: fmt.Sprintf("FUTEX_LOCK_PI on lock %d by TID %d returned %v after %v, bound %v, while holders hold for microseconds (word %#08x)",
				lock, tid, pifutex.ErrString(err), wait.Round(time.Millisecond), bound, word)}
	}
	return nil
}

// errnoViolation judges an unexpected error of FUTEX_LOCK_PI/TRYLOCK_PI. EDEADLK
// means the word names the caller although it does not hold the lock (it
// released it): the owner invariant.
func errnoViolation(op string, lock int, tid, word uint32, err error) *pifutex.Violation {
	v := &pifutex.Violation{Kind: "errno", Lock: lock, TID: tid, Word: word, Other: word & futex.FUTEX_TID_MASK,
		Detail: fmt.Sprintf("%s on lock %d by TID %d: %v (word %#08x)", op, lock, tid, err, word)}
	if errors.Is(err, unix.EDEADLK) {
		v.Kind = "owner"
		v.Expected, v.Actual = 0, int64(v.Other)
		v.Detail = fmt.Sprintf("%s on lock %d by TID %d returned EDEADLK: the word %#08x names TID %d, but TID %d released the lock and another task owns it",
			op, lock, tid, word, v.Other, tid)
	}
	return v
}

// checkWaiters judges a word sampled by the holder while waiter (a
// thread registered inside FUTEX_LOCK_PI on the same lock for asleepFor,
// confirmed asleep in futex(2) when confirmed) sleeps.
func checkWaiters(lock int, holder, waiter uint32, word uint32, asleepFor time.Duration, confirmed bool) *pifutex.Violation {
	if word&futex.FUTEX_WAITERS != 0 || asleepFor <= asleepBound || !confirmed {
		return nil
	}
	return &pifutex.Violation{Kind: "waiters", Lock: lock, Word: word, TID: holder, Other: waiter,
		Expected: asleepBound.Milliseconds(), Actual: asleepFor.Milliseconds(),
		Detail: fmt.Sprintf("TID %d has slept in FUTEX_LOCK_PI on lock %d for %v but the word held by TID %d is %#08x: FUTEX_WAITERS clear",
			waiter, lock, asleepFor.Round(time.Millisecond), holder, word)}
}

// checkCounters compares each lock's non-atomic counter with the
// acquisitions of that lock counted by every contender.
func checkCounters(counters, acquisitions []uint64) *pifutex.Violation {
	for l := range counters {
		if counters[l] != acquisitions[l] {
			return &pifutex.Violation{Kind: "counter", Lock: l, Expected: int64(acquisitions[l]), Actual: int64(counters[l]),
				Detail: fmt.Sprintf("lock %d: the non-atomic counter in the critical section is %d, acquisitions %d: mutual exclusion broken",
					l, counters[l], acquisitions[l])}
		}
	}
	return nil
}

// stats is the counters of a run.
type stats struct {
	Acquisitions, LockPI, Trylock, Fast, Kills, OwnerDied, Violations int64
	WaitersSeen                                                       int64 // holder saw a waiter registered and WAITERS set
	MaxWait                                                           time.Duration
}

func (st stats) counters() map[string]int64 {
	return map[string]int64{"acquisitions": st.Acquisitions, "lock_pi": st.LockPI, "trylock": st.Trylock,
		"fast": st.Fast, "kills": st.Kills, "owner_died_recoveries": st.OwnerDied,
		"max_wait_ms": st.MaxWait.Milliseconds(), "violations": st.Violations, "waiters_seen": st.WaitersSeen}
}

func (st stats) summary() string {
	return fmt.Sprintf("%d acquisitions (lock_pi %d, trylock %d, fast %d), %d kills, %d owner-died recoveries, max wait %dms, WAITERS seen with %d sleepers",
		st.Acquisitions, st.LockPI, st.Trylock, st.Fast, st.Kills, st.OwnerDied, st.MaxWait.Milliseconds(), st.WaitersSeen)
}

// judge turns a run's statistics and its first violation into a verdict.
func judge(st stats, first *pifutex.Violation, took time.Duration, threads int) stress.Outcome {
	ev := map[string]string{"threads": strconv.Itoa(threads), "took": took.Round(time.Millisecond).String()}
	for k, v := range st.counters() {
		ev[k] = strconv.FormatInt(v, 10)
	}
	if took > 0 {
		ev["acquisitions_per_s"] = strconv.FormatInt(int64(float64(st.Acquisitions)/took.Seconds()), 10)
	}
	if first != nil {
		ev["invariant"] = first.Kind
		ev["lock"] = strconv.Itoa(first.Lock)
		ev["word"] = fmt.Sprintf("%#08x", first.Word)
		ev["tid"] = strconv.FormatUint(uint64(first.TID), 10)
		ev["other_tid"] = strconv.FormatUint(uint64(first.Other), 10)
		ev["expected"] = strconv.FormatInt(first.Expected, 10)
		ev["actual"] = strconv.FormatInt(first.Actual, 10)
		ev["detail"] = first.Detail
		n := st.Violations
		if n < 1 {
			n = 1
		}
		return stress.Fail(fmt.Sprintf("%s invariant broken (%d violations): %s", first.Kind, n, first.Detail), ev)
	}
	return stress.Pass(st.summary(), ev)
}

// collect sums the slots.
func (s sharedMem) collect(slots int, kills int64) stats {
	st := stats{Kills: kills, Violations: int64(atomic.LoadUint64(s.u64(violationCount)))}
	for i := 0; i < slots; i++ {
		for l := 0; l < locks; l++ {
			st.Acquisitions += int64(atomic.LoadUint64(s.acq(i, l)))
		}
		st.Fast += int64(atomic.LoadUint64(s.s64(i, slotFast)))
		st.LockPI += int64(atomic.LoadUint64(s.s64(i, slotLockPI)))
		st.Trylock += int64(atomic.LoadUint64(s.s64(i, slotTrylock)))
		st.OwnerDied += int64(atomic.LoadUint64(s.s64(i, slotOwnerDied)))
		st.WaitersSeen += int64(atomic.LoadUint64(s.s64(i, slotWaitersOK)))
		if w := time.Duration(atomic.LoadUint64(s.s64(i, slotMaxWait))); w > st.MaxWait {
			st.MaxWait = w
		}
	}
	return st
}

// contender is one contending thread (in the parent or in a child).
type contender struct {
	sh    sharedMem
	slot  int
	slots int
	tid   uint32
	pid   int
	rng   *rand.Rand
	head  unsafe.Pointer // the robust list head (children), nil otherwise
	ppid  int            // children: the parent's PID (1 in the VM)
	sink  uint64
	iters int
}

//go:noinline
func (c *contender) spin(n int) {
	x := c.sink
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	c.sink = x
}

// loop contends until the stop flag; call it on a locked OS thread.
func (c *contender) loop() {
	sh := c.sh
	atomic.StoreUint32(sh.s32(c.slot, slotTID), c.tid)
	atomic.StoreUint32(sh.s32(c.slot, slotPID), uint32(c.pid))
	for !sh.stopped() {
		c.iters++
		if c.head != nil && c.iters%256 == 0 && os.Getppid() != c.ppid {
			return // the parent is gone
		}
		l := c.rng.Intn(locks)
		if !c.acquire(l) {
			continue
		}
		c.critical(l)
		if c.head != nil && atomic.CompareAndSwapUint32(sh.s32(c.slot, slotHold), 1, 2) {
			// Die holding: the parent SIGKILLs us now.
			for {
				time.Sleep(time.Second)
			}
		}
		if !c.release(l) {
			return // the lock is in a broken state: end this thread
		}
	}
}

func (c *contender) setPending(l int) {
	if c.head != nil {
		atomic.StoreUintptr(robust.Slot(c.head, futex.HeadPendingOff), uintptr(c.sh.entry(l))|1)
	}
}

func (c *contender) clearPending() {
	if c.head != nil {
		atomic.StoreUintptr(robust.Slot(c.head, futex.HeadPendingOff), 0)
	}
}

// acquire takes lock l one of three ways and checks the result.
func (c *contender) acquire(l int) bool {
	sh, w := c.sh, c.sh.word(l)
	c.setPending(l)
	how := ""
	switch m := c.rng.Intn(10); {
	case m < 4:
		if atomic.CompareAndSwapUint32(w, 0, c.tid) {
			how = "fast"
		}
	case m < 7:
		for k := 0; k < 3 && how == ""; k++ {
			err := futex.TrylockPI(w)
			switch {
			case err == nil:
				how = "trylock"
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY):
				futex.SchedYield()
			default:
				sh.violate(errnoViolation("FUTEX_TRYLOCK_PI", l, c.tid, atomic.LoadUint32(w), err))
				c.clearPending()
				return false
			}
		}
	}
	if how == "" {
		atomic.StoreInt64((*int64)(unsafe.Pointer(sh.s64(c.slot, slotWaitSince))), pifutex.MonoNow())
		atomic.StoreUint32(sh.s32(c.slot, slotWaitLock), uint32(l+1))
		start := time.Now()
		err := futex.LockPI(w, start.Add(waitBound))
		wait := time.Since(start)
		atomic.StoreUint32(sh.s32(c.slot, slotWaitLock), 0)
		if uint64(wait) > atomic.LoadUint64(sh.s64(c.slot, slotMaxWait)) {
			atomic.StoreUint64(sh.s64(c.slot, slotMaxWait), uint64(wait))
		}
		v := checkWait(l, c.tid, atomic.LoadUint32(w), wait, waitBound, err)
		if v != nil {
			sh.violate(v)
		}
		if err != nil {
			if v == nil {
				sh.violate(errnoViolation("FUTEX_LOCK_PI", l, c.tid, atomic.LoadUint32(w), err))
			}
			c.clearPending()
			return false
		}
		how = "lock_pi"
	}
	word := atomic.LoadUint32(w)
	prev := atomic.SwapUint32(sh.owner(l), c.tid)
	a := acquisition{How: how, Lock: l, TID: c.tid, Word: word, PrevOwner: prev, PrevDead: prev != 0 && sh.killed(prev)}
	if v := checkAcquire(a); v != nil {
		sh.violate(v)
	}
	if word&futex.FUTEX_OWNER_DIED != 0 {
		// Recover as a user of a robust mutex would: the state is
		// consistent again (the dead owner finished its critical section),
		// clear OWNER_DIED and go on.
		for {
			cur := atomic.LoadUint32(w)
			if atomic.CompareAndSwapUint32(w, cur, cur&^futex.FUTEX_OWNER_DIED) {
				break
			}
		}
		atomic.AddUint64(sh.s64(c.slot, slotOwnerDied), 1)
	}
	switch how {
	case "fast":
		atomic.AddUint64(sh.s64(c.slot, slotFast), 1)
	case "trylock":
		atomic.AddUint64(sh.s64(c.slot, slotTrylock), 1)
	default:
		atomic.AddUint64(sh.s64(c.slot, slotLockPI), 1)
	}
	if c.head != nil {
		// Link the entry into the robust list (tagged PI), then clear
		// the pending pointer.
		e := uintptr(sh.entry(l))
		atomic.StoreUintptr(robust.Slot(sh.entry(l), 0), uintptr(c.head))
		atomic.StoreUintptr(robust.Slot(c.head, futex.HeadListOff), e|1)
		c.clearPending()
	}
	return true
}

// critical is the critical section: the non-atomic counter with a widened
// window, the acquisition tally, and the WAITERS sample.
func (c *contender) critical(l int) {
	sh := c.sh
	p := sh.counter(l)
	v := *p
	if c.rng.Intn(32) == 0 {
		futex.SchedYield()
	} else {
		c.spin(c.rng.Intn(400))
	}
	*p = v + 1
	atomic.AddUint64(sh.acq(c.slot, l), 1)
	c.sampleWaiters(l)
	c.spin(c.rng.Intn(200))
}

// sampleWaiters checks FUTEX_WAITERS against the waiters registered on l.
func (c *contender) sampleWaiters(l int) {
	sh := c.sh
	var now int64
	for i := 0; i < c.slots; i++ {
		if i == c.slot || atomic.LoadUint32(sh.s32(i, slotWaitLock)) != uint32(l+1) {
			continue
		}
		if now == 0 {
			now = pifutex.MonoNow()
		}
		since := atomic.LoadInt64((*int64)(unsafe.Pointer(sh.s64(i, slotWaitSince))))
		if atomic.LoadUint32(sh.word(l))&futex.FUTEX_WAITERS != 0 {
			atomic.AddUint64(sh.s64(c.slot, slotWaitersOK), 1)
			continue
		}
		if time.Duration(now-since) <= asleepBound {
			continue
		}
		// Suspicious: confirm that the waiter sleeps in FUTEX_LOCK_PI on
		// this word, twice, 5 ms apart, its registration unchanged.
		pid, tid := int(atomic.LoadUint32(sh.s32(i, slotPID))), int(atomic.LoadUint32(sh.s32(i, slotTID)))
		confirmed := asleepInLockPI(pid, tid, l)
		if confirmed {
			time.Sleep(5 * time.Millisecond)
			confirmed = asleepInLockPI(pid, tid, l) &&
				atomic.LoadUint32(sh.s32(i, slotWaitLock)) == uint32(l+1) &&
				atomic.LoadInt64((*int64)(unsafe.Pointer(sh.s64(i, slotWaitSince)))) == since
		}
		word := atomic.LoadUint32(sh.word(l))
		if v := checkWaiters(l, c.tid, uint32(tid), word, time.Duration(pifutex.MonoNow()-since), confirmed); v != nil {
			sh.violate(v)
		}
	}
}

// asleepInLockPI reads /proc/PID/task/TID/syscall: the task sleeps in
// futex(2) with FUTEX_LOCK_PI on lock l's word (a running task reads
// "running").
func asleepInLockPI(pid, tid, l int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 || f[0] != strconv.Itoa(unix.SYS_FUTEX) {
		return false
	}
	addr, err1 := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	op, err2 := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return op&0x7f == futex.FUTEX_LOCK_PI && uintptr(addr)%robust.PageSize == (lockOff(l)+robust.FutexOffset)%robust.PageSize
}

// release unlocks l: the fast path, or FUTEX_UNLOCK_PI when the word has
// more than our TID. It returns false when the lock was not ours to release.
func (c *contender) release(l int) bool {
	sh, w := c.sh, c.sh.word(l)
	c.setPending(l)
	if c.head != nil {
		atomic.StoreUintptr(robust.Slot(c.head, futex.HeadListOff), uintptr(c.head))
	}
	defer c.clearPending()
	if prev := atomic.SwapUint32(sh.owner(l), 0); prev != c.tid {
		sh.violate(&pifutex.Violation{Kind: "mutual-exclusion", Lock: l, TID: c.tid, Other: prev, Word: atomic.LoadUint32(w),
			Detail: fmt.Sprintf("TID %d found TID %d in the critical section of lock %d it holds", c.tid, prev, l)})
	}
	if atomic.CompareAndSwapUint32(w, c.tid, 0) {
		return true
	}
	cur := atomic.LoadUint32(w)
	if cur&futex.FUTEX_TID_MASK != c.tid {
		sh.violate(&pifutex.Violation{Kind: "owner", Lock: l, TID: c.tid, Other: cur & futex.FUTEX_TID_MASK, Word: cur,
			Expected: int64(c.tid), Actual: int64(cur & futex.FUTEX_TID_MASK),
			Detail: fmt.Sprintf("while TID %d held lock %d the word became %#08x (TID %d)", c.tid, l, cur, cur&futex.FUTEX_TID_MASK)})
		return false
	}
	if err := futex.UnlockPI(w); err != nil {
		sh.violate(&pifutex.Violation{Kind: "unlock", Lock: l, TID: c.tid, Word: atomic.LoadUint32(w),
			Detail: fmt.Sprintf("FUTEX_UNLOCK_PI on lock %d by its owner TID %d (word %#08x): %v", l, c.tid, cur, err)})
		return false
	}
	return true
}

func threadCount() int {
	n := 2 * runtime.NumCPU()
	if n < 4 {
		n = 4
	}
	if n > maxSlots {
		n = maxSlots
	}
	return n
}

func run(ctx context.Context, env stress.Env) stress.Outcome {
	duration, early := pifutex.Start(env)
	if early != nil {
		return *early
	}
	threads := threadCount()
	nchild := threads / 4
	if nchild < 1 {
		nchild = 1
	}
	if prev := runtime.GOMAXPROCS(0); prev < threads+2 {
		runtime.GOMAXPROCS(threads + 2) // every contender its own P: the kernel schedules them
		defer runtime.GOMAXPROCS(prev)
	}

	fd, err := unix.MemfdCreate("rig-pi", unix.MFD_CLOEXEC)
	if err != nil {
		return stress.Error("memfd: "+err.Error(), nil)
	}
	shm := os.NewFile(uintptr(fd), "rig-pi")
	defer shm.Close()
	if err := unix.Ftruncate(fd, shmSize); err != nil {
		return stress.Error("ftruncate: "+err.Error(), nil)
	}
	mem, err := unix.MmapPtr(fd, 0, nil, shmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return stress.Error("mmap: "+err.Error(), nil)
	}
	stuck := ""
	defer func() {
		if stuck == "" { // a stuck contender may still touch it
			unix.MunmapPtr(mem, shmSize)
		}
	}()
	sh := sharedMem{mem}
	start := time.Now()

	// Children first: slots 0..nchild-1.
	kids := make([]*child.Process, nchild)
	var kidsMu sync.Mutex
	spawn := func(i int) error {
		c, err := child.Start("pi-contend", shm, strconv.Itoa(i), strconv.Itoa(threads), strconv.FormatInt(env.Seed+int64(i)*7919+time.Now().UnixNano(), 10))
		if err != nil {
			return err
		}
		line, err := c.ReadLine(ctx, childAnswer)
		if err != nil {
			c.Kill()
			return err
		}
		if kind, _ := child.Fields(line); kind != "ready" {
			c.Kill()
			return fmt.Errorf("pi-contend child: %s", line)
		}
		kidsMu.Lock()
		kids[i] = c
		kidsMu.Unlock()
		return nil
	}
	defer func() {
		for _, c := range kids {
			if c != nil {
				c.Kill()
			}
		}
	}()
	for i := 0; i < nchild; i++ {
		if err := spawn(i); err != nil {
			atomic.StoreUint32(sh.u32(stopFlag), 1)
			return stress.Error("start child: "+stress.OneLine(err.Error()), nil)
		}
	}

	var wg sync.WaitGroup
	for i := nchild; i < threads; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			c := &contender{sh: sh, slot: i, slots: threads, tid: uint32(unix.Gettid()), pid: os.Getpid(),
				rng: rand.New(rand.NewSource(env.Seed + int64(i)*104729))}
			c.loop()
		}(i)
	}

	// The killer: now and then ask a child to die holding, and SIGKILL it.
	var kills atomic.Int64
	killerErr := make(chan error, 1)
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		rng := rand.New(rand.NewSource(env.Seed ^ 0x5eed))
		for !sh.stopped() {
			time.Sleep(killSpacing/2 + time.Duration(rng.Int63n(int64(killSpacing))))
			i := rng.Intn(nchild)
			hold := sh.s32(i, slotHold)
			atomic.StoreUint32(hold, 1)
			deadline := time.Now().Add(waitBound + time.Second)
			for atomic.LoadUint32(hold) != 2 && time.Now().Before(deadline) && !sh.stopped() {
				time.Sleep(200 * time.Microsecond)
			}
			if !atomic.CompareAndSwapUint32(hold, 1, 0) && atomic.LoadUint32(hold) == 2 {
				// It holds a lock and waits to die.
				sh.addKilled(atomic.LoadUint32(sh.s32(i, slotTID)))
				kidsMu.Lock()
				c := kids[i]
				kids[i] = nil
				kidsMu.Unlock()
				c.Kill()
				kills.Add(1)
				atomic.StoreUint32(hold, 0)
				if sh.stopped() {
					return
				}
				if err := spawn(i); err != nil {
					killerErr <- err
					atomic.StoreUint32(sh.u32(stopFlag), 1)
					return
				}
			}
		}
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(duration)
	interrupted := false
wait:
	for !sh.stopped() {
		select {
		case <-ctx.Done():
			interrupted = true
			break wait
		case <-end:
			break wait
		case <-tick.C:
			env.ReportProgress(sh.collect(threads, kills.Load()).counters())
		case <-time.After(50 * time.Millisecond):
		}
	}
	atomic.StoreUint32(sh.u32(stopFlag), 1)
	<-killerDone
	took := time.Since(start)

	// Let every contender finish its iteration: local threads, then the
	// children, which exit on their own.
	localDone := make(chan struct{})
	go func() { wg.Wait(); close(localDone) }()
	select {
	case <-localDone:
	case <-time.After(childTimeout):
		stuck = "local contenders did not stop"
	}
	for i, c := range kids {
		if c == nil {
			continue
		}
		done := make(chan error, 1)
		go func() { done <- c.Cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && stuck == "" {
				stuck = fmt.Sprintf("child %d: %v: %s", i, err, stress.OneLine(c.Stderr()))
			}
		case <-time.After(childTimeout):
			c.Cmd.Process.Kill()
			<-done
			if stuck == "" {
				stuck = fmt.Sprintf("child %d did not stop", i)
			}
		}
		c.Close()
		kids[i] = nil
	}

	st := sh.collect(threads, kills.Load())
	env.ReportProgress(st.counters())
	first := sh.first()
	if first == nil && stuck == "" {
		counters, acqs := make([]uint64, locks), make([]uint64, locks)
		for l := 0; l < locks; l++ {
			counters[l] = *sh.counter(l)
			for i := 0; i < threads; i++ {
				acqs[l] += atomic.LoadUint64(sh.acq(i, l))
			}
		}
		if v := checkCounters(counters, acqs); v != nil {
			sh.violate(v)
			st.Violations++
			first = v
		}
	}
	o := judge(st, first, took, threads)
	if first != nil {
		return o
	}
	select {
	case err := <-killerErr:
		return stress.Error("respawn child: "+stress.OneLine(err.Error()), o.Evidence)
	default:
	}
	if stuck != "" {
		return stress.Error(stuck, o.Evidence)
	}
	if interrupted {
		return stress.Error("interrupted: "+st.summary(), o.Evidence)
	}
	if st.Acquisitions == 0 {
		return stress.Error("no acquisitions", o.Evidence)
	}
	return o
}

// contendChild (child helper "pi-contend SLOT SLOTS SEED"): one contender with
// a robust list that registers the PI mutexes it holds; it prints
// "ready tid=T" and contends until the stop flag, or dies holding when the
// parent asks.
func contendChild(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("pi-contend: want SLOT SLOTS SEED")
	}
	slotN, err1 := strconv.Atoi(args[0])
	slots, err2 := strconv.Atoi(args[1])
	seed, err3 := strconv.ParseInt(args[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || slotN < 0 || slotN >= slots || slots > maxSlots {
		return fmt.Errorf("pi-contend: bad arguments %q", args)
	}
	mem, err := unix.MmapPtr(3, 0, nil, shmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap shared: %w", err)
	}
	h, err := robust.MmapAnon()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		robust.InitHead(h)
		if err := futex.SetRobustList(h, futex.RobustListHeadSize); err != nil {
			errc <- fmt.Errorf("set_robust_list: %w", err)
			return
		}
		c := &contender{sh: sharedMem{mem}, slot: slotN, slots: slots, tid: uint32(unix.Gettid()), pid: os.Getpid(),
			rng: rand.New(rand.NewSource(seed)), head: h, ppid: os.Getppid()}
		atomic.StoreUint32(c.sh.s32(slotN, slotTID), c.tid)
		atomic.StoreUint32(c.sh.s32(slotN, slotPID), uint32(c.pid))
		child.Status(fmt.Sprintf("ready tid=%d", c.tid))
		c.loop()
		errc <- nil
	}()
	return <-errc
}
