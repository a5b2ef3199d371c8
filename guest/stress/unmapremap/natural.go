package unmapremap

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/child"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// robust-unmap-remap, natural mode: the unlock race (docs/design.md) with
// nothing holding the window open. A child's thread T1 locks a robust mutex
// and unlocks it with the real sequence (list_op_pending = &mutex, then the
// assembly cmpxchg TID->0 and the store clearing list_op_pending, or the
// vDSO try-unlock on a kernel with the fix), round after round, as fast as
// it can. T2, on the same CPU as T1 (as on a uniprocessor: T2 runs when T1
// is preempted, wherever that lands), polls for the lock. When it gets it
// and T1 is between its cmpxchg and its clearing store (list_op_pending
// still names the mutex although the lock was released), T2 releases it,
// munmaps the mutex page and maps a page of a shared file there
// (MAP_SHARED|MAP_FIXED) whose word at the mutex's offset is T1's TID, and
// keeps it there until T1 clears list_op_pending; then it maps fresh
// anonymous memory back. A gate keeps T1 from starting a lock while T2 may
// be remapping, so the file is mapped with list_op_pending == &mutex only
// while T1 is in the real window. The parent SIGKILLs the child as soon as
// a shared counter shows that T2 has caught T1 in its window and mapped the
// file (or, when no window opens, after a random 0-20 ms from the seed plus
// a bounded wait) and reads the file: a kernel without the fix may OR
// OWNER_DIED into it.
//
// Every controlEvery-th kill is a control: the same child and loop, but
// the file word is controlPattern, never a TID, so the kernel must leave
// it alone; a changed control means the detector is wrong (error).
//
// The verdict is statistical. Kills go on until the duration ends (or,
// with Env.MinKills, until that many window kills, bounded by the
// duration; without it, past the duration for up to half of it more while
// it has fewer window kills than a pass needs: goOn), or until the first
// corrupted window kill and a control kill (one is made next if none was
// yet): the failure is then certain, and more kills would only refine a
// rate nothing judges by. A pass needs at least Env.MinKills window kills
// (30 when not given); fewer, with no corruption anywhere, is a skip that
// says so: the rule-of-three bound 3/N would be too weak to call a pass.

const (
	controlEvery    = 4
	maxDelay        = 20 * time.Millisecond
	windowWait      = 200 * time.Millisecond // beyond the random delay, how long the killer waits for a window
	defaultMinKills = 30
	controlPattern  = 0x2b2b2b2b // not a TID (> pid_max), no FUTEX_* bit
	// The memfd: page p is pair p's file page; page maxPairs holds, per
	// pair, two uint64 counters: the rounds T1 completed and the rounds in
	// which T2 caught T1 in its window and mapped the file.
	maxPairs = 1  // more pairs (one per CPU) starved the parent and the Go scheduler: measured, fewer kills and hits
	statPair = 64 // + 16*pair: rounds, + 8: caught
)

// kill is one kill of a natural child.
type kill struct {
	Control                 bool
	TID                     uint32
	Addr                    uint64
	Off                     int64
	Before, After           uint32
	OtherBefore, OtherAfter uint32
	Delay                   time.Duration
	Rounds, Open            int64 // summed over the pairs
	Impl                    string
	Pairs, Pair             int // pairs in the child; the one reported
}

func (k kill) changed() bool      { return k.After != k.Before }
func (k kill) otherChanged() bool { return k.OtherAfter != k.OtherBefore }

func (k kill) evidence() map[string]string {
	return map[string]string{
		"natural_first_tid": strconv.Itoa(int(k.TID)), "natural_first_addr": fmt.Sprintf("%#x", k.Addr),
		"natural_first_before": fmt.Sprintf("%#08x", k.Before), "natural_first_after": fmt.Sprintf("%#08x", k.After),
		"natural_first_delay": k.Delay.Round(time.Microsecond).String(),
	}
}

// natStats is what the natural mode counted.
type natStats struct {
	Kills, Corruptions               int   // window children
	Iterations, Open                 int64 // unlock rounds; rounds caught in the window
	ControlKills, ControlCorruptions int
	ControlIterations                int64
	FirstHit                         time.Duration // since the mode began, when Corruptions > 0
	Elapsed                          time.Duration
	Impl, Instr                      string
	Pairs                            int    // T1/T2 pairs per child
	First                            *kill  // the first corrupted window kill
	BadControl                       *kill  // the first changed control
	Stray                            *kill  // a file word the mutex never used changed
	MinKills                         int    // window kills a pass needs
	Skip, Err                        string // the mode could not run / stopped on an error
}

// upper95 is the rule-of-three 95% upper bound on a per-kill probability
// after n kills without a hit: 3/n (1 for n <= 3).
func upper95(n int) float64 {
	if n <= 3 {
		return 1
	}
	return 3 / float64(n)
}

// pct formats a probability as a percentage with two significant digits
// below 1% ("0.1%", "0.073%") and one decimal above ("9.0%").
func pct(p float64) string {
	v := p * 100
	if v >= 1 || v == 0 {
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(v, 'g', 2, 64) + "%"
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s" }

// reason is the natural mode's part of the reason line.
func (s natStats) reason() string {
	switch {
	case s.Skip != "":
		return "natural: skipped (" + s.Skip + ")"
	case s.Corruptions > 0:
		return fmt.Sprintf("natural: %d of %d kills corrupted (%s), first after %s; stopped at the first corruption", s.Corruptions, s.Kills,
			pct(float64(s.Corruptions)/float64(s.Kills)), secs(s.FirstHit))
	case s.Kills == 0:
		return "natural: no kills"
	}
	return fmt.Sprintf("natural: 0 of %d kills, below %s at 95%%", s.Kills, pct(upper95(s.Kills)))
}

func (s natStats) evidence() map[string]string {
	ev := map[string]string{
		"natural_kills":               strconv.Itoa(s.Kills),
		"natural_corruptions":         strconv.Itoa(s.Corruptions),
		"natural_iterations":          strconv.FormatInt(s.Iterations, 10),
		"natural_windows_open":        strconv.FormatInt(s.Open, 10),
		"natural_control_kills":       strconv.Itoa(s.ControlKills),
		"natural_control_corruptions": strconv.Itoa(s.ControlCorruptions),
		"natural_control_iterations":  strconv.FormatInt(s.ControlIterations, 10),
		"natural_duration_s":          strconv.FormatFloat(s.Elapsed.Seconds(), 'f', 2, 64),
		"natural_min_kills":           strconv.Itoa(s.MinKills),
		"natural_verdict":             "statistical",
		"unlock_impl":                 s.Impl,
		"unlock_instr":                s.Instr,
		"natural_pairs":               strconv.Itoa(s.Pairs),
	}
	if s.Kills > 0 {
		ev["natural_hit_rate"] = pct(float64(s.Corruptions) / float64(s.Kills))
	}
	if s.Elapsed > 0 {
		ev["natural_kills_per_s"] = strconv.FormatFloat(float64(s.Kills+s.ControlKills)/s.Elapsed.Seconds(), 'f', 1, 64)
	}
	if s.Corruptions > 0 {
		ev["natural_first_hit_s"] = strconv.FormatFloat(s.FirstHit.Seconds(), 'f', 2, 64)
		for k, v := range s.First.evidence() {
			ev[k] = v
		}
	} else if s.Kills > 0 {
		ev["natural_upper95"] = pct(upper95(s.Kills))
	}
	if s.Skip != "" {
		ev["natural_skip"] = s.Skip
	}
	return ev
}

// judgeBoth combines the deterministic verdict (judge's, or a
// skip) with the natural counts. Errors first (a changed control in either
// mode means the detector is wrong), then corruption in either mode (fail,
// even if the natural mode stopped on an error later), then a natural
// error, then a pass that needs s.MinKills natural window kills (fewer:
// skip).
func judgeBoth(det stress.Outcome, detPart string, s natStats) stress.Outcome {
	ev := s.evidence()
	for k, v := range det.Evidence {
		ev[k] = v
	}
	line := detPart + "; " + s.reason()
	switch {
	case det.Status == event.Error:
		return stress.Error("deterministic: "+det.Reason, ev)
	case s.BadControl != nil:
		k := s.BadControl
		return stress.Error(fmt.Sprintf("detector is wrong: natural control kill changed the file (%#08x -> %#08x, other %#08x -> %#08x); %s",
			k.Before, k.After, k.OtherBefore, k.OtherAfter, line), ev)
	case s.Stray != nil:
		k := s.Stray
		return stress.Fail(fmt.Sprintf("natural: a file word the mutex never used changed %#08x -> %#08x; %s", k.OtherBefore, k.OtherAfter, line), ev)
	case det.Status == event.Fail || s.Corruptions > 0:
		if s.Err != "" {
			ev["natural_error"] = s.Err
			line += " (then stopped: " + s.Err + ")"
		}
		return stress.Fail(line, ev)
	case s.Err != "":
		return stress.Error("natural: "+s.Err+"; "+detPart, ev)
	case s.Skip != "":
		return stress.Skip(line, ev) // a deterministic pass alone is not the natural verdict
	case s.Kills == 0:
		return stress.Error("natural mode made no kills; "+detPart, ev)
	case s.Kills < s.MinKills:
		return stress.Skip(fmt.Sprintf("no corruption, but too few kills for a statistical pass (%d < %d): %s", s.Kills, s.MinKills, line), ev)
	}
	return stress.Pass("no corruption: "+line, ev)
}

// maxExtension bounds how long past its duration the natural mode goes on
// for the kills a pass needs (goOn).
const maxExtension = 30 * time.Second

// goOn reports whether the natural mode makes another kill, elapsed into
// a duration d with asked (Env.MinKills) kills asked for. A failure with a
// control kill behind it is decided. With asked, it stops at asked window
// kills or at d. Without, it runs for d and then, short of the kills a
// pass needs (s.MinKills), for up to half of d more (at most
// maxExtension) to get them: on a loaded host (two QEMUs at once) 10 s
// made 24-28 kills where it made 27-32 alone (docs/speed.md).
func goOn(s natStats, asked int, elapsed, d time.Duration) bool {
	switch {
	case s.Corruptions > 0 && s.ControlKills > 0:
		return false
	case asked > 0:
		return s.Kills < asked && elapsed < d
	case elapsed < d:
		return true
	}
	return s.Kills < s.MinKills && elapsed < d+min(d/2, maxExtension)
}

// runNatural kills natural children until the duration ends (or MinKills
// window kills are done), every controlEvery-th a control. Each child is
// killed its random delay after it reported ready.
func runNatural(ctx context.Context, env stress.Env) natStats {
	s := natStats{MinKills: defaultMinKills, Impl: futex.UnlockAsm, Instr: futex.UnlockInstr}
	if env.MinKills > 0 {
		s.MinKills = env.MinKills
	}
	d := env.Duration
	if d <= 0 {
		d = 10 * time.Second
	}
	rng := rand.New(rand.NewPCG(uint64(env.Seed), 0x6e61747572616c))
	start := time.Now()
	lastProgress := start
	progress := func() {
		env.ReportProgress(map[string]int64{"natural_kills": int64(s.Kills), "natural_corruptions": int64(s.Corruptions),
			"natural_iterations": s.Iterations, "natural_control_kills": int64(s.ControlKills),
			"natural_control_corruptions": int64(s.ControlCorruptions)})
	}
	for n := 0; goOn(s, env.MinKills, time.Since(start), d); n++ {
		if ctx.Err() != nil {
			s.Err = fmt.Sprintf("deadline after %d kills", s.Kills+s.ControlKills)
			break
		}
		control := n%controlEvery == controlEvery-1 || s.Corruptions > 0
		delay := time.Duration(rng.Int64N(int64(maxDelay) + 1))
		k, skipWhy, err := naturalKill(ctx, control, delay)
		if skipWhy != "" {
			s.Skip = skipWhy
			break
		}
		if err != nil {
			if ctx.Err() == nil {
				s.Err = stress.OneLine(err.Error())
			}
			continue // a deadline is reported at the top
		}
		s.Impl, s.Pairs = k.Impl, k.Pairs
		if control {
			s.ControlKills++
			s.ControlIterations += k.Rounds
			if k.changed() || k.otherChanged() {
				s.ControlCorruptions++
				if s.BadControl == nil {
					s.BadControl = &k
				}
			}
		} else {
			s.Kills++
			s.Iterations += k.Rounds
			s.Open += k.Open
			if k.otherChanged() && s.Stray == nil {
				s.Stray = &k
			}
			if k.changed() {
				s.Corruptions++
				if s.First == nil {
					s.First = &k
					s.FirstHit = time.Since(start)
				}
			}
		}
		if time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			progress()
		}
		if s.Err != "" {
			break
		}
	}
	s.Elapsed = time.Since(start)
	progress()
	return s
}

// naturalKill runs one natural child (window or control): waits until it
// is ready, SIGKILLs it after delay and reads the file pages.
// The reported pair is the first whose words changed, else pair 0.
func naturalKill(ctx context.Context, control bool, delay time.Duration) (k kill, skipWhy string, err error) {
	k.Control, k.Delay = control, delay
	mode := windowMode
	if control {
		mode = controlMode
	}
	shm, err := robust.NewMemfd("rig-robust-natural")
	if err != nil {
		return k, "", fmt.Errorf("memfd: %w", err)
	}
	defer shm.Close()
	fd := int(shm.Fd())
	if err := unix.Ftruncate(fd, (maxPairs+1)*int64(robust.PageSize)); err != nil {
		return k, "", fmt.Errorf("ftruncate: %w", err)
	}
	stats, err := unix.Mmap(fd, maxPairs*int64(robust.PageSize), int(robust.PageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return k, "", fmt.Errorf("mmap stats: %w", err)
	}
	defer unix.Munmap(stats)
	c, err := child.Start("robust-natural", shm, mode)
	if err != nil {
		return k, "", err
	}
	defer c.Kill()
	line, err := c.ReadLine(ctx, 20*time.Second)
	if err != nil {
		return k, "", err
	}
	kind, kv := child.Fields(line)
	switch kind {
	case "skip":
		return k, kv["msg"], nil
	case "ready":
	default:
		return k, "", fmt.Errorf("child: %s", line)
	}
	var tids []uint32
	var addrs []uint64
	for _, t := range strings.Split(kv["tids"], ",") {
		n, _ := strconv.ParseUint(t, 10, 32)
		tids = append(tids, uint32(n))
	}
	for _, a := range strings.Split(kv["addrs"], ",") {
		n, _ := strconv.ParseUint(a, 0, 64)
		addrs = append(addrs, n)
	}
	k.Off, _ = strconv.ParseInt(kv["off"], 0, 64)
	k.Impl = kv["impl"]
	k.Pairs = len(tids)
	if len(addrs) != k.Pairs || k.Pairs == 0 || k.Pairs > maxPairs {
		return k, "", fmt.Errorf("child: bad ready line %q", line)
	}
	type words struct{ w, other uint32 }
	read := func(p int) (words, error) {
		var r words
		var err error
		base := int64(p) * int64(robust.PageSize)
		if r.w, err = preadWord(fd, base+k.Off); err != nil {
			return r, err
		}
		r.other, err = preadWord(fd, base+otherOff)
		return r, err
	}
	before := make([]words, k.Pairs)
	for p := range before {
		if before[p], err = read(p); err != nil {
			return k, "", err
		}
		want := tids[p]
		if control {
			want = controlPattern
		}
		if before[p].w != want || before[p].other != tids[p] {
			return k, "", fmt.Errorf("pair %d: file words %#x, %#x before the race, want %#x, %#x", p, before[p].w, before[p].other, want, tids[p])
		}
	}
	// The killer watches the pairs' window counters: as soon as a remapper
	// has caught its unlocker inside the window (naturally preempted
	// there) and mapped the file, it kills, while the window is open. With
	// no window by delay+windowWait it kills anyway. (Killing blindly
	// after 0-20 ms mostly landed during the child's start-up: about 1% of
	// kills corrupted under TCG, against several windows a second.)
	openSum := func() (n uint64) {
		for p := 0; p < k.Pairs; p++ {
			n += atomic.LoadUint64((*uint64)(unsafe.Pointer(&stats[statPair+p*16+8])))
		}
		return n
	}
	open0 := openSum()
	deadline := time.Now().Add(delay + windowWait)
	for openSum() == open0 && time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return k, "", ctx.Err()
		}
		time.Sleep(50 * time.Microsecond)
	}
	c.Kill()
	if ws, ok := c.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return k, "", fmt.Errorf("child ended before the kill (%v): %s", c.Cmd.ProcessState, stress.OneLine(c.Stderr()))
	}
	pick := -1
	after := make([]words, k.Pairs)
	for p := range after {
		if after[p], err = read(p); err != nil {
			return k, "", err
		}
		if pick < 0 && after[p] != before[p] {
			pick = p
		}
		k.Rounds += int64(atomic.LoadUint64((*uint64)(unsafe.Pointer(&stats[statPair+p*16]))))
		k.Open += int64(atomic.LoadUint64((*uint64)(unsafe.Pointer(&stats[statPair+p*16+8]))))
	}
	if pick < 0 {
		pick = 0
	}
	k.Pair, k.TID, k.Addr = pick, tids[pick], addrs[pick]
	k.Before, k.OtherBefore = before[pick].w, before[pick].other
	k.After, k.OtherAfter = after[pick].w, after[pick].other
	return k, "", nil
}

// naturalChild (child helper "robust-natural window|control"): see the top
// of this file. It runs one T1/T2 pair per CPU (up to maxPairs), pair p
// on CPU p with page p of the file, reports "ready tids=a,b addrs=x,y off=
// impl=" once every T1 has registered its robust list and its file page is
// written, then races until killed; an error on the way exits with status 1.
func naturalChild(args []string) error {
	if len(args) != 1 || (args[0] != windowMode && args[0] != controlMode) {
		return fmt.Errorf("robust-natural: want window or control")
	}
	control := args[0] == controlMode
	cpus := onlineCPUs()
	if len(cpus) > maxPairs {
		cpus = cpus[len(cpus)-maxPairs:]
	}
	if len(cpus) == 0 {
		cpus = []int{-1} // one unpinned pair
	}
	if runtime.GOMAXPROCS(0) < 2*len(cpus) {
		runtime.GOMAXPROCS(2 * len(cpus))
	}
	stats, err := unix.MmapPtr(3, maxPairs*int64(robust.PageSize), nil, robust.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap stats: %w", err)
	}
	u := futex.NewUnlocker(robust.VDSOTryUnlockAddr())
	pairs := make([]*pair, len(cpus))
	var tids, addrs []string
	for i, cpu := range cpus {
		p, err := newPair(i, cpu, control, stats, u)
		if err != nil {
			return err
		}
		pairs[i] = p
		tids = append(tids, strconv.Itoa(int(p.tid1)))
		addrs = append(addrs, fmt.Sprintf("%#x", uintptr(p.entry)+robust.FutexOffset))
	}
	child.Status(fmt.Sprintf("ready tids=%s addrs=%s off=%d impl=%s", strings.Join(tids, ","), strings.Join(addrs, ","),
		entryOff+robust.FutexOffset, u.Impl))
	for _, p := range pairs[1:] {
		go func() {
			runtime.LockOSThread()
			if err := p.t2(); err != nil {
				fatal(err)
			}
		}()
	}
	runtime.LockOSThread()
	return pairs[0].t2()
}

// pair is one T1/T2 pair of a natural child.
type pair struct {
	idx, cpu       int
	h, m, entry    unsafe.Pointer
	mw             *uint32
	pending        *uintptr
	rounds, caught *uint64
	tid1           uint32
	// gate closed (1): T1 must not start a lock, T2 may be remapping.
	// phase: unlocking from before T1 sets list_op_pending for the
	// unlock until after the unlock returned.
	gate, phase atomic.Uint32
}

func fatal(err error) {
	child.Status("error " + stress.OneLine(err.Error()))
	unix.Exit(1)
}

// newPair maps pair idx's head and mutex pages, writes its file page and
// starts its T1, which waits for T2 to open the gate.
func newPair(idx, cpu int, control bool, stats unsafe.Pointer, u *futex.Unlocker) (*pair, error) {
	p := &pair{idx: idx, cpu: cpu,
		rounds: (*uint64)(unsafe.Add(stats, statPair+idx*16)),
		caught: (*uint64)(unsafe.Add(stats, statPair+idx*16+8))}
	var err error
	if p.h, err = robust.MmapAnon(); err != nil {
		return nil, err
	}
	if p.m, err = robust.MmapAnon(); err != nil {
		return nil, err
	}
	robust.InitHead(p.h)
	atomic.StoreUint32(robust.Word(p.m, 0), 0)
	p.entry = unsafe.Add(p.m, entryOff)
	p.mw = robust.Word(p.entry, robust.FutexOffset)
	p.pending = robust.Slot(p.h, futex.HeadPendingOff)
	p.gate.Store(1) // until T2 starts
	tidc := make(chan uint32, 1)
	go p.t1(u, tidc)
	p.tid1 = <-tidc
	fileWord := p.tid1
	if control {
		fileWord = controlPattern
	}
	for _, w := range []struct {
		off uintptr
		v   uint32
	}{{entryOff + robust.FutexOffset, fileWord}, {otherOff, p.tid1}} {
		b := (*[4]byte)(unsafe.Pointer(&w.v))
		if _, err := unix.Pwrite(3, b[:], int64(idx)*int64(robust.PageSize)+int64(w.off)); err != nil {
			return nil, fmt.Errorf("pwrite: %w", err)
		}
	}
	return p, nil
}

// t1 locks and unlocks the robust mutex, round after round.
func (p *pair) t1(u *futex.Unlocker, tidc chan<- uint32) {
	runtime.LockOSThread() // never unlocked
	pin(p.cpu)
	if err := futex.SetRobustList(p.h, futex.RobustListHeadSize); err != nil {
		fatal(fmt.Errorf("set_robust_list: %w", err))
	}
	tid := uint32(unix.Gettid())
	tidc <- tid
	h, entry, mw, pending := p.h, p.entry, p.mw, p.pending
	asm := u.Impl == futex.UnlockAsm // called directly: fewer branches around the window (TCG takes interrupts at block boundaries)
	for {
		// Lock: the classic sequence, retried while T2 holds the lock.
		for {
			for p.gate.Load() != 0 {
			}
			atomic.StoreUintptr(pending, uintptr(entry))
			if atomic.CompareAndSwapUint32(mw, 0, tid) {
				break
			}
			atomic.StoreUintptr(pending, 0)
		}
		atomic.StoreUintptr(robust.Slot(entry, 0), atomic.LoadUintptr(robust.Slot(h, futex.HeadListOff))) // link
		atomic.StoreUintptr(robust.Slot(h, futex.HeadListOff), uintptr(entry))
		atomic.StoreUintptr(pending, 0)
		// Unlock.
		p.phase.Store(unlocking)
		atomic.StoreUintptr(pending, uintptr(entry))                                                      // list_op_pending = &mutex
		atomic.StoreUintptr(robust.Slot(h, futex.HeadListOff), atomic.LoadUintptr(robust.Slot(entry, 0))) // unlink
		if asm {
			if got := futex.RobustUnlockAsm(mw, tid, pending); got != tid { // the window
				fatal(fmt.Errorf("robust unlock (asm): word %#x, want owner %d", got, tid))
			}
		} else if _, err := u.Unlock(mw, tid, pending); err != nil { // the window, or the kernel's
			fatal(err)
		}
		p.phase.Store(locking)
		atomic.AddUint64(p.rounds, 1) // also a full barrier before the gate is read
	}
}

// t2 spins for the lock (it runs when T1 is preempted on their shared
// CPU); when it gets the lock and T1 is inside its unlock window (it set
// list_op_pending for the unlock and has not cleared it), t2 releases the
// lock, replaces the page by the file, and keeps it there, spinning, until
// T1 clears list_op_pending. (Polling with 20 us naps instead doubled the
// hits on the host but starved T1 under TCG: measured.)
func (p *pair) t2() error {
	pin(p.cpu)
	tid2 := uint32(unix.Gettid())
	m, entry, mw, pending := p.m, p.entry, p.mw, p.pending
	fileOff := int64(p.idx) * int64(robust.PageSize)
	p.gate.Store(0)
	for {
		if !atomic.CompareAndSwapUint32(mw, 0, tid2) {
			continue
		}
		p.gate.Store(1)
		// While T2 holds the lock T1 cannot enter the unlock phase, so
		// pending == &mutex followed by phase == unlocking means T1 was
		// between its cmpxchg and its clearing store.
		inWindow := atomic.LoadUintptr(pending) == uintptr(entry) && p.phase.Load() == unlocking
		if !atomic.CompareAndSwapUint32(mw, tid2, 0) {
			return fmt.Errorf("T2 could not release: word %#x", atomic.LoadUint32(mw))
		}
		if inWindow {
			// One mmap(MAP_FIXED) unmaps and maps in a single step: a
			// separate munmap would leave a hole the Go runtime could map
			// into, and MAP_FIXED would then clobber it.
			if q, err := unix.MmapPtr(3, fileOff, m, robust.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED); err != nil || q != m {
				return fmt.Errorf("mmap file over the mutex page: %p, %v", q, err)
			}
			atomic.AddUint64(p.caught, 1)
			for atomic.LoadUintptr(pending) == uintptr(entry) { // T1 still in its window
			}
			if q, err := unix.MmapPtr(-1, 0, m, robust.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED); err != nil || q != m {
				return fmt.Errorf("mmap anonymous memory back: %p, %v", q, err)
			}
		}
		p.gate.Store(0)
	}
}

const (
	locking   = 0
	unlocking = 1
)

// onlineCPUs lists the CPUs this process may use (nil if unknown). Each pair
// shares one CPU, so its T2 runs exactly when its T1 is preempted, as on a
// uniprocessor, wherever the preemption lands in T1's loop.
func onlineCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// pickCPU is the last CPU this process may use (-1: unknown).
func pickCPU() int {
	c := onlineCPUs()
	if len(c) == 0 {
		return -1
	}
	return c[len(c)-1]
}

// pin binds the calling thread to cpu (best effort; -1: no pinning).
func pin(cpu int) {
	if cpu < 0 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	unix.SchedSetaffinity(0, &set)
}
