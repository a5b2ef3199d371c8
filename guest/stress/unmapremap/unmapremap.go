// Package unmapremap is the guest test robust-unmap-remap: the robust
// unlock race (a mutex page unmapped and a file mapped in its place before
// the dying unlocker's list_op_pending is cleared), held open by
// userfaultfd, then hit naturally in a loop for the run's duration.
package unmapremap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/child"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// robust-unmap-remap (deterministic): the unlock race (docs/design.md) with
// the window held open by userfaultfd. T1 unlocks a robust mutex with the
// classic sequence; its store clearing list_op_pending faults on a
// write-protected page and parks it after the successful cmpxchg. T2 takes
// and releases the mutex, unmaps its page and maps a file there whose word
// at that offset is T1's TID. The process is SIGKILLed; a kernel without the
// fix ORs OWNER_DIED into the file. The control variant parks T1 only after
// the unlock is complete, and must never show a change.

// Test is robust-unmap-remap, deterministic and natural.
var Test = stress.New("robust-unmap-remap", run, stress.Helpers{"robust-race": raceChild, "robust-natural": naturalChild})

const (
	trialCount  = 5
	entryOff    = 0x100 // the mutex's list entry in its page; word at +8
	otherOff    = 0x800 // a word of the file holding T1's TID, not the mutex
	windowMode  = "window"
	controlMode = "control"
)

// trial is what one trial observed.
type trial struct {
	Mode                 string
	Addr                 uint64 // virtual address of the mutex word
	FileOff              int64
	TID                  uint32 // T1
	Before, After        uint32 // the file word at FileOff
	OtherBefore, OtherAt uint32 // the file word at otherOff
	UffdMode             string
	Unlock               string // "vdso" or "classic": how T1 unlocked
	Took                 time.Duration
}

func (t trial) changed() bool      { return t.After != t.Before }
func (t trial) otherChanged() bool { return t.OtherAt != t.OtherBefore }

func (t trial) evidence() map[string]string {
	return map[string]string{
		"mode": t.Mode, "addr": fmt.Sprintf("%#x", t.Addr), "file_offset": strconv.FormatInt(t.FileOff, 10),
		"tid": strconv.Itoa(int(t.TID)), "before": fmt.Sprintf("%#08x", t.Before), "after": fmt.Sprintf("%#08x", t.After),
		"other_before": fmt.Sprintf("%#08x", t.OtherBefore), "other_after": fmt.Sprintf("%#08x", t.OtherAt),
	}
}

// judge turns trials into a verdict. A changed control is the
// detector's fault (error); a changed window word is the kernel corrupting
// unrelated memory (fail).
func judge(trials []trial) stress.Outcome {
	var windows, controls, corrupted int
	var first *trial
	for i := range trials {
		t := &trials[i]
		if t.Mode == controlMode {
			controls++
			if t.changed() || t.otherChanged() {
				ev := t.evidence()
				return stress.Error(fmt.Sprintf("detector is wrong: control trial %d changed the file (%#08x -> %#08x)", i, t.Before, t.After), ev)
			}
			continue
		}
		windows++
		if t.otherChanged() {
			return stress.Fail(fmt.Sprintf("a file word the mutex never used changed %#08x -> %#08x", t.OtherBefore, t.OtherAt), t.evidence())
		}
		if t.changed() {
			corrupted++
			if first == nil {
				first = t
			}
		}
	}
	counts := map[string]string{"det_trials": strconv.Itoa(windows), "det_controls": strconv.Itoa(controls),
		"det_corrupted": strconv.Itoa(corrupted)}
	if first != nil {
		ev := first.evidence()
		for k, v := range counts {
			ev[k] = v
		}
		what := "OWNER_DIED set"
		if first.After&futex.FUTEX_OWNER_DIED == 0 {
			what = "changed"
		}
		return stress.Fail(fmt.Sprintf("kernel corrupted remapped memory: file word at offset %d %s (%#08x -> %#08x) in %d/%d trials; controls clean",
			first.FileOff, what, first.Before, first.After, corrupted, windows), ev)
	}
	if windows == 0 {
		return stress.Error("no trials ran", counts)
	}
	return stress.Pass(fmt.Sprintf("%d window trials and %d controls left the remapped file untouched", windows, controls), counts)
}

// run runs the deterministic mode, then the natural mode
// (unmapnatural.go), and reports one verdict with both modes' evidence.
func run(ctx context.Context, env stress.Env) stress.Outcome {
	det := runDeterministic(ctx, env)
	if det.Evidence == nil {
		det.Evidence = map[string]string{}
	}
	det.Evidence["seed"] = strconv.FormatInt(env.Seed, 10)
	var detPart string
	switch det.Status {
	case event.Error:
		return stress.Error("deterministic: "+det.Reason, det.Evidence)
	case event.Skip:
		detPart = "deterministic: skipped (" + det.Reason + ")"
	default:
		detPart = fmt.Sprintf("deterministic: %s/%s trials corrupted", det.Evidence["det_corrupted"], det.Evidence["det_trials"])
	}
	return judgeBoth(det, detPart, runNatural(ctx, env))
}

// runDeterministic is the userfaultfd mode: trialCount window trials, each
// with a control.
func runDeterministic(ctx context.Context, env stress.Env) stress.Outcome {
	vdso := "no"
	if names, err := robust.VDSOSymbols(); err != nil {
		vdso = "unknown: " + stress.OneLine(err.Error())
	} else if s := robust.VDSORobustUnlock(names); s != "" {
		vdso = "yes (" + s + ")"
	}
	var trials []trial
	var total time.Duration
	for i := 0; i < trialCount; i++ {
		for _, mode := range []string{windowMode, controlMode} {
			if ctx.Err() != nil {
				return stress.Error(fmt.Sprintf("deadline after %d trials", len(trials)), nil)
			}
			t, skipWhy, err := runTrial(ctx, mode)
			if skipWhy != "" {
				return stress.Skip(skipWhy, map[string]string{"vdso_robust_unlock": vdso})
			}
			if err != nil {
				return stress.Error(mode+" trial: "+stress.OneLine(err.Error()), map[string]string{"vdso_robust_unlock": vdso})
			}
			trials = append(trials, t)
			total += t.Took
		}
		c := map[string]int64{"det_trials": int64(i + 1)}
		for _, t := range trials {
			if t.Mode == windowMode && t.changed() {
				c["det_corrupted"]++
			}
			if t.Mode == controlMode && t.changed() {
				c["det_control_changed"]++
			}
		}
		env.ReportProgress(c)
	}
	o := judge(trials)
	if o.Evidence == nil {
		o.Evidence = map[string]string{}
	}
	o.Evidence["vdso_robust_unlock"] = vdso
	o.Evidence["uffd"] = trials[0].UffdMode
	o.Evidence["det_per_trial"] = (total / time.Duration(len(trials))).Round(time.Microsecond).String()
	switch trials[0].Unlock {
	case "vdso":
		o.Evidence["det_unlock"] = "vdso (__vdso_futex_robust_list64_try_unlock, window inside the vDSO)"
	default:
		o.Evidence["det_unlock"] = "classic (user-space cmpxchg + store)"
	}
	return o
}

func runTrial(ctx context.Context, mode string) (t trial, skipWhy string, err error) {
	start := time.Now()
	t.Mode = mode
	shm, err := robust.NewMemfd("rig-robust-remap")
	if err != nil {
		return t, "", fmt.Errorf("memfd: %w", err)
	}
	defer shm.Close()
	c, err := child.Start("robust-race", shm, mode)
	if err != nil {
		return t, "", err
	}
	defer c.Kill()
	line, err := c.ReadLine(ctx, 10*time.Second)
	if err != nil {
		return t, "", err
	}
	kind, kv := child.Fields(line)
	switch kind {
	case "skip":
		return t, kv["msg"], nil
	case "ready":
	default:
		return t, "", fmt.Errorf("child: %s", line)
	}
	tid, _ := strconv.ParseUint(kv["tid"], 10, 32)
	t.TID = uint32(tid)
	t.Addr, _ = strconv.ParseUint(kv["addr"], 0, 64)
	t.FileOff, _ = strconv.ParseInt(kv["off"], 0, 64)
	t.UffdMode = kv["uffd"]
	t.Unlock = kv["unlock"]
	fd := int(shm.Fd())
	if t.Before, err = preadWord(fd, t.FileOff); err != nil {
		return t, "", err
	}
	if t.OtherBefore, err = preadWord(fd, otherOff); err != nil {
		return t, "", err
	}
	if t.Before != t.TID || t.OtherBefore != t.TID {
		return t, "", fmt.Errorf("file words %#x, %#x before the kill, want T1's TID %d", t.Before, t.OtherBefore, t.TID)
	}
	c.Kill()
	if t.After, err = preadWord(fd, t.FileOff); err != nil {
		return t, "", err
	}
	if t.OtherAt, err = preadWord(fd, otherOff); err != nil {
		return t, "", err
	}
	t.Took = time.Since(start)
	return t, "", nil
}

func preadWord(fd int, off int64) (uint32, error) {
	var b [4]byte
	if _, err := unix.Pread(fd, b[:], off); err != nil {
		return 0, fmt.Errorf("pread: %w", err)
	}
	return *(*uint32)(unsafe.Pointer(&b[0])), nil
}

// raceChild (child helper "robust-race window|control"): see the top of
// this file. Reports "ready tid= addr= off= uffd=" once T2 has remapped, or
// "skip REASON" when userfaultfd write-protect is unavailable.
func raceChild(args []string) error {
	if len(args) != 1 || (args[0] != windowMode && args[0] != controlMode) {
		return fmt.Errorf("robust-race: want window or control")
	}
	mode := args[0]
	h, err := robust.MmapAnon()
	if err != nil {
		return err
	}
	m, err := robust.MmapAnon()
	if err != nil {
		return err
	}
	robust.InitHead(h)                       // populates the head page
	atomic.StoreUint32(robust.Word(m, 0), 0) // and the mutex page

	userOnly := os.Geteuid() != 0
	u, err := futex.OpenUffdWP(userOnly)
	if err == unix.EPERM && !userOnly {
		userOnly = true
		u, err = futex.OpenUffdWP(true)
	}
	if err == nil {
		err = u.RegisterWP(h, robust.PageSize)
	}
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOSYS):
			child.Status("skip userfaultfd not available (ENOSYS: kernel without CONFIG_USERFAULTFD)")
			return nil
		case errors.Is(err, unix.EPERM):
			child.Status("skip userfaultfd not permitted (EPERM; vm.unprivileged_userfaultfd=0 and no UFFD_USER_MODE_ONLY)")
			return nil
		case errors.Is(err, futex.ErrNoWP), errors.Is(err, unix.EINVAL):
			child.Status("skip userfaultfd write-protect mode not supported: " + err.Error())
			return nil
		}
		return fmt.Errorf("userfaultfd: %w", err)
	}
	uffdMode := "wp"
	if userOnly {
		uffdMode = "wp,user-mode-only"
	}

	entry := unsafe.Add(m, entryOff)
	mw := robust.Word(entry, robust.FutexOffset)
	// On a kernel whose vDSO has the robust try-unlock, T1 unlocks through
	// it, so the window held open is the vDSO's own and the kernel's fixup
	// is what gets tested; otherwise the classic cmpxchg and store.
	vdsoFn := robust.VDSOTryUnlockAddr()
	unlock := func(tid uint32, pending *uintptr) bool {
		if vdsoFn != 0 {
			return futex.CallTryUnlock(vdsoFn, mw, tid, pending) == tid
		}
		if !atomic.CompareAndSwapUint32(mw, tid, 0) {
			return false
		}
		atomic.StoreUintptr(pending, 0)
		return true
	}
	unlockHow := "classic"
	if vdsoFn != 0 {
		unlockHow = "vdso"
	}
	tidc := make(chan uint32, 1)
	goUnlock := make(chan struct{})
	unlocked := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // T1; never unlocked
		// Block every signal (SIGKILL cannot be): a signal would wake T1
		// from its parked fault, and the Go runtime's preemption signal
		// comes often. Woken after the protection is lifted, T1 would
		// finish its store and the trial would miss the race; woken
		// before, a fixed kernel's fixup would block on the protected
		// page and the trial would blame it.
		if err := robust.BlockSignals(); err != nil {
			unlocked <- fmt.Errorf("sigprocmask: %w", err)
			return
		}
		if err := futex.SetRobustList(h, futex.RobustListHeadSize); err != nil {
			unlocked <- fmt.Errorf("set_robust_list: %w", err)
			return
		}
		tid := uint32(unix.Gettid())
		if !robust.Lock(h, entry, tid) {
			unlocked <- errors.New("T1 could not lock")
			return
		}
		tidc <- tid
		<-goUnlock
		pending := robust.Slot(h, futex.HeadPendingOff)
		atomic.StoreUintptr(pending, uintptr(entry))                                                      // list_op_pending = &mutex
		atomic.StoreUintptr(robust.Slot(h, futex.HeadListOff), atomic.LoadUintptr(robust.Slot(entry, 0))) // unlink
		if mode == controlMode {
			if !unlock(tid, pending) { // the whole unlock, pending cleared
				unlocked <- fmt.Errorf("T1 unlock (%s) failed: word %#x", unlockHow, atomic.LoadUint32(mw))
				return
			}
			if err := u.WriteProtect(h, robust.PageSize, true); err != nil {
				unlocked <- fmt.Errorf("UFFDIO_WRITEPROTECT: %w", err)
				return
			}
			unlocked <- nil
			atomic.StoreUintptr(pending, 0) // faults: T1 parks outside the window
		} else {
			if err := u.WriteProtect(h, robust.PageSize, true); err != nil {
				unlocked <- fmt.Errorf("UFFDIO_WRITEPROTECT: %w", err)
				return
			}
			unlocked <- nil
			// The release succeeds; the store clearing pending faults:
			// T1 parks inside the window (the vDSO's, or the classic one).
			unlock(tid, pending)
		}
		for {
			time.Sleep(time.Hour) // only if the fault were resolved
		}
	}()
	var tid1 uint32
	select {
	case tid1 = <-tidc:
	case err := <-unlocked:
		return err
	}
	close(goUnlock)
	if err := <-unlocked; err != nil {
		return err
	}
	msg, err := u.ReadMsg(5 * time.Second)
	if err != nil {
		return fmt.Errorf("T1 did not fault on the write-protected head: %w", err)
	}
	if msg.Event != futex.UFFD_EVENT_PAGEFAULT || msg.Flags&futex.UFFD_PAGEFAULT_FLAG_WP == 0 ||
		msg.Address < uint64(uintptr(h)) || msg.Address >= uint64(uintptr(h)+robust.PageSize) {
		return fmt.Errorf("unexpected uffd message: event %#x flags %#x address %#x", msg.Event, msg.Flags, msg.Address)
	}

	// T2: take the lock, release it, replace the mutex page by the file.
	runtime.LockOSThread()
	tid2 := uint32(unix.Gettid())
	if !atomic.CompareAndSwapUint32(mw, 0, tid2) {
		return fmt.Errorf("T2 could not take the lock: word %#x", atomic.LoadUint32(mw))
	}
	if !atomic.CompareAndSwapUint32(mw, tid2, 0) {
		return fmt.Errorf("T2 could not release the lock: word %#x", atomic.LoadUint32(mw))
	}
	// MAP_FIXED replaces the mutex page in one step (the kernel unmaps it
	// as part of the call): a separate munmap would leave a hole that
	// another thread of this process (the Go runtime) may map into first.
	p, err := unix.MmapPtr(3, 0, m, robust.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("mmap file over the mutex page: %w", err)
	}
	if p != m {
		return fmt.Errorf("file mapped at %p, not at the mutex page %p", p, m)
	}
	atomic.StoreUint32(robust.Word(m, entryOff+robust.FutexOffset), tid1)
	atomic.StoreUint32(robust.Word(m, otherOff), tid1)
	// T1 stays parked, but the head page is writable again: a kernel that
	// clears the pending op before delivering the kill (the vDSO fixup)
	// must be able to, and the classic sequence gains nothing from it.
	if err := u.Unprotect(h, robust.PageSize); err != nil {
		return fmt.Errorf("UFFDIO_WRITEPROTECT (lift, dontwake): %w", err)
	}
	child.Status(fmt.Sprintf("ready tid=%d addr=%#x off=%d uffd=%s unlock=%s", tid1, uintptr(m)+entryOff+robust.FutexOffset, entryOff+robust.FutexOffset, uffdMode, unlockHow))
	for {
		time.Sleep(time.Hour)
	}
}
