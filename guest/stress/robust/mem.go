// Package robust holds what the guest's tests share for robust futexes:
// pages to map and share with child helpers, the robust_list_head and the
// classic user-space lock sequence, a watched word, the vDSO's robust
// unlock, and blocking signals on a thread.
package robust

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/futex"
)

// PageSize is the size of every page the tests map and share.
var PageSize = uintptr(os.Getpagesize())

// MmapAnon maps one private anonymous page.
func MmapAnon() (unsafe.Pointer, error) {
	return unix.MmapPtr(-1, 0, nil, PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

// MmapShared maps one page of fd shared.
func MmapShared(fd int) (unsafe.Pointer, error) {
	return unix.MmapPtr(fd, 0, nil, PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// Word is the 32-bit word at offset off of p.
func Word(p unsafe.Pointer, off uintptr) *uint32 { return (*uint32)(unsafe.Add(p, off)) }

// Slot is the pointer-sized word at offset off of p.
func Slot(p unsafe.Pointer, off uintptr) *uintptr {
	return (*uintptr)(unsafe.Add(p, off))
}

// NewMemfd returns a one-page memfd for sharing with children.
func NewMemfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.Ftruncate(fd, int64(PageSize)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// WatchedWord is one word of a shared page before and after a task died.
type WatchedWord struct {
	Name          string
	Off           uintptr
	Before, After uint32
}

// A robust mutex laid out as glibc does: the list entry (one pointer) and,
// FutexOffset bytes after it, the 32-bit word.
const FutexOffset = 8

// InitHead lays out an empty robust_list_head at h.
func InitHead(h unsafe.Pointer) {
	atomic.StoreUintptr(Slot(h, futex.HeadListOff), uintptr(h))
	*(*int64)(unsafe.Add(h, futex.HeadOffsetOff)) = FutexOffset
	atomic.StoreUintptr(Slot(h, futex.HeadPendingOff), 0)
}

// Lock takes the robust mutex whose list entry is at entry, the
// classic user-space sequence: pending = entry; cmpxchg(word, 0, tid); link;
// pending = 0.
func Lock(h, entry unsafe.Pointer, tid uint32) bool {
	return LockFlag(h, entry, tid, false)
}

// LockFlag is Lock for a PI mutex too: the kernel learns that
// an entry is PI from bit 0 of the pointers to it (list and pending).
// An uncontended PI lock is the same user-space cmpxchg.
func LockFlag(h, entry unsafe.Pointer, tid uint32, pi bool) bool {
	ptr := uintptr(entry)
	if pi {
		ptr |= 1
	}
	pending := Slot(h, futex.HeadPendingOff)
	atomic.StoreUintptr(pending, ptr)
	if !atomic.CompareAndSwapUint32(Word(entry, FutexOffset), 0, tid) {
		atomic.StoreUintptr(pending, 0)
		return false
	}
	next := Slot(h, futex.HeadListOff)
	atomic.StoreUintptr(Slot(entry, 0), atomic.LoadUintptr(next))
	atomic.StoreUintptr(next, ptr)
	atomic.StoreUintptr(pending, 0)
	return true
}

// BlockSignals blocks every signal on the calling OS thread (call it on a
// goroutine pinned with runtime.LockOSThread), so that no signal makes a
// futex wait return early or restart.
func BlockSignals() error {
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	return unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil)
}
