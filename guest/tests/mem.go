package tests

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/futex"
)

var pageSize = uintptr(os.Getpagesize())

func mmapAnon() (unsafe.Pointer, error) {
	return unix.MmapPtr(-1, 0, nil, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

func mmapShared(fd int) (unsafe.Pointer, error) {
	return unix.MmapPtr(fd, 0, nil, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func word(p unsafe.Pointer, off uintptr) *uint32 { return (*uint32)(unsafe.Add(p, off)) }
func slot(p unsafe.Pointer, off uintptr) *uintptr {
	return (*uintptr)(unsafe.Add(p, off))
}

// newMemfd returns a one-page memfd for sharing with children.
func newMemfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.Ftruncate(fd, int64(pageSize)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// A robust mutex laid out as glibc does: the list entry (one pointer) and,
// futexOffset bytes after it, the 32-bit word.
const futexOffset = 8

// initHead lays out an empty robust_list_head at h.
func initHead(h unsafe.Pointer) {
	atomic.StoreUintptr(slot(h, futex.HeadListOff), uintptr(h))
	*(*int64)(unsafe.Add(h, futex.HeadOffsetOff)) = futexOffset
	atomic.StoreUintptr(slot(h, futex.HeadPendingOff), 0)
}

// robustLock takes the robust mutex whose list entry is at entry, the
// classic user-space sequence: pending = entry; cmpxchg(word, 0, tid); link;
// pending = 0.
func robustLock(h, entry unsafe.Pointer, tid uint32) bool {
	return robustLockFlag(h, entry, tid, false)
}

// robustLockFlag is robustLock for a PI mutex too: the kernel learns that
// an entry is PI from bit 0 of the pointers to it (list and pending).
// An uncontended PI lock is the same user-space cmpxchg.
func robustLockFlag(h, entry unsafe.Pointer, tid uint32, pi bool) bool {
	ptr := uintptr(entry)
	if pi {
		ptr |= 1
	}
	pending := slot(h, futex.HeadPendingOff)
	atomic.StoreUintptr(pending, ptr)
	if !atomic.CompareAndSwapUint32(word(entry, futexOffset), 0, tid) {
		atomic.StoreUintptr(pending, 0)
		return false
	}
	next := slot(h, futex.HeadListOff)
	atomic.StoreUintptr(slot(entry, 0), atomic.LoadUintptr(next))
	atomic.StoreUintptr(next, ptr)
	atomic.StoreUintptr(pending, 0)
	return true
}

// blockSignals blocks every signal on the calling OS thread (call it on a
// goroutine pinned with runtime.LockOSThread), so that no signal makes a
// futex wait return early or restart.
func blockSignals() error {
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	return unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil)
}
