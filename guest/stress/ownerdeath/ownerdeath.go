// Package ownerdeath is the guest test robust-owner-death: a child that
// holds robust futexes is SIGKILLed, and the kernel must mark exactly the
// words it owned OWNER_DIED and wake their waiters.
package ownerdeath

import (
	"context"
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

// robust-owner-death: a child process holds robust futexes in shared
// memory and is SIGKILLed; the kernel must mark exactly the words it owned
// OWNER_DIED (keeping WAITERS), wake their waiters, and touch nothing else.

// Test is robust-owner-death.
var Test = stress.New("robust-owner-death", run, stress.Helpers{"robust-hold": holdChild})

// Layout of the shared page.
const (
	lockStride   = 64    // lock i: list entry at i*64, word at i*64+8
	nobodyWord   = 0x200 // a word owned by nobody (0)
	liveWord     = 0x204 // a word owned by a live TID (the parent's)
	patternWord  = 0x208 // arbitrary data
	unlinkedWord = 0x20c // the child's TID, but never linked in its list
	wakeBound    = 2 * time.Second
	waitTimeout  = 5 * time.Second
)

func lockWord(i int) uintptr { return uintptr(i)*lockStride + robust.FutexOffset }

type variant struct {
	name   string
	locks  int
	waiter int  // index of the lock a waiter sleeps on, -1 for none
	pi     bool // PI futexes: the waiter sleeps in FUTEX_LOCK_PI
}

var variants = []variant{
	{"one-lock", 1, -1, false},
	{"two-locks", 2, -1, false},
	{"one-lock-waiter", 1, 0, false},
	{"two-locks-waiter", 2, 1, false},
	{"pi-two-locks", 2, -1, true},
	{"pi-lock-waiter", 1, 0, true},
}

// observation is what one variant saw; check judges it.
type observation struct {
	Variant    string
	ChildTID   uint32
	Owned      []robust.WatchedWord // words the dead child owned (in its robust list)
	Others     []robust.WatchedWord // words it did not own
	Waiter     bool                 // a waiter slept on Owned[WaiterOn]
	WaiterOn   int
	PI         bool          // PI futexes: the waiter inherits the lock
	WaiterTID  uint32        //
	Woken      bool          // FUTEX_WAIT returned 0 (or EAGAIN); FUTEX_LOCK_PI returned 0
	WaiterErr  string        // its error otherwise
	WakeAfter  time.Duration // kill to wake
	WakeBound  time.Duration
	waiterTID  int
	sleptFirst bool // the waiter was seen asleep before the kill
}

// check is the verdict on one variant: ok, or a one-line reason.
func check(o observation) (bool, string) {
	for i, w := range o.Owned {
		want := w.Before&futex.FUTEX_WAITERS | futex.FUTEX_OWNER_DIED
		if o.PI && o.Waiter && i == o.WaiterOn {
			// The waiter inherited the lock: its TID, OWNER_DIED, and
			// WAITERS as the kernel likes.
			if !o.Woken {
				continue // reported below
			}
			if w.After&futex.FUTEX_TID_MASK != o.WaiterTID || w.After&futex.FUTEX_OWNER_DIED == 0 {
				return false, fmt.Sprintf("%s: PI word %s went %#08x -> %#08x after handover, want TID %d with OWNER_DIED",
					o.Variant, w.Name, w.Before, w.After, o.WaiterTID)
			}
			continue
		}
		if w.After != want {
			return false, fmt.Sprintf("%s: owned word %s went %#08x -> %#08x, want %#08x (OWNER_DIED, TID cleared, WAITERS kept)",
				o.Variant, w.Name, w.Before, w.After, want)
		}
	}
	for _, w := range o.Others {
		if w.After != w.Before {
			return false, fmt.Sprintf("%s: word %s not owned by the dead task changed %#08x -> %#08x", o.Variant, w.Name, w.Before, w.After)
		}
	}
	if o.Waiter {
		if !o.Woken {
			return false, fmt.Sprintf("%s: waiter on %s not woken within %v (%s)", o.Variant, o.Owned[o.WaiterOn].Name, o.WakeBound, o.WaiterErr)
		}
		if o.WakeAfter > o.WakeBound {
			return false, fmt.Sprintf("%s: waiter woken after %v, bound %v", o.Variant, o.WakeAfter, o.WakeBound)
		}
	}
	return true, ""
}

func (o observation) evidence() map[string]string {
	ev := map[string]string{"variant": o.Variant, "child_tid": strconv.Itoa(int(o.ChildTID))}
	for _, w := range append(append([]robust.WatchedWord{}, o.Owned...), o.Others...) {
		ev[w.Name+"_before"] = fmt.Sprintf("%#08x", w.Before)
		ev[w.Name+"_after"] = fmt.Sprintf("%#08x", w.After)
	}
	if o.Waiter {
		ev["waiter_woken"] = strconv.FormatBool(o.Woken)
		ev["waiter_seen_asleep"] = strconv.FormatBool(o.sleptFirst)
		ev["wake_after"] = o.WakeAfter.String()
		if o.WaiterErr != "" {
			ev["waiter_err"] = o.WaiterErr
		}
	}
	return ev
}

func run(ctx context.Context, env stress.Env) stress.Outcome {
	var worst time.Duration
	asleep, waiters := 0, 0
	for i, v := range variants {
		if ctx.Err() != nil {
			return stress.Error("deadline before variant "+v.name, nil)
		}
		o, err := runVariant(ctx, v)
		if err != nil {
			return stress.Error(v.name+": "+stress.OneLine(err.Error()), map[string]string{"variant": v.name})
		}
		if ok, why := check(o); !ok {
			return stress.Fail(why, o.evidence())
		}
		if o.Waiter {
			waiters++
			if o.sleptFirst {
				asleep++
			}
		}
		if o.WakeAfter > worst {
			worst = o.WakeAfter
		}
		env.ReportProgress(map[string]int64{"variants": int64(i + 1)})
	}
	return stress.Pass(fmt.Sprintf("%d variants: owned words marked OWNER_DIED, waiters woken, other words untouched", len(variants)),
		map[string]string{"variants": strconv.Itoa(len(variants)), "worst_wake": worst.String(),
			"waiters_seen_asleep": fmt.Sprintf("%d/%d", asleep, waiters)})
}

func runVariant(ctx context.Context, v variant) (o observation, err error) {
	o = observation{Variant: v.name, WakeBound: wakeBound, WaiterOn: v.waiter, Waiter: v.waiter >= 0}
	shm, err := robust.NewMemfd("rig-robust-hold")
	if err != nil {
		return o, fmt.Errorf("memfd: %w", err)
	}
	defer shm.Close()
	mem, err := robust.MmapShared(int(shm.Fd()))
	if err != nil {
		return o, fmt.Errorf("mmap: %w", err)
	}
	defer unix.MunmapPtr(mem, robust.PageSize)
	atomic.StoreUint32(robust.Word(mem, liveWord), uint32(os.Getpid()))
	atomic.StoreUint32(robust.Word(mem, patternWord), 0x5a5aa5a5)

	args := []string{strconv.Itoa(v.locks)}
	if v.pi {
		args = append(args, "pi")
	}
	c, err := child.Start("robust-hold", shm, args...)
	if err != nil {
		return o, err
	}
	defer c.Kill()
	line, err := c.ReadLine(ctx, 10*time.Second)
	if err != nil {
		return o, err
	}
	kind, kv := child.Fields(line)
	if kind != "ready" {
		return o, fmt.Errorf("child: %s", line)
	}
	tid, _ := strconv.ParseUint(kv["tid"], 10, 32)
	o.ChildTID = uint32(tid)

	type wakeRes struct {
		err  error
		at   time.Time
		word uint32 // PI: the word as the new owner saw it
	}
	wake := make(chan wakeRes, 1)
	if o.Waiter {
		w := robust.Word(mem, lockWord(v.waiter))
		tidc := make(chan int, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tidc <- unix.Gettid()
			if v.pi {
				// FUTEX_LOCK_PI sets WAITERS itself; its timeout is absolute
				// (CLOCK_REALTIME).
				ts := unix.NsecToTimespec(time.Now().Add(waitTimeout).UnixNano())
				_, err := futex.Futex(w, futex.FUTEX_LOCK_PI, 0, &ts, nil, 0)
				r := wakeRes{err: err, at: time.Now(), word: atomic.LoadUint32(w)}
				if err == nil {
					futex.Futex(w, futex.FUTEX_UNLOCK_PI, 0, nil, nil, 0)
				}
				wake <- r
				return
			}
			for {
				old := atomic.LoadUint32(w)
				if atomic.CompareAndSwapUint32(w, old, old|futex.FUTEX_WAITERS) {
					ts := unix.NsecToTimespec(int64(waitTimeout))
					_, err := futex.Futex(w, futex.FUTEX_WAIT, old|futex.FUTEX_WAITERS, &ts, nil, 0)
					wake <- wakeRes{err: err, at: time.Now()}
					return
				}
			}
		}()
		o.waiterTID = <-tidc
		o.WaiterTID = uint32(o.waiterTID)
		o.sleptFirst = waitAsleep(o.waiterTID, time.Second)
	}
	o.PI = v.pi

	for i := 0; i < v.locks; i++ {
		o.Owned = append(o.Owned, robust.WatchedWord{Name: fmt.Sprintf("lock%d", i), Off: lockWord(i)})
	}
	o.Others = []robust.WatchedWord{{Name: "nobody", Off: nobodyWord}, {Name: "live_tid", Off: liveWord},
		{Name: "pattern", Off: patternWord}, {Name: "unlinked_child_tid", Off: unlinkedWord}}
	for i := range o.Owned {
		o.Owned[i].Before = atomic.LoadUint32(robust.Word(mem, o.Owned[i].Off))
	}
	for i := range o.Others {
		o.Others[i].Before = atomic.LoadUint32(robust.Word(mem, o.Others[i].Off))
	}
	for _, w := range o.Owned {
		if w.Before&futex.FUTEX_TID_MASK != o.ChildTID {
			return o, fmt.Errorf("child reported ready but %s holds %#x, not its TID %d", w.Name, w.Before, o.ChildTID)
		}
	}
	killed := time.Now()
	c.Kill()
	var piWord uint32
	if o.Waiter {
		select {
		case r := <-wake:
			o.WakeAfter = r.at.Sub(killed)
			piWord = r.word
			switch r.err {
			case nil, unix.EAGAIN:
				o.Woken = true
			default:
				o.WaiterErr = r.err.Error()
			}
		case <-time.After(wakeBound):
			o.WaiterErr = "still asleep"
			o.WakeAfter = wakeBound
			if !v.pi {
				// Unblock it so the goroutine ends (a PI waiter times out).
				futex.Futex(robust.Word(mem, lockWord(v.waiter)), futex.FUTEX_WAKE, 1, nil, nil, 0)
				<-wake
			}
		}
		if !o.sleptFirst && o.Woken {
			o.WaiterErr = "waiter not seen asleep before the kill"
		}
	}
	for i := range o.Owned {
		o.Owned[i].After = atomic.LoadUint32(robust.Word(mem, o.Owned[i].Off))
		if o.PI && o.Waiter && i == o.WaiterOn && o.Woken {
			o.Owned[i].After = piWord // before the new owner unlocked
		}
	}
	for i := range o.Others {
		o.Others[i].After = atomic.LoadUint32(robust.Word(mem, o.Others[i].Off))
	}
	return o, nil
}

// waitAsleep waits until thread tid of this process sits in futex(2).
func waitAsleep(tid int, limit time.Duration) bool {
	path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	want := strconv.Itoa(unix.SYS_FUTEX) + " "
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			return false
		}
		if strings.HasPrefix(string(b), want) {
			time.Sleep(5 * time.Millisecond) // from syscall entry to asleep
			return true
		}
	}
	return false
}

// holdChild (child helper "robust-hold N [pi]"): lock N robust futexes
// (PI ones: list pointers tagged with bit 0) in the shared page on one thread with a registered robust list, report
// "ready tid=T", and block until killed.
func holdChild(args []string) error {
	if len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "pi" {
		return fmt.Errorf("robust-hold: want N [pi]")
	}
	pi := len(args) == 2
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 8 {
		return fmt.Errorf("robust-hold: bad lock count %q", args[0])
	}
	shm, err := robust.MmapShared(3)
	if err != nil {
		return fmt.Errorf("mmap shared: %w", err)
	}
	h, err := robust.MmapAnon()
	if err != nil {
		return err
	}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies holding the locks
		robust.InitHead(h)
		if err := futex.SetRobustList(h, futex.RobustListHeadSize); err != nil {
			errc <- fmt.Errorf("set_robust_list: %w", err)
			return
		}
		tid := uint32(unix.Gettid())
		for i := 0; i < n; i++ {
			if !robust.LockFlag(h, unsafe.Add(shm, uintptr(i)*lockStride), tid, pi) {
				errc <- fmt.Errorf("lock %d was not free", i)
				return
			}
		}
		atomic.StoreUint32(robust.Word(shm, unlinkedWord), tid)
		child.Status(fmt.Sprintf("ready tid=%d", tid))
		for {
			time.Sleep(time.Hour)
		}
	}()
	return <-errc
}
