// Package futex is the guest's syscall layer: the uapi constants of
// futex.h and userfaultfd.h that golang.org/x/sys/unix lacks, and thin
// wrappers around futex(2), set_robust_list(2), get_robust_list(2) and
// userfaultfd(2), for amd64 and arm64 (64-bit pointers and longs).
package futex

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations and flags (include/uapi/linux/futex.h).
const (
	FUTEX_WAIT            = 0
	FUTEX_WAKE            = 1
	FUTEX_LOCK_PI         = 6
	FUTEX_UNLOCK_PI       = 7
	FUTEX_TRYLOCK_PI      = 8
	FUTEX_WAIT_BITSET     = 9
	FUTEX_WAKE_BITSET     = 10
	FUTEX_WAIT_REQUEUE_PI = 11
	FUTEX_CMP_REQUEUE_PI  = 12
	FUTEX_LOCK_PI2        = 13 // FUTEX_LOCK_PI with a CLOCK_MONOTONIC deadline (Linux 5.14)
	FUTEX_PRIVATE_FLAG    = 128
	FUTEX_CLOCK_REALTIME  = 256
	// FUTEX_ROBUST_UNLOCK (docs/design.md, "The unlock race") modifies
	// FUTEX_WAKE, FUTEX_WAKE_BITSET and FUTEX_UNLOCK_PI: uaddr2 carries the
	// list_op_pending pointer, which the kernel clears itself.
	FUTEX_ROBUST_UNLOCK = 512
	// FUTEX_ROBUST_LIST32 selects the 32-bit pending pointer.
	FUTEX_ROBUST_LIST32 = 1024

	FUTEX_WAITERS    = 0x80000000
	FUTEX_OWNER_DIED = 0x40000000
	FUTEX_TID_MASK   = 0x3fffffff

	// FUTEX_BITSET_MATCH_ANY is the all-ones bitset for *_BITSET ops.
	FUTEX_BITSET_MATCH_ANY = 0xffffffff
)

// RobustList is the kernel's struct robust_list: the link embedded in
// every robust mutex.
type RobustList struct {
	Next uintptr
}

// RobustListHead is the kernel's struct robust_list_head, laid out as on
// 64-bit architectures: list.next, futex_offset (long), list_op_pending.
type RobustListHead struct {
	List          RobustList
	FutexOffset   int64
	ListOpPending uintptr
}

// RobustListHeadSize is sizeof(struct robust_list_head), the len argument
// of set_robust_list(2).
const RobustListHeadSize = unsafe.Sizeof(RobustListHead{})

// Offsets of the fields of RobustListHead, for code that lays a head out in
// raw memory.
const (
	HeadListOff    = unsafe.Offsetof(RobustListHead{}.List)
	HeadOffsetOff  = unsafe.Offsetof(RobustListHead{}.FutexOffset)
	HeadPendingOff = unsafe.Offsetof(RobustListHead{}.ListOpPending)
)

// Futex calls futex(2). A nil timeout waits forever. The result is the
// syscall's return value (woken count, for instance).
func Futex(uaddr *uint32, op int, val uint32, timeout *unix.Timespec, uaddr2 *uint32, val3 uint32) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(uaddr)), uintptr(op), uintptr(val),
		uintptr(unsafe.Pointer(timeout)), uintptr(unsafe.Pointer(uaddr2)), uintptr(val3))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// SetRobustList calls set_robust_list(2) for the calling thread: call it on
// a goroutine pinned with runtime.LockOSThread. head must stay mapped for
// the thread's lifetime.
func SetRobustList(head unsafe.Pointer, length uintptr) error {
	_, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(head), length, 0)
	if e != 0 {
		return e
	}
	return nil
}

// GetRobustList calls get_robust_list(2) for thread tid (0: the caller)
// and returns the registered head address and length.
func GetRobustList(tid int) (head uintptr, length uintptr, err error) {
	_, _, e := unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, uintptr(tid),
		uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&length)))
	if e != 0 {
		return 0, 0, e
	}
	return head, length, nil
}
