// Package pigiveup is the guest test pi-giveup: PI waiters time out or
// are killed while the owner unlocks, and the unlock, the word and every
// errno are checked.
package pigiveup

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/child"
	"github.com/rig-kernel/rig/guest/stress/pifutex"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// pi-giveup (docs/design.md, "PI waiters that give up"): rounds in which
// PI waiters give up while the owner unlocks. In each round the owner takes
// the lock, one or two leavers block on it with a deadline (FUTEX_LOCK_PI,
// FUTEX_LOCK_PI2, or FUTEX_WAIT_REQUEUE_PI requeued onto it), sometimes a
// waiter that stays, sometimes a waiter in a child process that is
// SIGKILLed, and the owner unlocks at a time aimed at the leavers' way out:
// a recently measured wake-up, less a random part of the way back. That is
// where "futex_lock_pi() has not yet or failed to acquire the lock but
// still has the futex_q enqueued" lives: the waiter is off the rt_mutex,
// its futex_q still queued, and the unlock must look past it.
//
// Every operation is checked exactly: an unlock that returns 0 must leave a
// word that no longer names the unlocker; an acquisition must leave the
// caller's TID in the word and nobody in the critical section; a waiter
// that timed out must not be named by the word; a waiter that stays must
// be handed the lock; the word is 0 when every task has let go; any errno
// but the expected ones (ETIMEDOUT for a deadline, EAGAIN/EBUSY for a
// trylock) is a violation. The word, the TIDs and the operation go into
// the evidence.

// Test is pi-giveup.
var Test = stress.New("pi-giveup", run, stress.Helpers{"pi-giveup-waiter": waiterChild})

const (
	lead        = 2 * time.Millisecond // round start to the leavers' deadline
	stayBound   = 2 * time.Second      // a waiter that stays must be handed the lock within this
	kidBound    = 30 * time.Second     // a child waiter's LOCK_PI: it is killed in its round
	wayBack     = 100 * time.Microsecond
	killEvery   = 6 // about one round in killEvery kills a waiter in a child process
	childAnswer = 10 * time.Second

	// One lock's memory in the shared page: the robust list entry and,
	// robust.FutexOffset after it, the PI word; the condition word of requeue-PI;
	// the critical-section owner; the child waiter's mailbox.
	entryOff = 0x00
	wordOff  = entryOff + robust.FutexOffset
	condOff  = 0x40
	ownerOff = 0x44
	childCmd = 0x80 // u32 sequence: the parent bumps it, the child locks
	childAck = 0x84 // u32: the sequence the child finished
	childRes = 0x88 // u32 errno of its LOCK_PI (0: it got the lock)
	childWrd = 0x8c // u32 the word right after
	childPrv = 0x90 // u32 the owner it replaced
	childRel = 0x94 // u32 errno of its release + 1 (0: not released yet)
	childAft = 0x98 // u32 the word after its release
)

// way is how a waiter waits in a round.
type way int

const (
	lockPI    way = iota // FUTEX_LOCK_PI, absolute CLOCK_REALTIME deadline
	lockPI2              // FUTEX_LOCK_PI2, absolute CLOCK_MONOTONIC deadline
	requeuePI            // FUTEX_WAIT_REQUEUE_PI on the condition, requeued onto the lock
	stay                 // FUTEX_LOCK_PI with stayBound: must be handed the lock
)

var wayNames = [...]string{"lock_pi", "lock_pi2", "requeue_pi", "stay"}

func (w way) String() string { return wayNames[w] }

// waited is one waiter's part of a round, as the waiter saw it.
type waited struct {
	Way      way
	TID      uint32
	Err      error  // of the wait (nil: it got the lock)
	Word     uint32 // right after the wait returned
	Prev     uint32 // the critical-section owner it replaced (if it got the lock)
	Deadline int64  // CLOCK_MONOTONIC ns: its deadline (a stayer's is far)
	Returned int64  // CLOCK_MONOTONIC ns when the wait returned
	Release  error  // of its release, if it got the lock
	After    uint32 // the word right after its release
}

// ownerUnlock is the owner's unlock in a round.
type ownerUnlock struct {
	TID        uint32
	Start, End int64 // CLOCK_MONOTONIC ns around the call
	Err        error
	Word       uint32 // right after
	Fast       bool   // released in user space (nobody had queued)
}

// The checkers: pure functions of what was observed, fed broken histories
// by the unit tests. nil means fine.

// checkUnlock: an unlock that succeeded released the lock, so the word
// no longer names the unlocker.
func checkUnlock(u ownerUnlock) *pifutex.Violation {
	if u.Err != nil {
		return &pifutex.Violation{Kind: "unlock", TID: u.TID, Word: u.Word,
			Detail: fmt.Sprintf("FUTEX_UNLOCK_PI by the owner TID %d: %v (word %#08x)", u.TID, u.Err, u.Word)}
	}
	if u.Word&futex.FUTEX_TID_MASK == u.TID {
		return &pifutex.Violation{Kind: "unlock", TID: u.TID, Word: u.Word, Other: u.TID,
			Expected: 0, Actual: int64(u.TID),
			Detail: fmt.Sprintf("FUTEX_UNLOCK_PI by TID %d returned 0 but the word is %#08x: it still names TID %d, which believes it has unlocked",
				u.TID, u.Word, u.TID)}
	}
	return nil
}

// checkWait judges one waiter's wait and, if it got the lock, its
// acquisition and release. killed is the TID of a task SIGKILLed in this
// round (0: none), which may have died holding the lock.
func checkWait(w waited, killed uint32) *pifutex.Violation {
	v := &pifutex.Violation{TID: w.TID, Word: w.Word, Other: w.Word & futex.FUTEX_TID_MASK}
	op := w.Way.String()
	switch {
	case w.Err != nil && errors.Is(w.Err, unix.ETIMEDOUT) && w.Way == stay:
		v.Kind = "wait-bound"
		v.Detail = fmt.Sprintf("a waiter that stayed (TID %d) was never handed the lock before its deadline (word %#08x)", w.TID, w.Word)
	case w.Err != nil && errors.Is(w.Err, unix.ETIMEDOUT):
		if w.Word&futex.FUTEX_TID_MASK == w.TID {
			v.Kind = "owner"
			v.Detail = fmt.Sprintf("%s by TID %d returned ETIMEDOUT but the word is %#08x: it names the waiter that gave up", op, w.TID, w.Word)
			return v
		}
		return nil
	case w.Err != nil:
		v.Kind = "errno"
		v.Detail = fmt.Sprintf("%s by TID %d: %v (word %#08x, TID %d)", op, w.TID, w.Err, w.Word, v.Other)
	case w.Word&futex.FUTEX_TID_MASK != w.TID:
		v.Kind = "owner"
		v.Expected, v.Actual = int64(w.TID), int64(v.Other)
		v.Detail = fmt.Sprintf("%s by TID %d returned 0 but the word is %#08x: it names TID %d", op, w.TID, w.Word, v.Other)
	case w.Prev != 0 && w.Prev != killed:
		v.Kind = "mutual-exclusion"
		v.Other = w.Prev
		v.Detail = fmt.Sprintf("%s gave the lock to TID %d (word %#08x) while TID %d was inside the critical section", op, w.TID, w.Word, w.Prev)
	case w.Word&futex.FUTEX_OWNER_DIED != 0 && killed == 0:
		v.Kind = "owner-died"
		v.Detail = fmt.Sprintf("%s gave TID %d the word %#08x with OWNER_DIED, but no owner died in this round", op, w.TID, w.Word)
	case w.Release != nil:
		v.Kind = "unlock"
		v.Word = w.After
		v.Detail = fmt.Sprintf("TID %d releasing the lock it got by %s: %v (word %#08x)", w.TID, op, w.Release, w.After)
	case w.After&futex.FUTEX_TID_MASK == w.TID:
		v.Kind = "unlock"
		v.Word = w.After
		v.Detail = fmt.Sprintf("TID %d released the lock it got by %s, but the word is %#08x: it still names TID %d, which believes it has unlocked", w.TID, op, w.After, w.TID)
	default:
		return nil
	}
	return v
}

// checkEnd: once every task has let go, the word is free: 0, or, when a
// task was killed holding the lock, no TID with OWNER_DIED (and WAITERS if
// a waiter queued behind the dead owner and then left too).
func checkEnd(word, killed uint32) *pifutex.Violation {
	if word == 0 || (killed != 0 && word&futex.FUTEX_TID_MASK == 0 && word&futex.FUTEX_OWNER_DIED != 0) {
		return nil
	}
	return &pifutex.Violation{Kind: "owner", Word: word, Other: word & futex.FUTEX_TID_MASK, Actual: int64(word & futex.FUTEX_TID_MASK),
		Detail: fmt.Sprintf("every task of the round has let go of the lock, but the word is %#08x (TID %d)", word, word&futex.FUTEX_TID_MASK)}
}

// racedUnlock: a give-up plausibly met the unlock when the waiter's
// deadline passed (or it was killed) before the unlock ended and it
// returned (or died) after the unlock began.
func racedUnlock(leftAt, returned int64, u ownerUnlock) bool {
	return leftAt <= u.End && returned >= u.Start
}

// stats counts a run.
type stats struct {
	Rounds, Unlocks, KernelUnlocks                  int64
	GaveUp                                          [3]int64 // timeouts by way: lock_pi, lock_pi2, requeue_pi
	Killed, KilledAsleep, KilledHolding             int64
	RacedUnlock, RacedKilled                        int64 // give-ups (kills) that met an unlock
	WonAtDeadline                                   int64 // waiters that got the lock at or after their deadline
	Acquired, StayersHanded, Requeued, RequeueWoken int64
	ProbeTaken, ProbeBusy, Violations               int64
}

func (st *stats) counters() map[string]int64 {
	return map[string]int64{"rounds": st.Rounds, "kernel_unlocks": st.KernelUnlocks,
		"gave_up_lock_pi": st.GaveUp[0], "gave_up_lock_pi2": st.GaveUp[1], "gave_up_requeue_pi": st.GaveUp[2],
		"unlocks": st.Unlocks, "probe_took_lock": st.ProbeTaken, "probe_busy": st.ProbeBusy, "killed_waiters": st.Killed, "killed_asleep": st.KilledAsleep, "killed_holding": st.KilledHolding, "raced_unlock": st.RacedUnlock, "raced_killed": st.RacedKilled,
		"won_at_deadline": st.WonAtDeadline, "acquisitions": st.Acquired, "stayers_handed": st.StayersHanded,
		"requeued": st.Requeued, "requeue_woken": st.RequeueWoken, "violations": st.Violations}
}

func (st *stats) summary(took time.Duration) string {
	s := took.Seconds()
	if s <= 0 {
		s = 1
	}
	return fmt.Sprintf("%d rounds; give-ups per second: lock_pi %.0f, lock_pi2 %.0f, requeue_pi %.0f, killed asleep %.1f; %d met an unlock (%.1f/s, %d of them kills); %d waiters won the lock at their deadline",
		st.Rounds, float64(st.GaveUp[0])/s, float64(st.GaveUp[1])/s, float64(st.GaveUp[2])/s, float64(st.KilledAsleep)/s,
		st.RacedUnlock, float64(st.RacedUnlock)/s, st.RacedKilled, st.WonAtDeadline)
}

// waiter is a pinned thread of this process that waits on command.
type waiter struct {
	tid  uint32
	cmds chan command
	res  chan waited
}

// command tells a waiter how to wait this round.
type command struct {
	way      way
	deadline int64 // CLOCK_MONOTONIC ns
	realOff  int64 // CLOCK_REALTIME - CLOCK_MONOTONIC, for FUTEX_LOCK_PI
	condVal  uint32
}

func startWaiter(mem unsafe.Pointer) *waiter {
	pw := &waiter{cmds: make(chan command), res: make(chan waited, 1)}
	tidc := make(chan uint32, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		robust.BlockSignals()
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // the deadline fires when asked
		tid := uint32(unix.Gettid())
		tidc <- tid
		for c := range pw.cmds {
			pw.res <- doWait(mem, tid, c)
		}
	}()
	pw.tid = <-tidc
	return pw
}

// doWait waits as c says, and if it gets the lock, checks in and
// releases it.
func doWait(mem unsafe.Pointer, tid uint32, c command) waited {
	w := robust.Word(mem, wordOff)
	r := waited{Way: c.way, TID: tid, Deadline: c.deadline}
	var err error
	switch c.way {
	case lockPI, stay:
		dl := c.deadline + c.realOff
		if c.way == stay {
			dl = pifutex.MonoNow() + int64(stayBound) + c.realOff
		}
		ts := unix.NsecToTimespec(dl)
		_, err = futex.Futex(w, futex.FUTEX_LOCK_PI, 0, &ts, nil, 0)
	case lockPI2:
		ts := unix.NsecToTimespec(c.deadline)
		_, err = futex.Futex(w, futex.FUTEX_LOCK_PI2, 0, &ts, nil, 0)
	case requeuePI:
		ts := unix.NsecToTimespec(c.deadline)
		_, err = futex.Futex(robust.Word(mem, condOff), futex.FUTEX_WAIT_REQUEUE_PI, c.condVal, &ts, w, 0)
	}
	r.Returned = pifutex.MonoNow()
	r.Err, r.Word = err, atomic.LoadUint32(w)
	if err != nil {
		return r
	}
	r.Prev = atomic.SwapUint32(robust.Word(mem, ownerOff), tid)
	if r.Word&futex.FUTEX_OWNER_DIED != 0 { // recover, as a robust mutex user does
		for cur := atomic.LoadUint32(w); !atomic.CompareAndSwapUint32(w, cur, cur&^futex.FUTEX_OWNER_DIED); cur = atomic.LoadUint32(w) {
		}
	}
	atomic.CompareAndSwapUint32(robust.Word(mem, ownerOff), tid, 0)
	r.Release, r.After = release(w, tid)
	return r
}

// release releases a PI lock the caller owns: in user space when the
// word is exactly its TID, else FUTEX_UNLOCK_PI. It returns the word
// right after.
func release(w *uint32, tid uint32) (error, uint32) {
	if atomic.CompareAndSwapUint32(w, tid, 0) {
		return nil, atomic.LoadUint32(w)
	}
	_, err := futex.Futex(w, futex.FUTEX_UNLOCK_PI, 0, nil, nil, 0)
	return err, atomic.LoadUint32(w)
}

// runState is one run's state, kept by the owner thread.
type runState struct {
	mem      unsafe.Pointer
	shm      *os.File
	rng      *rand.Rand
	tid      uint32
	waiters  []*waiter
	kid      *childWaiter // the next child waiter to kill (nil: none ready)
	kidc     chan *childWaiter
	spawning bool      // a spawnKid is under way and will send on kidc
	lats     [64]int64 // the last leavers' deadline-to-return times, ns
	nlats    int
	start    time.Time
	firstAt  time.Duration // when the first violation was seen
	st       stats
	first    *pifutex.Violation
	ev       map[string]string
}

// childWaiter is a child process whose one thread waits in FUTEX_LOCK_PI when
// told, with a robust list that names the lock while it waits or holds.
type childWaiter struct {
	c   *child.Process
	tid uint32
	pid int
}

func (r *runState) violate(v *pifutex.Violation, round string) {
	r.st.Violations++
	if r.first == nil {
		v.Detail += " [round: " + round + "]"
		r.first, r.firstAt = v, time.Since(r.start)
	}
}

func run(ctx context.Context, env stress.Env) stress.Outcome {
	duration, early := pifutex.Start(env)
	if early != nil {
		return *early
	}
	shm, err := robust.NewMemfd("rig-pi-giveup")
	if err != nil {
		return stress.Error("memfd: "+err.Error(), nil)
	}
	defer shm.Close()
	mem, err := robust.MmapShared(int(shm.Fd()))
	if err != nil {
		return stress.Error("mmap: "+err.Error(), nil)
	}
	// Not unmapped: a waiter thread stuck in the kernel may still use it.
	if prev := runtime.GOMAXPROCS(0); prev < 8 {
		runtime.GOMAXPROCS(8)
		defer runtime.GOMAXPROCS(prev)
	}
	r := &runState{mem: mem, shm: shm, rng: rand.New(rand.NewSource(env.Seed ^ 0x9109)), kidc: make(chan *childWaiter, 1),
		ev: map[string]string{}}
	for i := 0; i < 3; i++ {
		r.waiters = append(r.waiters, startWaiter(mem))
	}
	defer func() {
		for _, pw := range r.waiters {
			close(pw.cmds)
		}
	}()
	r.spawning = true
	go r.spawnKid()
	defer func() {
		if r.kid != nil {
			r.kid.c.Kill()
		}
		if r.spawning {
			if k := <-r.kidc; k != nil {
				k.c.Kill()
			}
		}
	}()

	done := make(chan struct{})
	start := time.Now()
	r.start = start
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		robust.BlockSignals()
		r.tid = uint32(unix.Gettid())
		end := start.Add(duration)
		lastProgress := start
		for time.Now().Before(end) && ctx.Err() == nil && r.first == nil {
			r.round()
			if time.Since(lastProgress) > time.Second {
				lastProgress = time.Now()
				env.ReportProgress(r.st.counters())
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(duration + 30*time.Second):
		return stress.Error("a round did not finish within 30 s", r.ev)
	}
	took := time.Since(start)
	ev := r.ev
	for k, v := range r.st.counters() {
		ev[k] = strconv.FormatInt(v, 10)
	}
	ev["took"] = took.Round(time.Millisecond).String()
	ev["median_wake_latency_us"] = strconv.FormatInt(r.medianLatency()/1000, 10)
	if v := r.first; v != nil {
		ev["invariant"], ev["word"], ev["detail"] = v.Kind, fmt.Sprintf("%#08x", v.Word), v.Detail
		ev["first_violation_after"] = r.firstAt.Round(time.Millisecond).String()
		ev["tid"], ev["other_tid"] = strconv.FormatUint(uint64(v.TID), 10), strconv.FormatUint(uint64(v.Other), 10)
		return stress.Fail(fmt.Sprintf("%s invariant broken (%d violations): %s", v.Kind, r.st.Violations, v.Detail), ev)
	}
	if ctx.Err() != nil {
		return stress.Error("interrupted: "+r.st.summary(took), ev)
	}
	if r.st.Rounds == 0 {
		return stress.Error("no rounds", ev)
	}
	return stress.Pass(r.st.summary(took), ev)
}

// aim picks when the owner unlocks: the leavers leave the rt_mutex between
// their deadline and their return to user space, so the unlock goes at
// the deadline plus one of the recently measured deadline-to-return
// times, minus a random part of wayBack (the way from leaving the rt_mutex
// back to user space, and the unlock's own way into the kernel).
func (r *runState) aim(deadline int64) int64 {
	n := min(r.nlats, len(r.lats))
	if n == 0 {
		return deadline + r.rng.Int63n(int64(wayBack))
	}
	return deadline + r.lats[r.rng.Intn(n)] - r.rng.Int63n(int64(wayBack))
}

func (r *runState) medianLatency() int64 {
	n := min(r.nlats, len(r.lats))
	if n == 0 {
		return 0
	}
	l := append([]int64(nil), r.lats[:n]...)
	slices.Sort(l)
	return l[n/2]
}

// spawnKid starts the next child waiter and hands it over on kidc (nil if
// it could not start).
func (r *runState) spawnKid() {
	c, err := child.Start("pi-giveup-waiter", r.shm)
	if err != nil {
		r.kidc <- nil
		return
	}
	line, err := c.ReadLine(context.Background(), childAnswer)
	kind, kv := child.Fields(line)
	tid, _ := strconv.Atoi(kv["tid"])
	if err != nil || kind != "ready" || tid == 0 {
		c.Kill()
		r.kidc <- nil
		return
	}
	r.kidc <- &childWaiter{c: c, tid: uint32(tid), pid: c.Cmd.Process.Pid}
}

// round is one round, run by the owner thread.
func (r *runState) round() {
	w := robust.Word(r.mem, wordOff)
	rng := r.rng
	r.st.Rounds++
	if !atomic.CompareAndSwapUint32(w, 0, r.tid) {
		r.violate(&pifutex.Violation{Kind: "owner", TID: r.tid, Word: atomic.LoadUint32(w),
			Detail: fmt.Sprintf("a new round found the word %#08x, want 0", atomic.LoadUint32(w))}, "start")
		return
	}
	atomic.StoreUint32(robust.Word(r.mem, ownerOff), r.tid)

	// Who waits, and how.
	var ways []way
	for i, n := 0, 1+rng.Intn(2); i < n; i++ {
		ways = append(ways, way(rng.Intn(3)))
	}
	if rng.Intn(4) == 0 {
		ways = append(ways, stay)
	}
	if r.kid == nil && r.spawning {
		select {
		case r.kid = <-r.kidc:
			r.spawning = false
		default:
		}
	}
	var kid *childWaiter
	if r.kid != nil && rng.Intn(killEvery) == 0 {
		kid, r.kid = r.kid, nil
	}
	desc := fmt.Sprint(ways)
	if kid != nil {
		desc += " +killed child"
	}

	now := pifutex.MonoNow()
	var rt unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	c := command{deadline: now + int64(lead), realOff: rt.Nano() - now, condVal: atomic.AddUint32(robust.Word(r.mem, condOff), 1)}
	if kid != nil { // time for the child to wake and be seen asleep
		c.deadline += 2 * int64(lead)
	}
	// Requeue the requeue-PI waiters onto the lock before the deadline
	// (half the time), or right after the unlock (the rest: the top one
	// is woken owning the lock, so it waits on the condition past the
	// unlock).
	requeueEarly := rng.Intn(2) == 0
	for i, way := range ways {
		wc := c
		wc.way = way
		if way == requeuePI && !requeueEarly {
			wc.deadline += 2 * int64(lead)
		}
		r.waiters[i].cmds <- wc
	}
	if kid != nil {
		atomic.AddUint32(robust.Word(r.mem, childCmd), 1)
		futex.Futex(robust.Word(r.mem, childCmd), futex.FUTEX_WAKE, 1, nil, nil, 0)
	}
	nreq := 0
	for _, way := range ways {
		if way == requeuePI {
			nreq++
		}
	}
	requeue := func() {
		if nreq == 0 {
			return
		}
		for end := c.deadline + 2*int64(lead); pifutex.MonoNow() < end; {
			n, err := futex.CmpRequeuePI(robust.Word(r.mem, condOff), 1<<30, w, c.condVal)
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				r.violate(&pifutex.Violation{Kind: "errno", TID: r.tid, Word: atomic.LoadUint32(w),
					Detail: fmt.Sprintf("FUTEX_CMP_REQUEUE_PI by TID %d: %v (word %#08x)", r.tid, err, atomic.LoadUint32(w))}, desc)
				return
			}
			if n > 0 {
				r.st.Requeued += int64(n)
				nreq -= n
				if nreq <= 0 {
					return
				}
			}
			futex.SchedYield()
		}
	}
	if requeueEarly {
		requeue()
	}
	// A kill that counts finds the child asleep on the lock. Another
	// goroutine looks: a read of the child's /proc/PID/task/TID/syscall
	// by the thread that owns the lock it waits on was seen to block for
	// seconds (x86_64 guest, 4 vCPUs, TCG).
	var asleep atomic.Bool
	if kid != nil {
		go func(pid, tid int, until int64) {
			for pifutex.MonoNow() < until {
				if pifutex.TaskBlockedOn(pid, tid, wordOff, futex.FUTEX_LOCK_PI) {
					asleep.Store(true)
					return
				}
				futex.SchedYield()
			}
		}(kid.pid, int(kid.tid), c.deadline)
		for !asleep.Load() && pifutex.MonoNow() < c.deadline {
			futex.SchedYield()
		}
	}
	kidAsleep := asleep.Load()

	aim := r.aim(c.deadline)
	var killedAt int64
	killFirst := rng.Intn(2) == 0
	kill := func() {
		if kid != nil && killedAt == 0 {
			killedAt = pifutex.MonoNow()
			unix.Kill(kid.pid, syscall.SIGKILL)
		}
	}
	for pifutex.MonoNow() < aim {
	}
	if killFirst {
		kill()
	}
	atomic.StoreUint32(robust.Word(r.mem, ownerOff), 0)
	u := ownerUnlock{TID: r.tid, Start: pifutex.MonoNow()}
	if atomic.CompareAndSwapUint32(w, r.tid, 0) {
		u.Fast = true
	} else {
		_, u.Err = futex.Futex(w, futex.FUTEX_UNLOCK_PI, 0, nil, nil, 0)
		r.st.KernelUnlocks++
	}
	u.End = pifutex.MonoNow()
	u.Word = atomic.LoadUint32(w)
	r.st.Unlocks++
	kill()
	if v := checkUnlock(u); v != nil {
		r.violate(v, desc)
	}
	if !requeueEarly {
		requeue()
	}

	// A task arriving right after the unlock: FUTEX_TRYLOCK_PI.
	if _, err := futex.Futex(w, futex.FUTEX_TRYLOCK_PI, 0, nil, nil, 0); err == nil {
		r.st.ProbeTaken++
		wd := atomic.LoadUint32(w)
		if prev := atomic.SwapUint32(robust.Word(r.mem, ownerOff), r.tid); wd&futex.FUTEX_TID_MASK != r.tid || (prev != 0 && (kid == nil || prev != kid.tid)) {
			r.violate(&pifutex.Violation{Kind: "owner", TID: r.tid, Word: wd, Other: prev,
				Detail: fmt.Sprintf("FUTEX_TRYLOCK_PI by TID %d right after its unlock returned 0: word %#08x, critical section held by TID %d", r.tid, wd, prev)}, desc)
		}
		if wd&futex.FUTEX_OWNER_DIED != 0 {
			for cur := atomic.LoadUint32(w); !atomic.CompareAndSwapUint32(w, cur, cur&^futex.FUTEX_OWNER_DIED); cur = atomic.LoadUint32(w) {
			}
		}
		atomic.StoreUint32(robust.Word(r.mem, ownerOff), 0)
		if err, after := release(w, r.tid); err != nil || after&futex.FUTEX_TID_MASK == r.tid {
			r.violate(&pifutex.Violation{Kind: "unlock", TID: r.tid, Word: after,
				Detail: fmt.Sprintf("TID %d releasing the lock its FUTEX_TRYLOCK_PI took: %v, word after %#08x", r.tid, pifutex.ErrString(err), after)}, desc)
		}
	} else if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY) {
		r.st.ProbeBusy++
	} else {
		wd := atomic.LoadUint32(w)
		r.violate(&pifutex.Violation{Kind: "errno", TID: r.tid, Word: wd, Other: wd & futex.FUTEX_TID_MASK,
			Detail: fmt.Sprintf("FUTEX_TRYLOCK_PI by TID %d right after its unlock: %v (word %#08x, TID %d)", r.tid, err, wd, wd&futex.FUTEX_TID_MASK)}, desc)
	}

	// Collect the waiters.
	var killed uint32
	if kid != nil {
		kid.c.Kill()
		killed = kid.tid
		r.st.Killed++
		if kidAsleep {
			r.st.KilledAsleep++
		}
		r.spawning = true
		go r.spawnKid()
		seq := atomic.LoadUint32(robust.Word(r.mem, childCmd))
		acked := atomic.LoadUint32(robust.Word(r.mem, childAck)) == seq
		if kidAsleep && !acked && killedAt <= u.End { // still waiting when the unlock ran
			r.st.RacedUnlock++
			r.st.RacedKilled++
		}
		if acked { // it finished its part before the kill: judge it
			cw := waited{Way: stay, TID: kid.tid, Word: atomic.LoadUint32(robust.Word(r.mem, childWrd)), Prev: atomic.LoadUint32(robust.Word(r.mem, childPrv)),
				After: atomic.LoadUint32(robust.Word(r.mem, childAft))}
			if e := atomic.LoadUint32(robust.Word(r.mem, childRes)); e != 0 {
				cw.Err = syscall.Errno(e)
			}
			if e := atomic.LoadUint32(robust.Word(r.mem, childRel)); e > 1 {
				cw.Release = syscall.Errno(e - 1)
			}
			if v := checkWait(cw, 0); v != nil {
				r.violate(v, desc)
			}
		}
	}
	diedHolding := false
	for i, way := range ways {
		res := <-r.waiters[i].res
		if v := checkWait(res, killed); v != nil {
			r.violate(v, desc)
		}
		switch {
		case res.Err == nil:
			r.st.Acquired++
			if res.Word&futex.FUTEX_OWNER_DIED != 0 {
				diedHolding = true
			}
			if way == stay {
				r.st.StayersHanded++
			}
			if way == requeuePI && !requeueEarly {
				r.st.RequeueWoken++
			}
			if res.Returned >= res.Deadline && way != stay {
				r.st.WonAtDeadline++
			}
		case errors.Is(res.Err, unix.ETIMEDOUT) && way != stay:
			r.st.GaveUp[way]++
			if racedUnlock(res.Deadline, res.Returned, u) {
				r.st.RacedUnlock++
			}
			if d := res.Returned - res.Deadline; d > 0 && d < int64(time.Millisecond) && res.Deadline == c.deadline {
				r.lats[r.nlats%len(r.lats)] = d
				r.nlats++
			}
		}
	}
	wd := atomic.LoadUint32(w)
	if v := checkEnd(wd, killed); v != nil {
		r.violate(v, desc)
		return
	}
	if wd != 0 { // a dead owner's lock: recover as a robust mutex user does
		diedHolding = true
		if v := r.recoverDead(w, desc); v != nil {
			r.violate(v, desc)
			return
		}
	}
	if diedHolding {
		r.st.KilledHolding++
	}
	atomic.StoreUint32(robust.Word(r.mem, ownerOff), 0)
	if r.first != nil {
		r.ev["round"] = desc
	}
}

// recoverDead takes a lock whose owner died (the word has OWNER_DIED and no
// TID) through the kernel, clears OWNER_DIED and releases it: the word
// must name the caller with OWNER_DIED, then be 0.
func (r *runState) recoverDead(w *uint32, desc string) *pifutex.Violation {
	before := atomic.LoadUint32(w)
	if _, err := futex.Futex(w, futex.FUTEX_TRYLOCK_PI, 0, nil, nil, 0); err != nil {
		return &pifutex.Violation{Kind: "errno", TID: r.tid, Word: atomic.LoadUint32(w),
			Detail: fmt.Sprintf("FUTEX_TRYLOCK_PI by TID %d on a lock whose owner died (word %#08x): %v", r.tid, before, err)}
	}
	wd := atomic.LoadUint32(w)
	if wd&futex.FUTEX_TID_MASK != r.tid || wd&futex.FUTEX_OWNER_DIED == 0 {
		return &pifutex.Violation{Kind: "owner-died", TID: r.tid, Word: wd,
			Detail: fmt.Sprintf("FUTEX_TRYLOCK_PI by TID %d on a lock whose owner died (word %#08x) left %#08x, want its TID with OWNER_DIED", r.tid, before, wd)}
	}
	for cur := wd; !atomic.CompareAndSwapUint32(w, cur, cur&^futex.FUTEX_OWNER_DIED); cur = atomic.LoadUint32(w) {
	}
	if err, after := release(w, r.tid); err != nil || after != 0 {
		return &pifutex.Violation{Kind: "unlock", TID: r.tid, Word: after,
			Detail: fmt.Sprintf("TID %d releasing a dead owner's lock it recovered: %v, word after %#08x", r.tid, pifutex.ErrString(err), after)}
	}
	return nil
}

// waiterChild (child helper "pi-giveup-waiter"): one thread with a
// robust list; each time the parent bumps the command word it waits in
// FUTEX_LOCK_PI (pending op set, as a robust mutex user does), and if it
// gets the lock it checks in and releases it, reporting in the mailbox.
// The parent kills it at a moment of its choosing.
func waiterChild(args []string) error {
	mem, err := robust.MmapShared(3)
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
		robust.BlockSignals()
		robust.InitHead(h)
		if err := futex.SetRobustList(h, futex.RobustListHeadSize); err != nil {
			errc <- fmt.Errorf("set_robust_list: %w", err)
			return
		}
		tid := uint32(unix.Gettid())
		w, cmd, entry := robust.Word(mem, wordOff), robust.Word(mem, childCmd), unsafe.Add(mem, entryOff)
		seen := atomic.LoadUint32(cmd)
		child.Status(fmt.Sprintf("ready tid=%d", tid))
		for {
			for atomic.LoadUint32(cmd) == seen {
				futex.Futex(cmd, futex.FUTEX_WAIT, seen, nil, nil, 0)
			}
			seen = atomic.LoadUint32(cmd)
			for _, off := range []uintptr{childRes, childWrd, childPrv, childRel, childAft} {
				atomic.StoreUint32(robust.Word(mem, off), 0)
			}
			atomic.StoreUintptr(robust.Slot(h, futex.HeadPendingOff), uintptr(entry)|1)
			ts := unix.NsecToTimespec(time.Now().Add(kidBound).UnixNano())
			_, err := futex.Futex(w, futex.FUTEX_LOCK_PI, 0, &ts, nil, 0)
			atomic.StoreUint32(robust.Word(mem, childWrd), atomic.LoadUint32(w))
			if err != nil {
				var e syscall.Errno
				errors.As(err, &e)
				atomic.StoreUint32(robust.Word(mem, childRes), uint32(e))
				atomic.StoreUintptr(robust.Slot(h, futex.HeadPendingOff), 0)
				atomic.StoreUint32(robust.Word(mem, childAck), seen)
				continue
			}
			atomic.StoreUintptr(robust.Slot(entry, 0), uintptr(h))
			atomic.StoreUintptr(robust.Slot(h, futex.HeadListOff), uintptr(entry)|1)
			atomic.StoreUintptr(robust.Slot(h, futex.HeadPendingOff), 0)
			atomic.StoreUint32(robust.Word(mem, childPrv), atomic.SwapUint32(robust.Word(mem, ownerOff), tid))
			atomic.CompareAndSwapUint32(robust.Word(mem, ownerOff), tid, 0)
			atomic.StoreUintptr(robust.Slot(h, futex.HeadPendingOff), uintptr(entry)|1)
			atomic.StoreUintptr(robust.Slot(h, futex.HeadListOff), uintptr(h))
			rerr, after := release(w, tid)
			atomic.StoreUintptr(robust.Slot(h, futex.HeadPendingOff), 0)
			var e syscall.Errno
			errors.As(rerr, &e)
			atomic.StoreUint32(robust.Word(mem, childAft), after)
			atomic.StoreUint32(robust.Word(mem, childRel), uint32(e)+1)
			atomic.StoreUint32(robust.Word(mem, childAck), seen)
		}
	}()
	return <-errc
}
