package unmapremap

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/futex"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// The host kernel (6.18) has no fix: within 10 s the natural mode must hit
// the window at least once, and the controls must stay clean. The first
// corruption decides the verdict: one control kill at most follows it.
func TestUnmapNaturalHost(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of kills")
	}
	if robust.VDSOTryUnlockAddr() != 0 {
		t.Skip("this kernel has the FUTEX_ROBUST_UNLOCK vDSO: the classic-sequence expectation does not hold")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress int
	s := runNatural(ctx, stress.Env{Seed: 1, Duration: 10 * time.Second, Progress: func(map[string]int64) { progress++ }})
	t.Logf("%s; %v", s.reason(), s.evidence())
	if s.Err != "" || s.Skip != "" {
		t.Fatalf("natural mode: err %q skip %q", s.Err, s.Skip)
	}
	if s.ControlCorruptions != 0 || s.BadControl != nil || s.Stray != nil {
		t.Fatalf("control or stray corruption: %v", s.evidence())
	}
	if s.ControlKills == 0 {
		t.Fatalf("no control kills")
	}
	if s.Corruptions == 0 {
		t.Fatalf("no corruption in %d kills (%d rounds, %d caught in the window) on a kernel without the fix", s.Kills, s.Iterations, s.Open)
	}
	if s.Corruptions != 1 || s.Elapsed >= 10*time.Second || s.ControlKills > (s.Kills+s.ControlKills)/controlEvery+1 {
		t.Errorf("kills went on after the first corruption: %d corruptions in %v", s.Corruptions, s.Elapsed)
	}
	if s.Impl != futex.UnlockAsm {
		t.Errorf("unlock impl %q", s.Impl)
	}
	if progress < 1 {
		t.Errorf("no progress event")
	}
}

func TestUpper95AndPct(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "100.0%"}, {3, "100.0%"}, {30, "10.0%"}, {300, "1.0%"}, {412, "0.73%"}, {3000, "0.1%"}, {100000, "0.003%"}} {
		if got := pct(upper95(c.n)); got != c.want {
			t.Errorf("pct(upper95(%d)) = %q, want %q", c.n, got, c.want)
		}
	}
	for _, c := range []struct {
		p    float64
		want string
	}{{0, "0.0%"}, {37.0 / 412, "9.0%"}, {1, "100.0%"}, {0.0025, "0.25%"}} {
		if got := pct(c.p); got != c.want {
			t.Errorf("pct(%v) = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestJudgeBoth(t *testing.T) {
	detFail := stress.Outcome{Status: event.Fail, Evidence: map[string]string{"det_trials": "5", "det_corrupted": "5"}}
	detPass := stress.Outcome{Status: event.Pass, Evidence: map[string]string{"det_trials": "5", "det_corrupted": "0"}}
	detSkip := stress.Outcome{Status: event.Skip, Reason: "userfaultfd not available"}
	detErr := stress.Outcome{Status: event.Error, Reason: "detector is wrong: control trial 0 changed the file"}
	const detFailPart, detPassPart = "deterministic: 5/5 trials corrupted", "deterministic: 0/5 trials corrupted"
	hit := &kill{TID: 37, Before: 37, After: 0x40000000}
	ctl := &kill{Control: true, TID: 37, Before: controlPattern, After: controlPattern | 0x40000000}
	base := natStats{MinKills: 30, Impl: "asm", Elapsed: 10 * time.Second}
	with := func(f func(*natStats)) natStats { s := base; f(&s); return s }
	for _, c := range []struct {
		name    string
		det     stress.Outcome
		detPart string
		nat     natStats
		status  string
		reason  string
	}{
		{"both corrupt", detFail, detFailPart, with(func(s *natStats) {
			s.Kills, s.Corruptions, s.FirstHit, s.First, s.ControlKills = 412, 37, 400*time.Millisecond, hit, 137
		}), event.Fail, "deterministic: 5/5 trials corrupted; natural: 37 of 412 kills corrupted (9.0%), first after 0.4 s"},
		{"natural only", detPass, detPassPart, with(func(s *natStats) {
			s.Kills, s.Corruptions, s.FirstHit, s.First = 100, 1, 3*time.Second, hit
		}), event.Fail, "natural: 1 of 100 kills corrupted (1.0%), first after 3.0 s"},
		{"deterministic only", detFail, detFailPart, with(func(s *natStats) { s.Kills, s.ControlKills = 400, 130 }),
			event.Fail, "deterministic: 5/5 trials corrupted; natural: 0 of 400 kills, below 0.75% at 95%"},
		{"clean", detPass, detPassPart, with(func(s *natStats) { s.Kills, s.ControlKills = 3000, 1000 }),
			event.Pass, "no corruption: deterministic: 0/5 trials corrupted; natural: 0 of 3000 kills, below 0.1% at 95%"},
		{"too few kills", detPass, detPassPart, with(func(s *natStats) { s.Kills = 12 }),
			event.Skip, "too few kills for a statistical pass (12 < 30)"},
		{"min-kills not reached", detPass, detPassPart, with(func(s *natStats) { s.Kills, s.MinKills = 500, 1000 }),
			event.Skip, "(500 < 1000)"},
		{"no kills", detPass, detPassPart, base, event.Error, "no kills"},
		{"natural control hit", detFail, detFailPart, with(func(s *natStats) {
			s.Kills, s.Corruptions, s.First, s.ControlKills, s.ControlCorruptions, s.BadControl = 40, 2, hit, 13, 1, ctl
		}), event.Error, "detector is wrong: natural control"},
		{"deterministic error", detErr, "", with(func(s *natStats) { s.Kills = 400 }), event.Error, "deterministic: detector is wrong"},
		{"natural stopped", detPass, detPassPart, with(func(s *natStats) { s.Kills, s.Err = 5, "child: error T1 could not lock" }),
			event.Error, "natural: child: error"},
		{"natural stopped after a hit", detFail, detFailPart, with(func(s *natStats) {
			s.Kills, s.Corruptions, s.FirstHit, s.First, s.Err = 9, 1, time.Second, hit, "child: error T1 could not lock"
		}), event.Fail, "(then stopped: child: error"},
		{"stray write", detPass, detPassPart, with(func(s *natStats) {
			s.Kills, s.Stray = 50, &kill{OtherBefore: 37, OtherAfter: 0x40000025}
		}), event.Fail, "never used"},
		{"uffd missing, natural clean", detSkip, "deterministic: skipped (userfaultfd not available)",
			with(func(s *natStats) { s.Kills = 300 }), event.Pass, "deterministic: skipped"},
		{"natural skipped", detPass, detPassPart, with(func(s *natStats) { s.Skip = "no memfd" }), event.Skip, "natural: skipped (no memfd)"},
	} {
		o := judgeBoth(c.det, c.detPart, c.nat)
		if o.Status != c.status || !strings.Contains(o.Reason, c.reason) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.name, o.Status, o.Reason, c.status, c.reason)
		}
	}
	o := judgeBoth(detFail, detFailPart, with(func(s *natStats) {
		s.Kills, s.Corruptions, s.FirstHit, s.First, s.Iterations = 412, 37, 400*time.Millisecond, hit, 99
	}))
	for k, want := range map[string]string{"natural_kills": "412", "natural_corruptions": "37", "natural_hit_rate": "9.0%",
		"natural_first_hit_s": "0.40", "natural_iterations": "99", "det_trials": "5", "unlock_impl": "asm", "natural_first_after": "0x40000000"} {
		if o.Evidence[k] != want {
			t.Errorf("evidence %s = %q, want %q", k, o.Evidence[k], want)
		}
	}
	if _, ok := o.Evidence["natural_upper95"]; ok {
		t.Errorf("upper bound reported for a run with hits")
	}
}

// The vDSO trampoline (futex.CallTryUnlock) passes three arguments and
// returns the 32-bit result by the C ABI: checked with a vDSO function
// every amd64 kernel has, getcpu(unsigned *cpu, unsigned *node, void *),
// on a thread pinned to a known CPU. arm64's vDSO has no such function.
func TestVdsoTrampolineGetcpu(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("no three-argument vDSO function to call on " + runtime.GOARCH)
	}
	fn, err := robust.VDSOSymbolAddr("__vdso_getcpu")
	if err != nil || fn == 0 {
		t.Skipf("no __vdso_getcpu: %v", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	want := pickCPU()
	pin(want)
	cpu := uint32(0xffffffff)
	var cache uintptr
	if r := futex.CallTryUnlock(fn, &cpu, 0, &cache); r != 0 {
		t.Fatalf("getcpu through the trampoline returned %d", r)
	}
	if int(cpu) != want {
		t.Fatalf("getcpu through the trampoline: cpu %d, want %d", cpu, want)
	}
	if a, _ := robust.VDSOSymbolAddr("__vdso_futex_robust_list64_try_unlock"); a != 0 {
		t.Logf("this kernel has the robust try-unlock at %#x", a)
	}
}

// When the natural mode makes another kill: through its duration; past it
// only without --min-kills and short of a pass's kills, for half the
// duration more at most; never after a failure with a control behind it.
func TestGoOn(t *testing.T) {
	const d = 10 * time.Second
	st := func(kills, corr, ctl int) natStats {
		return natStats{Kills: kills, Corruptions: corr, ControlKills: ctl, MinKills: defaultMinKills}
	}
	for _, c := range []struct {
		name    string
		s       natStats
		asked   int
		elapsed time.Duration
		want    bool
	}{
		{"within the duration", st(5, 0, 1), 0, 3 * time.Second, true},
		{"a failure with a control", st(4, 1, 1), 0, 3 * time.Second, false},
		{"a failure, no control yet", st(2, 1, 0), 0, 3 * time.Second, true},
		{"past the duration, short of a pass", st(26, 0, 8), 0, 11 * time.Second, true},
		{"past the duration with a pass's kills", st(30, 0, 10), 0, 11 * time.Second, false},
		{"past the extension", st(26, 0, 8), 0, 15 * time.Second, false},
		{"asked kills reached", st(50, 0, 16), 50, 3 * time.Second, false},
		{"asked kills: no extension", st(40, 0, 13), 50, 10 * time.Second, false},
		{"asked kills, within the duration", st(40, 0, 13), 50, 9 * time.Second, true},
	} {
		if got := goOn(c.s, c.asked, c.elapsed, d); got != c.want {
			t.Errorf("%s: goOn = %v, want %v", c.name, got, c.want)
		}
	}
	if goOn(st(1, 0, 0), 0, 200*time.Second, 120*time.Second) {
		t.Error("a 120 s duration went on 80 s past it: the extension is at most maxExtension")
	}
}
