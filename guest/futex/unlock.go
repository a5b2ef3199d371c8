package futex

import (
	"fmt"
	"unsafe"
)

// The robust unlock with the real two-instruction window (docs/design.md):
// the releasing cmpxchg TID->0 and the store clearing list_op_pending,
// written in assembly per architecture (unlock_amd64.s, unlock_arm64.s) so
// that nothing Go emits widens the window. On a kernel with the
// FUTEX_ROBUST_UNLOCK series the vDSO's try-unlock replaces it.

// RobustUnlockAsm releases the robust mutex word *lock if it holds exactly
// tid (cmpxchg tid->0) and, only then, clears *pending (list_op_pending).
// It returns the value it found: tid when it released the lock and cleared
// the pointer. The caller has set *pending to the mutex's list entry and
// unlinked it. amd64: LOCK CMPXCHGL; JNE; MOVQ $0. arm64: CASALW (LSE) or
// an LDAXRW/STLXRW loop, then MOVD ZR.
func RobustUnlockAsm(lock *uint32, tid uint32, pending *uintptr) uint32 {
	return robustUnlock(lock, tid, pending)
}

// CallTryUnlock calls the C function at fn(lock, tid, pending) (SysV on
// amd64, AAPCS64 on arm64) and returns its 32-bit result: the vDSO's
// __vdso_futex_robust_list64_try_unlock.
//
//go:noescape
func CallTryUnlock(fn uintptr, lock *uint32, tid uint32, pending *uintptr) uint32

// Unlock implementations, as reported in results.
const (
	UnlockAsm  = "asm"
	UnlockVdso = "vdso"
)

// Unlocker performs the robust unlock with the best implementation the
// kernel offers: the vDSO try-unlock (falling back to
// FUTEX_WAKE|FUTEX_ROBUST_UNLOCK when it does not release) or, on kernels
// without the fix, the assembly sequence.
type Unlocker struct {
	// Impl is UnlockAsm or UnlockVdso.
	Impl string
	// try is the user-space unlock (the vDSO function or the assembly);
	// wake is the syscall fallback. Fields so tests can fake them.
	try  func(lock *uint32, tid uint32, pending *uintptr) uint32
	wake func(lock *uint32, pending *uintptr) error
}

// NewUnlocker returns the vDSO unlocker if vdsoFn (the address of
// __vdso_futex_robust_list64_try_unlock in this process, 0 if absent) is
// set, else the assembly one.
func NewUnlocker(vdsoFn uintptr) *Unlocker {
	if vdsoFn == 0 {
		return &Unlocker{Impl: UnlockAsm, try: robustUnlock}
	}
	return &Unlocker{Impl: UnlockVdso,
		try: func(lock *uint32, tid uint32, pending *uintptr) uint32 {
			return CallTryUnlock(vdsoFn, lock, tid, pending)
		},
		wake: robustUnlockSyscall,
	}
}

// Unlock paths, as returned by Unlock.
const (
	PathUser    = "user"    // released in user space (assembly or vDSO)
	PathSyscall = "syscall" // FUTEX_WAKE|FUTEX_ROBUST_UNLOCK
)

// Unlock releases the robust mutex word *lock owned by tid whose entry is
// in *pending, and clears *pending. With the assembly a word that is not
// exactly tid is an error (the classic sequence would need FUTEX_WAKE
// without the fix's protection); with the vDSO such a word (TID|WAITERS)
// goes to the kernel with FUTEX_WAKE|FUTEX_ROBUST_UNLOCK, which releases it
// and clears *pending itself.
func (u *Unlocker) Unlock(lock *uint32, tid uint32, pending *uintptr) (string, error) {
	got := u.try(lock, tid, pending)
	if got == tid {
		return PathUser, nil
	}
	if u.wake == nil || got&FUTEX_TID_MASK != tid {
		return "", fmt.Errorf("robust unlock (%s): word %#x, want owner %d", u.Impl, got, tid)
	}
	if err := u.wake(lock, pending); err != nil {
		return "", fmt.Errorf("futex(FUTEX_WAKE|FUTEX_ROBUST_UNLOCK): %w", err)
	}
	return PathSyscall, nil
}

// robustUnlockSyscall is futex(lock, FUTEX_WAKE|FUTEX_ROBUST_UNLOCK, 1,
// NULL, pending, 0): the kernel releases the word, wakes one waiter and
// clears list_op_pending (uaddr2).
func robustUnlockSyscall(lock *uint32, pending *uintptr) error {
	_, err := Futex(lock, FUTEX_WAKE|FUTEX_ROBUST_UNLOCK, 1, nil, (*uint32)(unsafe.Pointer(pending)), 0)
	return err
}
