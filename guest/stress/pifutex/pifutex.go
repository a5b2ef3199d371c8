// Package pifutex holds what the PI futex tests (pi-consistency,
// pi-giveup, pi-handover) share: the broken invariant they report, the
// start that skips without CONFIG_FUTEX_PI, and the /proc checks that a
// thread sleeps in a futex operation.
package pifutex

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// Kinds names the invariants a Violation can break; index 0 is none
// (pi-consistency keeps the index in shared memory).
var Kinds = []string{"", "owner", "mutual-exclusion", "owner-died", "wait-bound", "waiters", "unlock", "errno", "counter"}

// Violation is one broken invariant.
type Violation struct {
	Kind             string // a Kinds entry
	Lock             int
	Word             uint32
	TID, Other       uint32
	Expected, Actual int64
	Detail           string
}

// ErrString is err's text, or "0" for no error (what the syscall returned).
func ErrString(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// MonoNow is CLOCK_MONOTONIC in nanoseconds.
func MonoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// probe tries FUTEX_LOCK_PI on a private word: ENOSYS without
// CONFIG_FUTEX_PI.
func probe() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var w uint32
		if err := futex.LockPI(&w, time.Now().Add(time.Second)); err != nil {
			errc <- err
			return
		}
		if w&futex.FUTEX_TID_MASK != uint32(unix.Gettid()) {
			errc <- fmt.Errorf("probe: word %#08x after FUTEX_LOCK_PI, want TID %d", w, unix.Gettid())
			return
		}
		errc <- futex.UnlockPI(&w)
	}()
	return <-errc
}

// Start probes FUTEX_LOCK_PI for a natural PI test and returns how long
// the test runs, or the outcome to return at once (a skip without
// CONFIG_FUTEX_PI).
func Start(env stress.Env) (time.Duration, *stress.Outcome) {
	if err := probe(); err != nil {
		o := stress.Error("FUTEX_LOCK_PI probe: "+err.Error(), nil)
		if errors.Is(err, unix.ENOSYS) {
			o = stress.Skip("FUTEX_LOCK_PI: ENOSYS (no CONFIG_FUTEX_PI)", nil)
		}
		return 0, &o
	}
	if env.Duration <= 0 {
		return 10 * time.Second, nil
	}
	return env.Duration, nil
}

// SyscallOn reports whether thread tid of this process is blocked in
// futex(2) operation op on addr.
func SyscallOn(tid int, addr uintptr, op int) bool {
	return futexBlocked(os.Getpid(), tid, op, func(a uintptr) bool { return a == addr })
}

// TaskBlockedOn reports whether thread tid of process pid is blocked in
// futex(2) operation op on a word at offset off of a page (the process maps
// the shared page at an address of its own).
func TaskBlockedOn(pid, tid int, off uintptr, op int) bool {
	return futexBlocked(pid, tid, op, func(a uintptr) bool { return a%robust.PageSize == off })
}

// futexBlocked reads /proc/PID/task/TID/syscall, which names the call and
// its arguments, and stat, which says whether the thread sleeps (S) rather
// than being on its way in or out: blocked in futex(2) operation op on an
// address that at accepts.
func futexBlocked(pid, tid, op int, at func(uintptr) bool) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 || f[0] != strconv.Itoa(unix.SYS_FUTEX) {
		return false
	}
	a, err1 := strconv.ParseUint(f[1], 0, 64)
	o, err2 := strconv.ParseUint(f[2], 0, 64)
	if err1 != nil || err2 != nil || !at(uintptr(a)) || int(o)&0x7f != op {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return false
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'S'
}
