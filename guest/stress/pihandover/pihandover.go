// Package pihandover is the guest test pi-handover: directed PI handovers
// to waiters seen asleep, checked exactly, including one with a waiter
// that gave up or was killed.
package pihandover

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
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

// pi-handover: directed PI scenarios that do not depend on timing. Waiters
// are seen asleep in FUTEX_LOCK_PI (/proc/self/task/TID/syscall) before the
// owner unlocks, and each handover is checked exactly: the word names the
// new owner, FUTEX_WAITERS stays set while waiters remain (the kernel keeps
// it on every handover), so the next unlock must go through the kernel,
// and the last one leaves the word 0. The same with a waiter that gave up
// (its LOCK_PI timed out) before the unlock.

// Test is pi-handover.
var Test = stress.New("pi-handover", run, stress.Helpers{"pi-lock-waiter": lockWaiterChild})

const (
	waiterCount = 3
	sleepWait   = 2 * time.Second // a waiter must be seen asleep within this
	wakeBound   = 2 * time.Second // a woken waiter must return within this
)

// waiter is a pinned thread of this process blocked in FUTEX_LOCK_PI.
type waiter struct {
	tid    int
	got    chan error // LOCK_PI's result
	unlock chan bool  // once it owns the lock: true = unlock (fast path, then the kernel)
	report chan unlockReport
}

// unlockReport is what a waiter saw unlocking the lock it was handed.
type unlockReport struct {
	before   uint32 // the word when it started its unlock
	fastPath bool   // cmpxchg(tid -> 0) succeeded in user space
	err      error  // FUTEX_UNLOCK_PI's error
}

func startWaiter(w *uint32, timeout time.Duration) *waiter {
	pw := &waiter{got: make(chan error, 1), unlock: make(chan bool, 1), report: make(chan unlockReport, 1)}
	tidc := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		robust.BlockSignals()  // no spurious EINTR/restart
		tid := unix.Gettid()
		tidc <- tid
		ts := unix.NsecToTimespec(time.Now().Add(timeout).UnixNano()) // absolute, CLOCK_REALTIME
		_, err := futex.Futex(w, futex.FUTEX_LOCK_PI, 0, &ts, nil, 0)
		pw.got <- err
		if err != nil || !<-pw.unlock {
			return
		}
		pw.report <- release(w, uint32(tid))
	}()
	pw.tid = <-tidc
	return pw
}

// release unlocks a PI lock the calling thread owns: the user-space fast
// path, and FUTEX_UNLOCK_PI when the word is more than its TID.
func release(w *uint32, tid uint32) unlockReport {
	u := unlockReport{before: atomic.LoadUint32(w)}
	if atomic.CompareAndSwapUint32(w, tid, 0) {
		u.fastPath = true
		return u
	}
	_, u.err = futex.Futex(w, futex.FUTEX_UNLOCK_PI, 0, nil, nil, 0)
	return u
}

// awaitAsleep waits until thread tid sleeps in FUTEX_LOCK_PI on w.
func awaitAsleep(tid int, w *uint32, got chan error) error {
	addr := uintptr(unsafe.Pointer(w))
	for end := time.Now().Add(sleepWait); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if len(got) > 0 {
			return fmt.Errorf("waiter %d returned from FUTEX_LOCK_PI before sleeping: %v", tid, <-got)
		}
		if pifutex.SyscallOn(tid, addr, futex.FUTEX_LOCK_PI) {
			return nil
		}
	}
	return fmt.Errorf("waiter %d not seen asleep in FUTEX_LOCK_PI within %v", tid, sleepWait)
}

func run(ctx context.Context, env stress.Env) stress.Outcome {
	ev := map[string]string{}
	for _, sc := range []struct {
		name string
		run  func() (string, map[string]string, error)
	}{
		{"chain", chain},
		{"timed-out-waiter", timedOutWaiter},
		{"killed-waiter", killedWaiter},
	} {
		if ctx.Err() != nil {
			return stress.Error("deadline before scenario "+sc.name, ev)
		}
		why, sev, err := sc.run()
		for k, v := range sev {
			ev[sc.name+"_"+k] = v
		}
		if err != nil {
			return stress.Error(sc.name+": "+stress.OneLine(err.Error()), ev)
		}
		if why != "" {
			ev["scenario"] = sc.name
			return stress.Fail(sc.name+": "+why, ev)
		}
	}
	return stress.Pass(fmt.Sprintf("handover chain of %d waiters: each new owner named with WAITERS kept, every unlock through the kernel; a timed-out waiter and a killed one left out", waiterCount), ev)
}

// chain: the owner holds the lock, waiterCount waiters sleep in LOCK_PI;
// the lock passes from owner to waiter to waiter, each unlock checked.
func chain() (string, map[string]string, error) {
	ev := map[string]string{}
	w := new(uint32)
	otid, goUnlock, owner := startOwner(w)
	ev["owner_tid"] = strconv.Itoa(int(otid))
	var ws []*waiter
	defer func() {
		for _, pw := range ws {
			select {
			case pw.unlock <- true:
			default:
			}
		}
	}()
	for i := 0; i < waiterCount; i++ {
		pw := startWaiter(w, 10*time.Second)
		ws = append(ws, pw)
		if err := awaitAsleep(pw.tid, w, pw.got); err != nil {
			return "", ev, err
		}
	}
	if got := atomic.LoadUint32(w); got != otid|futex.FUTEX_WAITERS {
		return fmt.Sprintf("with %d waiters asleep the word is %#08x, want the owner %d with FUTEX_WAITERS (%#08x)", waiterCount, got, otid, otid|futex.FUTEX_WAITERS), ev, nil
	}
	close(goUnlock)
	prev, u := otid, <-owner
	holders := map[int]bool{}
	for step := 0; step < waiterCount; step++ {
		if u.fastPath {
			return fmt.Sprintf("step %d: TID %d released %#08x in user space with %d waiters asleep: the word had lost FUTEX_WAITERS",
				step, prev, u.before, waiterCount-step), ev, nil
		}
		if u.err != nil {
			return "", ev, fmt.Errorf("step %d: FUTEX_UNLOCK_PI by TID %d: %w", step, prev, u.err)
		}
		// Exactly one waiter returns from LOCK_PI, owning the lock.
		next := awaitWoken(ws, holders)
		if next == nil {
			return fmt.Sprintf("step %d: TID %d unlocked through the kernel, no waiter of %d returned within %v", step, prev, waiterCount-step, wakeBound), ev, nil
		}
		if err := <-next.got; err != nil {
			return fmt.Sprintf("step %d: waiter %d's FUTEX_LOCK_PI failed after the handover: %v", step, next.tid, err), ev, nil
		}
		holders[next.tid] = true
		word := atomic.LoadUint32(w)
		ev[fmt.Sprintf("word_after_handover_%d", step+1)] = fmt.Sprintf("%#08x", word)
		// The kernel keeps WAITERS on every handover (wake_futex_pi): the
		// new owner's unlock must go through the kernel, which knows
		// whether waiters remain.
		if want := uint32(next.tid) | futex.FUTEX_WAITERS; word != want {
			return fmt.Sprintf("step %d: handover from TID %d to TID %d left the word %#08x, want %#08x (the new owner, FUTEX_WAITERS kept; %d waiters still asleep)",
				step, prev, next.tid, word, want, waiterCount-step-1), ev, nil
		}
		next.unlock <- true
		prev = uint32(next.tid)
		u = <-next.report
	}
	// The last owner's unlock went through the kernel with nobody left.
	if u.fastPath || u.err != nil {
		return fmt.Sprintf("last unlock by TID %d: fast path %v, error %v; want FUTEX_UNLOCK_PI to succeed", prev, u.fastPath, u.err), ev, nil
	}
	if got := atomic.LoadUint32(w); got != 0 {
		return fmt.Sprintf("after the last unlock, with no waiter left, the word is %#08x, want 0", got), ev, nil
	}
	return "", ev, nil
}

// startOwner starts a pinned thread that takes the lock at w uncontended and
// releases it (release) once goUnlock is closed, reporting on owner.
func startOwner(w *uint32) (tid uint32, goUnlock chan struct{}, owner chan unlockReport) {
	goUnlock, owner = make(chan struct{}), make(chan unlockReport, 1)
	tidc := make(chan uint32, 1)
	go func() {
		runtime.LockOSThread()
		tid := uint32(unix.Gettid())
		atomic.StoreUint32(w, tid) // the uncontended lock
		tidc <- tid
		<-goUnlock
		owner <- release(w, tid)
	}()
	return <-tidc, goUnlock, owner
}

// startStayer starts the waiter that stays asleep on w while another gives
// up, and waits until it is seen asleep; done lets it unlock if it was
// handed the lock and the scenario ended before asking it to.
func startStayer(w *uint32) (stays *waiter, done func(), err error) {
	stays = startWaiter(w, 10*time.Second)
	done = func() {
		select {
		case stays.unlock <- true:
		default:
		}
	}
	return stays, done, awaitAsleep(stays.tid, w, stays.got)
}

// awaitWoken waits for the one waiter (not yet a holder) whose LOCK_PI returns.
func awaitWoken(ws []*waiter, holders map[int]bool) *waiter {
	for end := time.Now().Add(wakeBound); time.Now().Before(end); time.Sleep(time.Millisecond) {
		for _, pw := range ws {
			if !holders[pw.tid] && len(pw.got) > 0 {
				return pw
			}
		}
	}
	return nil
}

// timedOutWaiter: a waiter gives up (its LOCK_PI times out) while another
// sleeps on; the owner's unlock hands the lock to the one still there, and
// the word never names the one that left.
func timedOutWaiter() (string, map[string]string, error) {
	ev := map[string]string{}
	w := new(uint32)
	otid, goUnlock, owner := startOwner(w)
	stays, done, err := startStayer(w)
	defer done()
	if err != nil {
		return "", ev, err
	}
	leaves := startWaiter(w, 100*time.Millisecond)
	if err := awaitAsleep(leaves.tid, w, leaves.got); err != nil {
		// It may time out before it is seen asleep: that is a run
		// without the scenario, not a kernel bug.
		return "", ev, fmt.Errorf("the waiter meant to time out: %w", err)
	}
	select {
	case err := <-leaves.got:
		if err != unix.ETIMEDOUT {
			return fmt.Sprintf("a LOCK_PI with a 100 ms timeout on a held lock returned %v, want ETIMEDOUT", err), ev, nil
		}
	case <-time.After(wakeBound):
		return fmt.Sprintf("a LOCK_PI with a 100 ms timeout still blocked after %v", wakeBound), ev, nil
	}
	if got := atomic.LoadUint32(w); got&futex.FUTEX_TID_MASK != otid || got&futex.FUTEX_WAITERS == 0 {
		return fmt.Sprintf("after a waiter timed out with another asleep, the word is %#08x, want the owner %d with FUTEX_WAITERS", got, otid), ev, nil
	}
	return handOverTo(w, goUnlock, owner, stays, leaves.tid, "timed out", ev), ev, nil
}

// handOverTo finishes a scenario in which one waiter left (gone, which
// "timed out" or "was killed") while another stayed asleep: the owner's
// unlock must go through the kernel and hand the lock to the one that
// stayed, never to the one that left, and its own unlock leaves 0. It
// returns why the kernel got it wrong, or "".
func handOverTo(w *uint32, goUnlock chan struct{}, owner chan unlockReport, stays *waiter, gone int, how string, ev map[string]string) string {
	close(goUnlock)
	u := <-owner
	if u.fastPath || u.err != nil {
		return fmt.Sprintf("owner's unlock with a waiter asleep: fast path %v, error %v; want FUTEX_UNLOCK_PI", u.fastPath, u.err)
	}
	select {
	case err := <-stays.got:
		if err != nil {
			return fmt.Sprintf("the waiter that stayed: FUTEX_LOCK_PI failed after the handover: %v", err)
		}
	case <-time.After(wakeBound):
		return fmt.Sprintf("the waiter that stayed was not handed the lock within %v (TID %d %s)", wakeBound, gone, how)
	}
	word := atomic.LoadUint32(w)
	ev["word_after_handover"] = fmt.Sprintf("%#08x", word)
	if word&futex.FUTEX_TID_MASK != uint32(stays.tid) {
		return fmt.Sprintf("the lock went to TID %d (word %#08x), want the waiter that stayed, %d (TID %d %s)",
			word&futex.FUTEX_TID_MASK, word, stays.tid, gone, how)
	}
	stays.unlock <- true
	if r := <-stays.report; r.err != nil {
		return fmt.Sprintf("the last owner's unlock: %v", r.err)
	}
	if got := atomic.LoadUint32(w); got != 0 {
		return fmt.Sprintf("after the last unlock the word is %#08x, want 0", got)
	}
	return ""
}

// wordOff is where the killed-waiter scenario's lock word lives in the
// shared page (the waiter that is killed is another process).
const wordOff = 0x40

// lockWaiterChild (child helper "pi-lock-waiter"): blocks in
// FUTEX_LOCK_PI on the shared page's word after reporting "waiting tid=";
// the parent kills it there.
func lockWaiterChild(args []string) error {
	mem, err := robust.MmapShared(3)
	if err != nil {
		return fmt.Errorf("mmap shared: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		child.Status(fmt.Sprintf("waiting tid=%d", unix.Gettid()))
		ts := unix.NsecToTimespec(time.Now().Add(20 * time.Second).UnixNano())
		_, err := futex.Futex(robust.Word(mem, wordOff), futex.FUTEX_LOCK_PI, 0, &ts, nil, 0)
		errc <- fmt.Errorf("FUTEX_LOCK_PI returned before the kill: %v", err)
	}()
	return <-errc
}

// killedWaiter: a waiter in another process is SIGKILLed while blocked in
// FUTEX_LOCK_PI, another waiter sleeps on; the owner's unlock hands the
// lock to the one still there, and the word never names the dead task.
func killedWaiter() (string, map[string]string, error) {
	ev := map[string]string{}
	shm, err := robust.NewMemfd("rig-pi-handover")
	if err != nil {
		return "", ev, fmt.Errorf("memfd: %w", err)
	}
	defer shm.Close()
	mem, err := robust.MmapShared(int(shm.Fd()))
	if err != nil {
		return "", ev, fmt.Errorf("mmap: %w", err)
	}
	defer unix.MunmapPtr(mem, robust.PageSize)
	w := robust.Word(mem, wordOff)
	otid, goUnlock, owner := startOwner(w)
	stays, done, err := startStayer(w)
	defer done()
	if err != nil {
		return "", ev, err
	}
	c, err := child.Start("pi-lock-waiter", shm)
	if err != nil {
		return "", ev, err
	}
	defer c.Kill()
	line, err := c.ReadLine(context.Background(), 10*time.Second)
	if err != nil {
		return "", ev, err
	}
	kind, kv := child.Fields(line)
	dead, _ := strconv.Atoi(kv["tid"])
	if kind != "waiting" || dead == 0 {
		return "", ev, fmt.Errorf("child: %s", line)
	}
	ev["killed_tid"] = strconv.Itoa(dead)
	pid := c.Cmd.Process.Pid
	asleep := false
	for end := time.Now().Add(sleepWait); time.Now().Before(end) && !asleep; time.Sleep(time.Millisecond) {
		asleep = pifutex.TaskBlockedOn(pid, dead, wordOff, futex.FUTEX_LOCK_PI)
	}
	if !asleep {
		return "", ev, fmt.Errorf("the waiter to be killed (TID %d) not seen asleep in FUTEX_LOCK_PI within %v", dead, sleepWait)
	}
	c.Kill() // returns once the child is reaped
	if got := atomic.LoadUint32(w); got != otid|futex.FUTEX_WAITERS {
		return fmt.Sprintf("after a waiter was killed with another asleep, the word is %#08x, want the owner %d with FUTEX_WAITERS", got, otid), ev, nil
	}
	return handOverTo(w, goUnlock, owner, stays, dead, "was killed", ev), ev, nil
}
