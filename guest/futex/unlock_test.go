package futex

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The assembly unlock releases only a word holding exactly tid, and clears
// the pending pointer only then.
func TestRobustUnlockAsm(t *testing.T) {
	const tid = 0x1234
	for _, c := range []struct {
		name        string
		word        uint32
		wantRet     uint32
		wantWord    uint32
		wantCleared bool
	}{
		{"owner", tid, tid, 0, true},
		{"other owner", tid + 1, tid + 1, tid + 1, false},
		{"unlocked", 0, 0, 0, false},
		{"waiters", tid | FUTEX_WAITERS, tid | FUTEX_WAITERS, tid | FUTEX_WAITERS, false},
		{"owner died", tid | FUTEX_OWNER_DIED, tid | FUTEX_OWNER_DIED, tid | FUTEX_OWNER_DIED, false},
	} {
		w := c.word
		pending := uintptr(0xdead0)
		ret := RobustUnlockAsm(&w, tid, &pending)
		if ret != c.wantRet || w != c.wantWord || (pending == 0) != c.wantCleared {
			t.Errorf("%s: word %#x -> ret %#x word %#x pending %#x; want ret %#x word %#x cleared %v",
				c.name, c.word, ret, w, pending, c.wantRet, c.wantWord, c.wantCleared)
		}
	}
	// The neighbours of the word are untouched (a 32-bit cmpxchg).
	var pair [2]uint32
	pair[0], pair[1] = tid, 0xffffffff
	pending := uintptr(1)
	RobustUnlockAsm(&pair[0], tid, &pending)
	if pair != [2]uint32{0, 0xffffffff} || pending != 0 {
		t.Errorf("pair %#x pending %#x", pair, pending)
	}
}

// The decision logic of the vDSO path, with fakes for the vDSO function
// and the syscall.
func TestUnlockerDecision(t *testing.T) {
	const tid = 77
	for _, c := range []struct {
		name     string
		impl     string
		tryRet   uint32
		wakeErr  error
		wantPath string
		wantWake bool
		wantErr  string
	}{
		{"vdso released", UnlockVdso, tid, nil, PathUser, false, ""},
		{"vdso found waiters", UnlockVdso, tid | FUTEX_WAITERS, nil, PathSyscall, true, ""},
		{"vdso waiters, syscall fails", UnlockVdso, tid | FUTEX_WAITERS, errors.New("EINVAL"), "", true, "ROBUST_UNLOCK"},
		{"vdso not owner", UnlockVdso, tid + 1, nil, "", false, "want owner"},
		{"asm released", UnlockAsm, tid, nil, PathUser, false, ""},
		{"asm found waiters", UnlockAsm, tid | FUTEX_WAITERS, nil, "", false, "want owner"},
	} {
		woke := false
		u := &Unlocker{Impl: c.impl,
			try: func(lock *uint32, gotTid uint32, pending *uintptr) uint32 {
				if gotTid != tid {
					t.Errorf("%s: try got tid %d", c.name, gotTid)
				}
				return c.tryRet
			}}
		if c.impl == UnlockVdso {
			u.wake = func(lock *uint32, pending *uintptr) error { woke = true; return c.wakeErr }
		}
		var w uint32
		var p uintptr
		path, err := u.Unlock(&w, tid, &p)
		if path != c.wantPath || woke != c.wantWake || (err == nil) != (c.wantErr == "") ||
			(err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: path %q woke %v err %v; want %q %v %q", c.name, path, woke, err, c.wantPath, c.wantWake, c.wantErr)
		}
	}
	if u := NewUnlocker(0); u.Impl != UnlockAsm || u.wake != nil {
		t.Errorf("NewUnlocker(0) = %+v", u)
	}
	if u := NewUnlocker(0x1000); u.Impl != UnlockVdso || u.wake == nil {
		t.Errorf("NewUnlocker(vdso) = %+v", u)
	}
}

// The syscall fallback: a kernel without FUTEX_ROBUST_UNLOCK refuses the
// unknown op bit (ENOSYS or EINVAL) and leaves the pending pointer as it
// was, never half-done; a kernel with it clears the pointer.
func TestRobustUnlockSyscallOldKernel(t *testing.T) {
	w := uint32(0)
	const sentinel = uintptr(0x5a5a5a5a)
	p := sentinel
	err := robustUnlockSyscall(&w, &p)
	switch {
	case err == nil:
		if p != 0 {
			t.Errorf("FUTEX_WAKE|FUTEX_ROBUST_UNLOCK succeeded but left the pending pointer %#x, want 0", p)
		}
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL):
		if p != sentinel {
			t.Errorf("FUTEX_WAKE|FUTEX_ROBUST_UNLOCK refused (%v) but changed the pending pointer to %#x", err, p)
		}
	default:
		t.Errorf("FUTEX_WAKE|FUTEX_ROBUST_UNLOCK: %v, want success, ENOSYS or EINVAL", err)
	}
	if w != 0 {
		t.Errorf("the word became %#x", w)
	}
}
