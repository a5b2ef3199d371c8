// Package killlock holds the guest tests robust-kill-in-lock and
// robust-kill-in-unlock: a child is SIGKILLed inside the robust lock or
// unlock sequence, and the mutex must stay recoverable.
package killlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/child"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// robust-kill-in-lock and robust-kill-in-unlock (docs/design.md, "Signal-kill
// during lock and unlock"): a child process is SIGKILLed at a chosen point
// of the classic robust lock or unlock sequence, deterministically: it
// performs the steps up to that point and then parks in FUTEX_WAIT on a
// "go" word of the shared page, which the parent never raises.
//
// Lock: list_op_pending = &mutex, cmpxchg(word, 0, tid), park (the mutex is
// never linked). The kernel's pending-op handling must still treat the word
// as owned by the dead task: OWNER_DIED set, TID cleared, WAITERS kept, and
// a waiter woken (PI: the waiter inherits the lock, with OWNER_DIED).
//
// Unlock: lock fully, then list_op_pending = &mutex, unlink, xchg(word, 0)
// (the FUTEX_WAKE for a WAITERS word not yet issued), park with
// list_op_pending still set. The kernel must wake a waiter (the dead task
// may have owed it a wakeup) and must never set OWNER_DIED on the word:
// the dead task no longer owns it, and a live third party may.
//
// Both check that the neighbouring words in the page do not change.

// InLock and InUnlock are robust-kill-in-lock and robust-kill-in-unlock.
var (
	InLock   = stress.New("robust-kill-in-lock", runInLock, stress.Helpers{"robust-kill-lock": killLockChild})
	InUnlock = stress.New("robust-kill-in-unlock", runInUnlock, stress.Helpers{"robust-kill-unlock": killUnlockChild})
)

// Layout of the shared page (the robust_list_head is in it too, so the
// parent can check the child's state right before the kill).
const (
	entryOff     = 0x100                         // the mutex's list entry
	wordOff      = entryOff + robust.FutexOffset // its word
	neighbourOff = entryOff + 12                 // the next word: the child's TID, not a mutex
	patternOff   = 0x200                         // arbitrary data
	goOff        = 0x300                         // the child parks in FUTEX_WAIT here
	headOff      = 0x800                         // the child's robust_list_head
	wakeBound    = 2 * time.Second               // a waiter must wake within this
	waitLimit    = 5 * time.Second               // a waiter gives up after this
	quiet        = 100 * time.Millisecond
	lockMode     = "lock"
	unlockMode   = "unlock"
)

type variant struct {
	name string
	pi   bool
	// waiter: a thread of the parent sleeps on the word (FUTEX_WAIT with
	// WAITERS set; PI: FUTEX_LOCK_PI). For unlock it sleeps before the
	// child releases the word.
	waiter bool
	// unlock only: a live thread of the parent takes the word after the
	// child released it (before the kill); waitersBit: and the waiter then
	// sleeps on that owner's word (WAITERS set, state C).
	thirdParty, waitersBit bool
	wantWake               bool
	// syscall: the child unlocks through the kernel, FUTEX_WAKE (PI:
	// FUTEX_UNLOCK_PI) with FUTEX_ROBUST_UNLOCK, which clears
	// list_op_pending itself: there is no window, and a kernel without the
	// modifier skips the variant. list32: with FUTEX_ROBUST_LIST32, which
	// must clear exactly the low 32 bits of the (64-bit) pointer.
	syscall, list32 bool
	// vdso (with syscall): the child first calls the vDSO's robust
	// try-unlock, which must leave a contended word (TID|WAITERS) alone
	// and return it; a kernel without the vDSO function skips the variant.
	vdso bool
}

var lockVariants = []variant{
	{name: "no-waiter"},
	{name: "waiter", waiter: true, wantWake: true},
	{name: "pi-no-waiter", pi: true},
	{name: "pi-waiter", pi: true, waiter: true, wantWake: true},
}

var unlockVariants = []variant{
	{name: "unlocked"},
	{name: "unlocked-waiter", waiter: true, wantWake: true},
	{name: "third-party", thirdParty: true},
	// State B of handle_futex_death's comment: the waiter owed a wakeup by
	// the dead task sleeps while a live task owns the word without WAITERS.
	// Kernels with only the original `!uval` special case (6.18 among them)
	// do not wake it, newer ones do: the wake is recorded, not required.
	{name: "third-party-waiter", waiter: true, thirdParty: true},
	{name: "third-party-waiters-bit", thirdParty: true, waitersBit: true},
	{name: "pi-unlocked", pi: true},
	{name: "pi-third-party", pi: true, thirdParty: true},
	{name: "syscall-waiter", syscall: true, waiter: true, wantWake: true},
	{name: "syscall-list32", syscall: true, list32: true},
	{name: "pi-syscall-waiter", pi: true, syscall: true, waiter: true, wantWake: true},
	{name: "vdso-waiter", syscall: true, vdso: true, waiter: true, wantWake: true},
}

// errSkipVariant marks a variant the kernel cannot run (no
// FUTEX_ROBUST_UNLOCK): skipped, with the reason, not failed.
type errSkipVariant struct{ why string }

func (e errSkipVariant) Error() string { return e.why }

// observation is what one variant observed; checkInLock and
// checkInUnlock judge it.
type observation struct {
	Variant   string
	ChildTID  uint32
	OwnerTID  uint32 // a live third party owning the word at the kill (0: none)
	Mutex     robust.WatchedWord
	Others    []robust.WatchedWord
	State     string // the child's robust list at the kill
	PI        bool
	Waiter    bool
	WantWake  bool
	WaiterTID uint32
	Woken     bool   // FUTEX_WAIT returned 0; FUTEX_LOCK_PI returned 0
	PIWord    uint32 // PI: the word as the waiter saw it once it owned the lock
	WaiterErr string
	WakeAfter time.Duration // kill to wake
	WakeBound time.Duration
	// VdsoProblem: what the vDSO try-unlock did wrong ("vdso" variants).
	VdsoProblem string
}

// checkInLock: the dead task owned the word (through its pending op),
// so it must read (WAITERS as before) | OWNER_DIED with the TID cleared; a
// PI waiter inherits it with OWNER_DIED; nothing else changes; a waiter
// wakes within the bound.
func checkInLock(o observation) (bool, string) {
	w := o.Mutex
	if o.PI && o.Waiter {
		if o.Woken && (o.PIWord&futex.FUTEX_TID_MASK != o.WaiterTID || o.PIWord&futex.FUTEX_OWNER_DIED == 0) {
			return false, fmt.Sprintf("%s: PI word went %#08x -> %#08x at handover, want the waiter's TID %d with OWNER_DIED",
				o.Variant, w.Before, o.PIWord, o.WaiterTID)
		}
	} else if want := w.Before&futex.FUTEX_WAITERS | futex.FUTEX_OWNER_DIED; w.After != want {
		what := "want"
		if w.After == w.Before {
			what = "unchanged: the pending lock was ignored; want"
		}
		return false, fmt.Sprintf("%s: word taken by the dead task (pending, not linked) went %#08x -> %#08x, %s %#08x (OWNER_DIED, TID cleared, WAITERS kept)",
			o.Variant, w.Before, w.After, what, want)
	}
	if ok, why := othersAndWake(o); !ok {
		return false, why
	}
	return true, ""
}

// checkInUnlock: the dead task had released the word, so the kernel
// must leave it exactly as it was (never OWNER_DIED, above all not on a
// word a live task owns), leave the rest alone, and wake a waiter.
func checkInUnlock(o observation) (bool, string) {
	if o.VdsoProblem != "" {
		return false, o.Variant + ": " + o.VdsoProblem
	}
	w := o.Mutex
	if w.After != w.Before {
		switch {
		case w.After&futex.FUTEX_OWNER_DIED != 0 && o.OwnerTID != 0:
			return false, fmt.Sprintf("%s: OWNER_DIED set on a word owned by live TID %d: %#08x -> %#08x (dead task %d had released it)",
				o.Variant, o.OwnerTID, w.Before, w.After, o.ChildTID)
		case w.After&futex.FUTEX_OWNER_DIED != 0:
			return false, fmt.Sprintf("%s: OWNER_DIED set on a word the dead task %d had released: %#08x -> %#08x",
				o.Variant, o.ChildTID, w.Before, w.After)
		default:
			return false, fmt.Sprintf("%s: word the dead task %d had released changed %#08x -> %#08x", o.Variant, o.ChildTID, w.Before, w.After)
		}
	}
	return othersAndWake(o)
}

func othersAndWake(o observation) (bool, string) {
	for _, w := range o.Others {
		if w.After != w.Before {
			return false, fmt.Sprintf("%s: neighbouring word %s changed %#08x -> %#08x", o.Variant, w.Name, w.Before, w.After)
		}
	}
	if o.WantWake {
		if !o.Woken {
			return false, fmt.Sprintf("%s: waiter not woken within %v of the kill (%s)", o.Variant, o.WakeBound, o.WaiterErr)
		}
		if o.WakeAfter > o.WakeBound {
			return false, fmt.Sprintf("%s: waiter woken %v after the kill, bound %v", o.Variant, o.WakeAfter, o.WakeBound)
		}
	}
	return true, ""
}

func (o observation) evidence() map[string]string {
	ev := map[string]string{"variant": o.Variant, "child_tid": strconv.Itoa(int(o.ChildTID)),
		"word_before": fmt.Sprintf("%#08x", o.Mutex.Before), "word_after": fmt.Sprintf("%#08x", o.Mutex.After),
		"state_at_kill": o.State, "pi": strconv.FormatBool(o.PI)}
	if o.OwnerTID != 0 {
		ev["live_owner_tid"] = strconv.Itoa(int(o.OwnerTID))
	}
	for _, w := range o.Others {
		ev[w.Name+"_before"] = fmt.Sprintf("%#08x", w.Before)
		ev[w.Name+"_after"] = fmt.Sprintf("%#08x", w.After)
	}
	if o.Waiter {
		ev["waiter_tid"] = strconv.Itoa(int(o.WaiterTID))
		ev["waiter_woken"] = strconv.FormatBool(o.Woken)
		ev["wake_required"] = strconv.FormatBool(o.WantWake)
		if o.Woken {
			ev["wake_after"] = o.WakeAfter.String()
		}
		if o.WaiterErr != "" {
			ev["waiter_err"] = o.WaiterErr
		}
		if o.PI && o.Woken {
			ev["word_at_handover"] = fmt.Sprintf("%#08x", o.PIWord)
		}
	}
	return ev
}

func runInLock(ctx context.Context, env stress.Env) stress.Outcome {
	return run(ctx, env, lockMode, lockVariants, checkInLock)
}

func runInUnlock(ctx context.Context, env stress.Env) stress.Outcome {
	return run(ctx, env, unlockMode, unlockVariants, checkInUnlock)
}

func run(ctx context.Context, env stress.Env, mode string, variants []variant, check func(observation) (bool, string)) stress.Outcome {
	var worst, slowest time.Duration
	woken := 0
	optional := map[string]string{} // wakes a kernel may or may not issue
	var firstFail *stress.Outcome
	var failed, skipped []string
	skipWhy := ""
	for i, v := range variants {
		if ctx.Err() != nil {
			return stress.Error("deadline before variant "+v.name, nil)
		}
		start := time.Now()
		o, err := killVariant(ctx, mode, v)
		var sk errSkipVariant
		if errors.As(err, &sk) {
			skipped = append(skipped, v.name)
			if !strings.Contains(skipWhy, sk.why) {
				if skipWhy != "" {
					skipWhy += "; "
				}
				skipWhy += sk.why
			}
			continue
		}
		if err != nil {
			ev := o.evidence()
			ev["variant"] = v.name
			return stress.Error(v.name+": "+stress.OneLine(err.Error()), ev)
		}
		if ok, why := check(o); !ok {
			// Go on: the evidence names every variant that fails.
			if firstFail == nil {
				f := stress.Fail(why, o.evidence())
				firstFail = &f
			}
			failed = append(failed, v.name)
			continue
		}
		if o.WantWake {
			woken++
			if o.WakeAfter > worst {
				worst = o.WakeAfter
			}
		} else if o.Waiter {
			optional[v.name+"_waiter_woken"] = strconv.FormatBool(o.Woken)
		}
		if d := time.Since(start); d > slowest {
			slowest = d
		}
		env.ReportProgress(map[string]int64{"variants": int64(i + 1)})
	}
	if firstFail != nil {
		firstFail.Evidence["failed_variants"] = strings.Join(failed, ",")
		firstFail.Reason += fmt.Sprintf(" (%d/%d variants failed)", len(failed), len(variants)-len(skipped))
		return *firstFail
	}
	var what string
	if mode == lockMode {
		what = "pending lock word marked OWNER_DIED"
	} else {
		what = "released word left as it was (no OWNER_DIED)"
	}
	ev := map[string]string{"variants": strconv.Itoa(len(variants)), "worst_wake": worst.String(),
		"slowest_variant": slowest.Round(time.Millisecond).String()}
	for k, v := range optional {
		ev[k] = v
	}
	msg := fmt.Sprintf("%d variants: %s, %d waiters woken, neighbours untouched", len(variants)-len(skipped), what, woken)
	if len(skipped) > 0 {
		ev["skipped_variants"] = strings.Join(skipped, ",")
		ev["skipped_why"] = skipWhy
		msg += fmt.Sprintf("; %d skipped (%s)", len(skipped), skipWhy)
	}
	return stress.Pass(msg, ev)
}

// waiterResult is how a waiter's futex call ended.
type waiterResult struct {
	err  error
	at   time.Time
	word uint32 // PI: the word as the new owner saw it
}

// startWaiter puts a pinned thread to sleep on w, which must be owned:
// non-PI, it sets WAITERS and sleeps in FUTEX_WAIT; PI, it sleeps in
// FUTEX_LOCK_PI with a timeout (and unlocks at once if it gets the lock).
// It returns once the thread is seen asleep on w.
func startWaiter(w *uint32, pi bool) (tid int, done chan waiterResult, err error) {
	done = make(chan waiterResult, 1)
	tidc := make(chan int, 1)
	go func() {
		// The thread blocks every signal and is never unlocked, so it
		// dies with the goroutine: a signal (the dead child's SIGCHLD)
		// would restart FUTEX_WAIT after the word changed, an EAGAIN that
		// would hide a missing wakeup.
		runtime.LockOSThread()
		if err := robust.BlockSignals(); err != nil {
			tidc <- unix.Gettid()
			done <- waiterResult{err: fmt.Errorf("sigprocmask: %w", err), at: time.Now()}
			return
		}
		tidc <- unix.Gettid()
		if pi {
			ts := unix.NsecToTimespec(time.Now().Add(waitLimit).UnixNano()) // absolute, CLOCK_REALTIME
			_, err := futex.Futex(w, futex.FUTEX_LOCK_PI, 0, &ts, nil, 0)
			r := waiterResult{err: err, at: time.Now(), word: atomic.LoadUint32(w)}
			if err == nil {
				futex.Futex(w, futex.FUTEX_UNLOCK_PI, 0, nil, nil, 0)
			}
			done <- r
			return
		}
		for {
			old := atomic.LoadUint32(w)
			if old&futex.FUTEX_TID_MASK == 0 {
				done <- waiterResult{err: fmt.Errorf("waiter found the lock free (%#x)", old), at: time.Now()}
				return
			}
			if atomic.CompareAndSwapUint32(w, old, old|futex.FUTEX_WAITERS) {
				// No timeout: the test wakes it itself when done.
				_, err := futex.Futex(w, futex.FUTEX_WAIT, old|futex.FUTEX_WAITERS, nil, nil, 0)
				done <- waiterResult{err: err, at: time.Now()}
				return
			}
		}
	}()
	tid = <-tidc
	if !waitAsleepOn(tid, uintptr(unsafe.Pointer(w)), time.Second, done) {
		select {
		case r := <-done:
			return tid, nil, fmt.Errorf("waiter returned before sleeping: %v", r.err)
		default:
		}
		return tid, done, fmt.Errorf("waiter %d not seen asleep on the word within 1s", tid)
	}
	return tid, done, nil
}

// waitAsleepOn waits until thread tid of this process sits in futex(2) on
// addr (the first syscall argument in /proc/self/task/TID/syscall).
func waitAsleepOn(tid int, addr uintptr, limit time.Duration, done chan waiterResult) bool {
	path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if len(done) > 0 {
			return false
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		f := strings.Fields(string(b))
		if len(f) >= 2 && f[0] == strconv.Itoa(unix.SYS_FUTEX) {
			if a, err := strconv.ParseUint(f[1], 0, 64); err == nil && uintptr(a) == addr {
				time.Sleep(5 * time.Millisecond) // from syscall entry to asleep
				return true
			}
		}
	}
	return false
}

// liveOwner is a live thread of this process holding the word.
type liveOwner struct {
	tid     uint32
	release chan struct{}
	done    chan struct{}
}

func takeAsThirdParty(w *uint32) (*liveOwner, error) {
	o := &liveOwner{release: make(chan struct{}), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(o.done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		o.tid = uint32(unix.Gettid())
		if !atomic.CompareAndSwapUint32(w, 0, o.tid) {
			errc <- fmt.Errorf("third party could not take the word: %#x", atomic.LoadUint32(w))
			return
		}
		errc <- nil
		<-o.release
		if atomic.SwapUint32(w, 0)&futex.FUTEX_WAITERS != 0 {
			futex.Futex(w, futex.FUTEX_WAKE, 1<<30, nil, nil, 0)
		}
	}()
	if err := <-errc; err != nil {
		<-o.done
		return nil, err
	}
	return o, nil
}

// unlock releases the third party's lock.
func (o *liveOwner) unlock() {
	if o != nil {
		close(o.release)
		<-o.done
	}
}

// setGo raises the go word to v and wakes the child parked on it.
func setGo(p *uint32, v uint32) {
	atomic.StoreUint32(p, v)
	futex.Futex(p, futex.FUTEX_WAKE, 1<<30, nil, nil, 0)
}

// waitGo parks the calling thread until the go word reaches v.
func waitGo(p *uint32, v uint32) {
	for {
		cur := atomic.LoadUint32(p)
		if cur >= v {
			return
		}
		futex.Futex(p, futex.FUTEX_WAIT, cur, nil, nil, 0)
	}
}

func killVariant(ctx context.Context, mode string, v variant) (o observation, err error) {
	o = observation{Variant: v.name, PI: v.pi, Waiter: v.waiter, WantWake: v.wantWake, WakeBound: wakeBound}
	shm, err := robust.NewMemfd("rig-robust-kill")
	if err != nil {
		return o, fmt.Errorf("memfd: %w", err)
	}
	defer shm.Close()
	mem, err := robust.MmapShared(int(shm.Fd()))
	if err != nil {
		return o, fmt.Errorf("mmap: %w", err)
	}
	defer unix.MunmapPtr(mem, robust.PageSize)
	atomic.StoreUint32(robust.Word(mem, patternOff), 0x5a5aa5a5)
	w := robust.Word(mem, wordOff)
	goWord := robust.Word(mem, goOff)

	var args []string
	if v.pi {
		args = append(args, "pi")
	}
	if v.syscall {
		args = append(args, "syscall")
	}
	if v.list32 {
		args = append(args, "list32")
	}
	if v.vdso {
		args = append(args, "vdso")
	}
	helper := "robust-kill-lock"
	if mode == unlockMode {
		helper = "robust-kill-unlock"
	}
	c, err := child.Start(helper, shm, args...)
	if err != nil {
		return o, err
	}
	defer c.Kill()
	line, err := c.ReadLine(ctx, 10*time.Second)
	if err != nil {
		return o, err
	}
	kind, kv := child.Fields(line)
	want := "parked" // lock: pending set, word taken, not linked
	if mode == unlockMode {
		want = "locked" // unlock: lock complete, waiting for go
	}
	if kind != want {
		return o, fmt.Errorf("child: %s", line)
	}
	tid, _ := strconv.ParseUint(kv["tid"], 10, 32)
	base, _ := strconv.ParseUint(kv["base"], 0, 64)
	o.ChildTID = uint32(tid)
	if o.ChildTID == 0 || base == 0 {
		return o, fmt.Errorf("child: bad status %q", line)
	}
	if got := atomic.LoadUint32(w); got != o.ChildTID {
		return o, fmt.Errorf("child reported %s but the word holds %#x, not its TID %d", kind, got, o.ChildTID)
	}

	var wake chan waiterResult
	defer func() {
		// Never leave a waiter asleep behind (a PI one times out alone).
		for i := 0; wake != nil && i < 200; i++ {
			if !v.pi {
				futex.Futex(w, futex.FUTEX_WAKE, 1<<30, nil, nil, 0)
			}
			select {
			case <-wake:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	if v.waiter && !v.waitersBit {
		// Lock: sleeps on TID|WAITERS of the parked child. Unlock: sleeps
		// on the owned word before the child releases it.
		var wtid int
		wtid, wake, err = startWaiter(w, v.pi)
		o.WaiterTID = uint32(wtid)
		if err != nil {
			return o, err
		}
	}
	var owner *liveOwner
	defer func() { owner.unlock() }()
	if mode == unlockMode && v.syscall {
		return syscallUnlockVariant(ctx, o, v, c, mem, w, wake, uintptr(base))
	}
	if mode == unlockMode {
		setGo(goWord, 1)
		line, err := c.ReadLine(ctx, 10*time.Second)
		if err != nil {
			return o, err
		}
		if kind, _ := child.Fields(line); kind != "window" {
			return o, fmt.Errorf("child: %s", line)
		}
		if got := atomic.LoadUint32(w); got != 0 {
			return o, fmt.Errorf("child in the unlock window but the word holds %#x, not 0", got)
		}
		if v.thirdParty {
			if owner, err = takeAsThirdParty(w); err != nil {
				return o, err
			}
			o.OwnerTID = owner.tid
		}
		if v.waitersBit {
			var wtid int
			o.Waiter = true
			wtid, wake, err = startWaiter(w, v.pi)
			o.WaiterTID = uint32(wtid)
			if err != nil {
				return o, err
			}
		}
	}

	// The child's state right before the kill, from its robust_list_head.
	entry := uintptr(base) + entryOff
	if v.pi {
		entry |= 1
	}
	pending := atomic.LoadUintptr(robust.Slot(mem, headOff+futex.HeadPendingOff))
	next := atomic.LoadUintptr(robust.Slot(mem, headOff+futex.HeadListOff))
	o.State = fmt.Sprintf("list_op_pending=%#x list.next=%#x (mutex entry %#x, head %#x)", pending, next, entry, uintptr(base)+headOff)
	if pending != entry || next != uintptr(base)+headOff {
		return o, fmt.Errorf("child not in the window: %s", o.State)
	}
	if wake != nil && len(wake) > 0 {
		r := <-wake
		wake = nil
		return o, fmt.Errorf("waiter returned before the kill: %v", r.err)
	}

	o.Mutex = robust.WatchedWord{Name: "word", Off: wordOff, Before: atomic.LoadUint32(w)}
	o.Others = []robust.WatchedWord{{Name: "neighbour", Off: neighbourOff}, {Name: "pattern", Off: patternOff}, {Name: "go", Off: goOff}}
	for i := range o.Others {
		o.Others[i].Before = atomic.LoadUint32(robust.Word(mem, o.Others[i].Off))
	}
	if o.Others[0].Before != o.ChildTID {
		return o, fmt.Errorf("neighbour word %#x, want the child's TID %d", o.Others[0].Before, o.ChildTID)
	}
	killed := time.Now()
	c.Kill() // returns once the child is reaped: its robust list was handled
	o.Mutex.After = atomic.LoadUint32(w)
	for i := range o.Others {
		o.Others[i].After = atomic.LoadUint32(robust.Word(mem, o.Others[i].Off))
	}
	if wake != nil {
		limit := wakeBound
		if !v.wantWake {
			limit = quiet // not required: note it, then release the owner
		}
		select {
		case r := <-wake:
			wake = nil
			o.WakeAfter = r.at.Sub(killed)
			o.PIWord = r.word
			switch {
			case r.err == nil:
				o.Woken = true
			case r.err == unix.EAGAIN:
				return o, fmt.Errorf("waiter's FUTEX_WAIT returned EAGAIN: it was not asleep when the word changed")
			default:
				o.WaiterErr = r.err.Error()
			}
		case <-time.After(limit):
			o.WaiterErr = "still asleep"
			if v.wantWake {
				o.WakeAfter = limit
			}
		}

	}
	return o, nil
}

// childSetup maps the shared page, lays out and registers the robust list
// of the calling (pinned) thread, and writes the neighbour word.
func childSetup() (mem unsafe.Pointer, h unsafe.Pointer, tid uint32, err error) {
	mem, err = robust.MmapShared(3)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("mmap shared: %w", err)
	}
	h = unsafe.Add(mem, headOff)
	robust.InitHead(h)
	if err := futex.SetRobustList(h, futex.RobustListHeadSize); err != nil {
		return nil, nil, 0, fmt.Errorf("set_robust_list: %w", err)
	}
	tid = uint32(unix.Gettid())
	atomic.StoreUint32(robust.Word(mem, neighbourOff), tid)
	return mem, h, tid, nil
}

func childArgs(name string, args []string) (bool, error) {
	if len(args) > 1 || len(args) == 1 && args[0] != "pi" {
		return false, fmt.Errorf("%s: want [pi]", name)
	}
	return len(args) == 1, nil
}

// unlockArgs parses "robust-kill-unlock [pi] [syscall] [list32] [vdso]".
func unlockArgs(args []string) (pi, syscall, list32, vdso bool, err error) {
	for _, a := range args {
		switch a {
		case "pi":
			pi = true
		case "syscall":
			syscall = true
		case "list32":
			list32 = true
		case "vdso":
			vdso = true
		default:
			return false, false, false, false, fmt.Errorf("robust-kill-unlock: want [pi] [syscall] [list32] [vdso], got %q", a)
		}
	}
	return pi, syscall, list32, vdso, nil
}

// killLockChild (child helper "robust-kill-lock [pi]"): list_op_pending =
// &mutex, cmpxchg(word, 0, tid), report "parked tid= base=", and park
// before linking the mutex until the go word is raised (never, in the
// test: the parent kills it there).
func killLockChild(args []string) error {
	pi, err := childArgs("robust-kill-lock", args)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the window
		mem, h, tid, err := childSetup()
		if err != nil {
			errc <- err
			return
		}
		entry := unsafe.Add(mem, entryOff)
		ptr := uintptr(entry)
		if pi {
			ptr |= 1
		}
		pending := robust.Slot(h, futex.HeadPendingOff)
		atomic.StoreUintptr(pending, ptr)
		if !atomic.CompareAndSwapUint32(robust.Word(entry, robust.FutexOffset), 0, tid) {
			errc <- fmt.Errorf("lock was not free: %#x", atomic.LoadUint32(robust.Word(entry, robust.FutexOffset)))
			return
		}
		child.Status(fmt.Sprintf("parked tid=%d base=%#x", tid, uintptr(mem)))
		waitGo(robust.Word(mem, goOff), 1) // the kill lands here
		next := robust.Slot(h, futex.HeadListOff)
		atomic.StoreUintptr(robust.Slot(entry, 0), atomic.LoadUintptr(next))
		atomic.StoreUintptr(next, ptr)
		atomic.StoreUintptr(pending, 0)
		for {
			time.Sleep(time.Hour)
		}
	}()
	return <-errc
}

// killUnlockChild (child helper "robust-kill-unlock [pi]"): take the mutex
// (linked, pending cleared), report "locked tid= base=", wait for go=1,
// then list_op_pending = &mutex, unlink, xchg(word, 0) (PI: cmpxchg TID->0,
// the uncontended PI unlock), report "window old=", and park before the
// FUTEX_WAKE and before clearing list_op_pending, until go=2 (never, in the
// test).
func killUnlockChild(args []string) error {
	pi, viaSyscall, list32, viaVdso, err := unlockArgs(args)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		mem, h, tid, err := childSetup()
		if err != nil {
			errc <- err
			return
		}
		entry := unsafe.Add(mem, entryOff)
		w := robust.Word(entry, robust.FutexOffset)
		if !robust.LockFlag(h, entry, tid, pi) {
			errc <- fmt.Errorf("lock was not free: %#x", atomic.LoadUint32(w))
			return
		}
		child.Status(fmt.Sprintf("locked tid=%d base=%#x", tid, uintptr(mem)))
		goWord := robust.Word(mem, goOff)
		waitGo(goWord, 1)
		ptr := uintptr(entry)
		if pi {
			ptr |= 1
		}
		pending := robust.Slot(h, futex.HeadPendingOff)
		atomic.StoreUintptr(pending, ptr)                                                                 // list_op_pending = &mutex
		atomic.StoreUintptr(robust.Slot(h, futex.HeadListOff), atomic.LoadUintptr(robust.Slot(entry, 0))) // unlink (it is the only entry)
		vdsoNote := ""
		if viaVdso {
			fn := robust.VDSOTryUnlockAddr()
			if fn == 0 {
				child.Status("skip kernel without the vDSO robust try-unlock")
				errc <- nil
				return
			}
			// A waiter sleeps on TID|WAITERS: the try-unlock must not
			// release the word, only return it.
			got := futex.CallTryUnlock(fn, w, tid, pending)
			after := atomic.LoadUint32(w)
			vdsoNote = fmt.Sprintf(" vdso_got=%#x word_after_vdso=%#x pending_after_vdso=%#x", got, after, atomic.LoadUintptr(pending))
			if after != tid|futex.FUTEX_WAITERS {
				// The vDSO released a contended word: the syscall would
				// refuse (not the owner). Wake the waiter, clear the
				// pending op, and let the parent judge what it saw.
				futex.Futex(w, futex.FUTEX_WAKE, 1, nil, nil, 0)
				atomic.StoreUintptr(pending, 0)
				child.Status(fmt.Sprintf("unlocked ret=-1 pending_after=0%s", vdsoNote))
				for {
					time.Sleep(time.Hour) // the kill lands here
				}
			}
		}
		if viaSyscall {
			// The contended unlock through the kernel: it releases (PI:
			// hands over) the word and clears list_op_pending itself.
			op := futex.FUTEX_WAKE | futex.FUTEX_ROBUST_UNLOCK
			if pi {
				op = futex.FUTEX_UNLOCK_PI | futex.FUTEX_ROBUST_UNLOCK
			}
			if list32 {
				op |= futex.FUTEX_ROBUST_LIST32
			}
			n, err := futex.Futex(w, op, 1, nil, (*uint32)(unsafe.Pointer(pending)), 0)
			if err == unix.ENOSYS || err == unix.EINVAL {
				child.Status("skip kernel without FUTEX_ROBUST_UNLOCK (" + err.Error() + ")")
				errc <- nil
				return
			}
			if err != nil {
				errc <- fmt.Errorf("futex(%#x) robust unlock:%s: %w", op, vdsoNote, err)
				return
			}
			left := atomic.LoadUintptr(pending)
			atomic.StoreUintptr(pending, 0) // list32 leaves the high half: clear it now
			child.Status(fmt.Sprintf("unlocked ret=%d pending_after=%#x%s", n, left, vdsoNote))
			for {
				time.Sleep(time.Hour) // the kill lands here
			}
		}
		var old uint32
		if pi {
			if !atomic.CompareAndSwapUint32(w, tid, 0) {
				errc <- fmt.Errorf("PI unlock cmpxchg failed: word %#x", atomic.LoadUint32(w))
				return
			}
			old = tid
		} else {
			old = atomic.SwapUint32(w, 0)
		}
		child.Status(fmt.Sprintf("window old=%#x", old))
		waitGo(goWord, 2) // the kill lands here
		if !pi && old&futex.FUTEX_WAITERS != 0 {
			futex.Futex(w, futex.FUTEX_WAKE, 1, nil, nil, 0)
		}
		atomic.StoreUintptr(pending, 0)
		for {
			time.Sleep(time.Hour)
		}
	}()
	return <-errc
}

// syscallUnlockVariant runs a "syscall" unlock variant from the point the
// child holds the lock (and a waiter, if any, sleeps on it): the child
// unlocks through FUTEX_ROBUST_UNLOCK, which must leave list_op_pending
// cleared (for list32: exactly its low 32 bits) and must have woken the
// waiter (PI: handed it the lock) before the syscall returned; then the
// kill must leave the word and its neighbours as they were.
func syscallUnlockVariant(ctx context.Context, o observation, v variant, c *child.Process, mem unsafe.Pointer, w *uint32, wake chan waiterResult, base uintptr) (observation, error) {
	entry := base + entryOff
	if v.pi {
		entry |= 1
	}
	start := time.Now()
	setGo(robust.Word(mem, goOff), 1)
	line, err := c.ReadLine(ctx, 10*time.Second)
	if err != nil {
		return o, err
	}
	kind, kv := child.Fields(line)
	switch kind {
	case "skip":
		return o, errSkipVariant{kv["msg"]}
	case "unlocked":
	default:
		return o, fmt.Errorf("child: %s", line)
	}
	if v.vdso {
		got, _ := strconv.ParseUint(kv["vdso_got"], 0, 32)
		after, _ := strconv.ParseUint(kv["word_after_vdso"], 0, 32)
		pend, _ := strconv.ParseUint(kv["pending_after_vdso"], 0, 64)
		want := uint64(o.ChildTID | futex.FUTEX_WAITERS)
		if got != want || after != want || pend != uint64(entry) {
			o.VdsoProblem = fmt.Sprintf("the vDSO try-unlock of a contended word %#08x returned %#08x and left the word %#08x and list_op_pending %#x (want the word and the pending op left alone, %#08x returned)",
				want, got, after, pend, want)
		}
	}
	left, _ := strconv.ParseUint(kv["pending_after"], 0, 64)
	want := uint64(0)
	if v.list32 {
		want = uint64(entry) &^ 0xffffffff
	}
	o.State = fmt.Sprintf("list_op_pending after the syscall=%#x (entry %#x), want %#x", left, entry, want)
	if left != want {
		return o, fmt.Errorf("robust unlock syscall left list_op_pending %#x, want %#x (entry %#x, list32 %v)", left, want, entry, v.list32)
	}
	if wake != nil {
		select {
		case r := <-wake:
			wake = nil
			o.WakeAfter, o.PIWord = r.at.Sub(start), r.word
			if r.err == nil {
				o.Woken = true
			} else {
				o.WaiterErr = r.err.Error()
			}
		case <-time.After(wakeBound):
			o.WaiterErr = "still asleep after the robust unlock syscall"
			o.WakeAfter = wakeBound
			futex.Futex(w, futex.FUTEX_WAKE, 1<<30, nil, nil, 0)
		}
	}
	// Whatever the waiter did with the lock, nobody owns it for the
	// dead child's exit to find.
	o.Mutex = robust.WatchedWord{Name: "word", Off: wordOff, Before: atomic.LoadUint32(w)}
	o.Others = []robust.WatchedWord{{Name: "neighbour", Off: neighbourOff}, {Name: "pattern", Off: patternOff}, {Name: "go", Off: goOff}}
	for i := range o.Others {
		o.Others[i].Before = atomic.LoadUint32(robust.Word(mem, o.Others[i].Off))
	}
	c.Kill()
	o.Mutex.After = atomic.LoadUint32(w)
	for i := range o.Others {
		o.Others[i].After = atomic.LoadUint32(robust.Word(mem, o.Others[i].Off))
	}
	return o, nil
}
