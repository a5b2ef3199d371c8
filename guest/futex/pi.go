package futex

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LockPI calls FUTEX_LOCK_PI on a shared (not private) futex word. The
// timeout of FUTEX_LOCK_PI is absolute and measured against CLOCK_REALTIME
// (futex(2)); a zero deadline waits forever. It returns nil when the caller
// owns the lock; the word then holds its TID, possibly with FUTEX_WAITERS
// and FUTEX_OWNER_DIED.
func LockPI(uaddr *uint32, deadline time.Time) error {
	var ts *unix.Timespec
	if !deadline.IsZero() {
		t := unix.NsecToTimespec(deadline.UnixNano())
		ts = &t
	}
	_, err := Futex(uaddr, FUTEX_LOCK_PI, 0, ts, nil, 0)
	return err
}

// TrylockPI calls FUTEX_TRYLOCK_PI: nil when the caller got the lock,
// EWOULDBLOCK (EAGAIN) when somebody else holds it.
func TrylockPI(uaddr *uint32) error {
	_, err := Futex(uaddr, FUTEX_TRYLOCK_PI, 0, nil, nil, 0)
	return err
}

// UnlockPI calls FUTEX_UNLOCK_PI: the kernel hands the lock to the top
// waiter (the word becomes FUTEX_WAITERS|its TID) or stores 0. EPERM means
// the word did not name the caller.
func UnlockPI(uaddr *uint32) error {
	_, err := Futex(uaddr, FUTEX_UNLOCK_PI, 0, nil, nil, 0)
	return err
}

// SchedYield calls sched_yield(2): the calling OS thread gives up its CPU
// (a contender on a pinned goroutine widens race windows with it).
func SchedYield() {
	unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}

// CmpRequeuePI calls FUTEX_CMP_REQUEUE_PI if *cond still holds val: it
// wakes the top FUTEX_WAIT_REQUEUE_PI waiter of cond if it can take the PI
// lock at pi for it (the waiter returns owning the lock), and requeues up
// to nrRequeue more onto the lock. It returns how many it woke or
// requeued.
func CmpRequeuePI(cond *uint32, nrRequeue int, pi *uint32, val uint32) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(cond)), FUTEX_CMP_REQUEUE_PI, 1,
		uintptr(nrRequeue), uintptr(unsafe.Pointer(pi)), uintptr(val))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}
