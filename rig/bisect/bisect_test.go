package bisect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// fakeEnv scripts a cell per (prefix, attempt), as syzkaller's testEnv
// scripts results per commit: no tree, no build, no QEMU.
type fakeEnv struct {
	script func(k, attempt int) result.Cell
	err    func(k, attempt int) error // the Env could not run at all
	calls  []string                   // "k/attempt", in order
}

func (f *fakeEnv) Run(ctx context.Context, k, attempt int) (Run, error) {
	f.calls = append(f.calls, fmt.Sprintf("%d/%d", k, attempt))
	if f.err != nil {
		if err := f.err(k, attempt); err != nil {
			return Run{}, err
		}
	}
	return Run{Cell: f.script(k, attempt), Dir: fmt.Sprintf("results/b/run-%d-%d", k, attempt)}, nil
}

func pass() result.Cell { return result.Cell{Status: result.Pass} }

func failTest(names ...string) result.Cell {
	c := result.Cell{Status: result.Fail, Cause: "test " + names[0] + " failed: word keeps a dead TID"}
	for _, n := range names {
		c.Tests = append(c.Tests, result.Test{Name: n, Status: "fail", Reason: "word keeps a dead TID"})
	}
	return c
}

func withPass(c result.Cell, names ...string) result.Cell {
	for _, n := range names {
		c.Tests = append(c.Tests, result.Test{Name: n, Status: "pass"})
	}
	return c
}

func warning(fn string) result.Cell {
	return result.Cell{Status: result.Fail, Cause: "kernel WARNING in " + fn + " (console.log:12)",
		Tests:  []result.Test{{Name: "robust-kill-in-lock", Status: "pass"}},
		Oopses: []result.Oops{{Kind: "WARNING", Title: "WARNING in " + fn, Line: 12}}}
}

func status(s result.Status, cause string) result.Cell { return result.Cell{Status: s, Cause: cause} }

func patches(n int) []PatchInfo {
	var p []PatchInfo
	for i := 1; i <= n; i++ {
		p = append(p, PatchInfo{Name: fmt.Sprintf("%04d-p.patch", i), Subject: fmt.Sprintf("patch %d", i)})
	}
	return p
}

func bisectFake(t *testing.T, n int, env *fakeEnv, cfg Config) (*Result, error, string) {
	t.Helper()
	var log bytes.Buffer
	cfg.Patches, cfg.Log = patches(n), &log
	res, err := Bisect(context.Background(), env, cfg)
	t.Logf("calls %v\n%s", env.calls, log.String())
	return res, err, log.String()
}

// TestFindsCulprit: a deterministic failure from patch c on is found at c
// for every position, in about log2(n) steps after the two ends.
func TestFindsCulprit(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for c := 1; c <= n; c++ {
			t.Run(fmt.Sprintf("n%d-c%d", n, c), func(t *testing.T) {
				env := &fakeEnv{script: func(k, _ int) result.Cell {
					if k >= c {
						return failTest("robust-kill-in-lock")
					}
					return pass()
				}}
				res, err, _ := bisectFake(t, n, env, Config{Repeat: 1})
				if err != nil || res.Outcome != Found || res.Culprit != c {
					t.Fatalf("err %v, outcome %s culprit %d; want found %d", err, res.Outcome, res.Culprit, c)
				}
				if res.Title != "test=robust-kill-in-lock" || !strings.Contains(res.Evidence, "dead TID") || res.Patch.Name != fmt.Sprintf("%04d-p.patch", c) {
					t.Errorf("title %q evidence %q patch %+v", res.Title, res.Evidence, res.Patch)
				}
				max := 2
				for m := 1; m < n; m *= 2 {
					max++
				}
				if len(env.calls) > max {
					t.Errorf("%d runs for %d patches, want at most %d", len(env.calls), n, max)
				}
			})
		}
	}
}

// TestCalibrationDeterministic: without --repeat the full series runs
// Calibrate times; a failure in every run means one run per step.
func TestCalibrationDeterministic(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell {
		if k >= 4 {
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	res, err, _ := bisectFake(t, 5, env, Config{})
	if err != nil || res.Culprit != 4 || res.Repeat != 1 {
		t.Fatalf("err %v culprit %d repeat %d", err, res.Culprit, res.Repeat)
	}
	want := []string{"5/1", "5/2", "5/3", "0/1", "2/1", "3/1", "4/1"}
	if !reflect.DeepEqual(env.calls, want) {
		t.Errorf("calls %v, want %v", env.calls, want)
	}
}

// TestFlaky: a race hit in 1 of 3 runs gives 8 runs per step ((2/3)^8 <
// 0.05); good steps need all 8, bad ones stop at the first hit.
func TestFlaky(t *testing.T) {
	env := &fakeEnv{script: func(k, a int) result.Cell {
		if k >= 3 && a%3 == 0 {
			return failTest("robust-unmap-remap")
		}
		return withPass(pass(), "robust-unmap-remap")
	}}
	res, err, log := bisectFake(t, 6, env, Config{})
	if err != nil || res.Outcome != Found || res.Culprit != 3 {
		t.Fatalf("err %v outcome %s culprit %d", err, res.Outcome, res.Culprit)
	}
	if res.Repeat != 8 || !strings.Contains(res.RepeatWhy, "1 of 3") {
		t.Errorf("repeat %d (%s), want 8", res.Repeat, res.RepeatWhy)
	}
	for _, s := range res.Steps {
		if s.Verdict == Good && len(s.Runs) != 8 {
			t.Errorf("good step %d after %d runs, want 8", s.K, len(s.Runs))
		}
		if s.Verdict == Bad && s.K != 6 && len(s.Runs) != 3 {
			t.Errorf("bad step %d ran %d times; the third run fails", s.K, len(s.Runs))
		}
	}
	if !strings.Contains(log, "run 8/8") || !strings.Contains(log, "all 8 run(s) good") {
		t.Errorf("log does not show each run and why")
	}
}

// TestFlakyTooRare: a failure below the cap's reach is capped at
// MaxRepeat and says so.
func TestFlakyTooRare(t *testing.T) {
	n, capped := ChooseRepeat(1, 50)
	if n != MaxRepeat || !capped {
		t.Fatalf("ChooseRepeat(1, 50) = %d, %v", n, capped)
	}
}

func TestChooseRepeat(t *testing.T) {
	for _, c := range []struct{ bad, runs, want int }{
		{3, 3, 1}, {2, 3, 3}, {1, 3, 8}, {1, 2, 5}, {0, 3, 1}, {1, 5, 14}, {9, 10, 2},
	} {
		got, _ := ChooseRepeat(c.bad, c.runs)
		if got != c.want {
			t.Errorf("ChooseRepeat(%d, %d) = %d, want %d", c.bad, c.runs, got, c.want)
		}
	}
}

// TestBrokenBuildSkipped: a prefix that does not build is skipped (never
// bad, never rebuilt) and the search steps around it.
func TestBrokenBuildSkipped(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell {
		switch {
		case k == 2 || k == 3:
			return status(result.BuildError, "kernel/futex/core.c:12: error: x undeclared")
		case k >= 5:
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	res, err, _ := bisectFake(t, 8, env, Config{Repeat: 3})
	if err != nil || res.Outcome != Found || res.Culprit != 5 {
		t.Fatalf("err %v outcome %s culprit %d", err, res.Outcome, res.Culprit)
	}
	for _, s := range res.Steps {
		if (s.K == 2 || s.K == 3) && (s.Verdict != Skip || len(s.Runs) != 1) {
			t.Errorf("step %d: %s after %d runs, want one skip", s.K, s.Verdict, len(s.Runs))
		}
	}
}

// TestSkipsHideCulprit: when the prefixes next to the culprit cannot be
// built, the answer is the set of candidates, not a guess.
func TestSkipsHideCulprit(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell {
		switch {
		case k == 3:
			return status(result.BootError, "no guest event within the boot timeout")
		case k >= 4:
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	res, err, _ := bisectFake(t, 5, env, Config{Repeat: 2})
	if err != nil || res.Outcome != Inconclusive || !reflect.DeepEqual(res.Candidates, []int{3, 4}) {
		t.Fatalf("err %v outcome %s candidates %v", err, res.Outcome, res.Candidates)
	}
	if !strings.Contains(res.Summary, "0003-p.patch") || !strings.Contains(res.Summary, "0004-p.patch") {
		t.Errorf("summary %q", res.Summary)
	}
}

// TestFlakyBootThenBad: a boot error in one run does not hide a bad run
// of the same step.
func TestFlakyBootThenBad(t *testing.T) {
	env := &fakeEnv{script: func(k, a int) result.Cell {
		if k == 2 && a == 1 {
			return status(result.BootError, "machine ended before the guest started")
		}
		if k >= 2 {
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	res, err, _ := bisectFake(t, 4, env, Config{Repeat: 3})
	if err != nil || res.Culprit != 2 {
		t.Fatalf("err %v outcome %s culprit %d", err, res.Outcome, res.Culprit)
	}
}

// TestInfraAborts: an infra-error stops the bisection with an
// AbortError, keeping the steps so far.
func TestInfraAborts(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell {
		switch {
		case k == 0:
			return status(result.InfraError, "accelerator: qemu-system-x86_64 not found")
		case k >= 1:
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	res, err, _ := bisectFake(t, 3, env, Config{Repeat: 1})
	var ae *AbortError
	if !errors.As(err, &ae) || ae.Status != result.InfraError || ae.K != 0 {
		t.Fatalf("err %v", err)
	}
	if len(res.Steps) != 2 || res.Steps[1].Verdict != Abort {
		t.Errorf("steps %+v", res.Steps)
	}
}

func TestEnvErrorAborts(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell { return failTest("robust-kill-in-lock") },
		err: func(k, _ int) error {
			if k == 0 {
				return errors.New("results directory: disk full")
			}
			return nil
		}}
	_, err, _ := bisectFake(t, 3, env, Config{Repeat: 1})
	var ae *AbortError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err %v", err)
	}
}

func TestInterruptedAborts(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell {
		if k == 2 {
			return status(result.Interrupted, "interrupted (context canceled)")
		}
		if k >= 3 {
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	_, err, _ := bisectFake(t, 4, env, Config{Repeat: 1})
	var ae *AbortError
	if !errors.As(err, &ae) || ae.Status != result.Interrupted {
		t.Fatalf("err %v", err)
	}
}

// TestUnrelatedFlakeIgnored: once the title is known (from the full
// series), a prefix that fails only with another failure is good, and the
// log says why.
func TestUnrelatedFlakeIgnored(t *testing.T) {
	env := &fakeEnv{script: func(k, _ int) result.Cell {
		switch {
		case k >= 4:
			return failTest("robust-kill-in-lock")
		case k == 2 || k == 3:
			return warning("futex_wake")
		}
		return pass()
	}}
	res, err, log := bisectFake(t, 5, env, Config{Repeat: 1})
	if err != nil || res.Culprit != 4 {
		t.Fatalf("err %v outcome %s culprit %d", err, res.Outcome, res.Culprit)
	}
	if !strings.Contains(log, "failed only in other ways (oops=WARNING in futex_wake), not counted") {
		t.Errorf("log does not explain the ignored failure")
	}
}

// TestBadIfNarrows: the full series fails two tests. By default the
// first failing test (pi-consistency, broken by patch 1) becomes the
// title; --bad-if names the property under study and finds patch 4.
func TestBadIfNarrows(t *testing.T) {
	script := func(k, _ int) result.Cell {
		switch {
		case k >= 4:
			return failTest("pi-consistency", "robust-kill-in-lock")
		case k >= 1:
			return withPass(failTest("pi-consistency"), "robust-kill-in-lock")
		}
		return withPass(pass(), "pi-consistency", "robust-kill-in-lock")
	}
	res, err, _ := bisectFake(t, 5, &fakeEnv{script: script}, Config{Repeat: 1})
	if err != nil || res.Culprit != 1 || res.Title != "test=pi-consistency" {
		t.Fatalf("default rule: err %v culprit %d title %s", err, res.Culprit, res.Title)
	}
	rule := Rule{BadIf: []Criterion{{Kind: "test", Value: "robust-kill-in-lock"}}}
	res, err, log := bisectFake(t, 5, &fakeEnv{script: script}, Config{Repeat: 1, Rule: rule})
	if err != nil || res.Culprit != 4 || res.Title != "test=robust-kill-in-lock" {
		t.Fatalf("--bad-if: err %v culprit %d title %s", err, res.Culprit, res.Title)
	}
	if !strings.Contains(log, "failed only in other ways (test=pi-consistency), not counted") {
		t.Errorf("log does not say the other failure was not counted")
	}
	oopsRule := Rule{BadIf: []Criterion{{Kind: "oops", Value: "WARNING"}}}
	res, err, _ = bisectFake(t, 5, &fakeEnv{script: func(k, _ int) result.Cell {
		if k >= 2 {
			return warning("handle_futex_death")
		}
		return withPass(failTest("robust-unmap-remap"), "robust-kill-in-lock")
	}}, Config{Repeat: 1, Rule: oopsRule})
	if err != nil || res.Outcome != BaseBad && res.Culprit != 2 {
		t.Fatalf("--bad-if oops: err %v outcome %s culprit %d", err, res.Outcome, res.Culprit)
	}
	if res.Culprit != 2 || res.Title != "oops=WARNING in handle_futex_death" {
		t.Errorf("--bad-if oops: culprit %d title %q", res.Culprit, res.Title)
	}
}

func TestBaseBadAndSeriesGood(t *testing.T) {
	res, err, _ := bisectFake(t, 3, &fakeEnv{script: func(k, _ int) result.Cell { return failTest("robust-kill-in-lock") }}, Config{Repeat: 1})
	if err != nil || res.Outcome != BaseBad || !strings.Contains(res.Summary, "already bad") {
		t.Fatalf("err %v outcome %s %s", err, res.Outcome, res.Summary)
	}
	env := &fakeEnv{script: func(k, _ int) result.Cell { return pass() }}
	res, err, _ = bisectFake(t, 3, env, Config{})
	if err != nil || res.Outcome != SeriesGood || len(env.calls) != 3 {
		t.Fatalf("err %v outcome %s calls %v", err, res.Outcome, env.calls)
	}
}

// TestClassify: the decision table of one run.
func TestClassify(t *testing.T) {
	track := Rule{Track: "test=robust-kill-in-lock"}
	byTest := Rule{BadIf: []Criterion{{Kind: "test", Value: "robust-kill-in-lock"}}}
	for _, c := range []struct {
		name string
		rule Rule
		cell result.Cell
		want Verdict
	}{
		{"pass", Rule{}, pass(), Good},
		{"fail", Rule{}, failTest("x"), Bad},
		{"warning", Rule{}, warning("f"), Bad},
		{"timeout", Rule{}, status(result.Timeout, "tests still running"), Bad},
		{"no verdict", Rule{}, status(result.Fail, "guest exited without verdict (poweroff); console ends: x"), Bad},
		{"patch-error", Rule{}, status(result.PatchError, "0001: hunk #2"), Skip},
		{"build-error", Rule{}, status(result.BuildError, "error"), Skip},
		{"boot-error", Rule{}, status(result.BootError, "panic"), Skip},
		{"infra", Rule{}, status(result.InfraError, "qemu"), Abort},
		{"interrupted", Rule{}, status(result.Interrupted, "interrupted"), Abort},
		{"tracked hit", track, failTest("robust-kill-in-lock"), Bad},
		{"tracked other test", track, withPass(failTest("robust-owner-death"), "robust-kill-in-lock"), Good},
		{"tracked test missing", track, failTest("robust-owner-death"), Skip},
		{"tracked timeout", track, status(result.Timeout, "still running"), Skip},
		{"bad-if other oops", byTest, warning("futex_wake"), Good},
		{"bad-if oops", Rule{BadIf: []Criterion{{Kind: "oops", Value: "WARNING"}}}, warning("futex_wake"), Bad},
		{"bad-if oops other test", Rule{BadIf: []Criterion{{Kind: "oops", Value: "WARNING"}}}, failTest("x"), Good},
		{"bad-if timeout", Rule{BadIf: []Criterion{{Kind: "timeout"}}}, status(result.Timeout, "still running"), Bad},
	} {
		got, _, why := c.rule.Classify(c.cell)
		if got != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, got, why, c.want)
		}
	}
}

func TestParseCriterion(t *testing.T) {
	for _, s := range []string{"test=robust-unmap-remap", "oops=WARNING", "timeout"} {
		c, err := ParseCriterion(s)
		if err != nil || c.String() != s {
			t.Errorf("%s: %v %v", s, c, err)
		}
	}
	for _, s := range []string{"", "test=", "WARNING", "cause=x"} {
		if _, err := ParseCriterion(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestJudge: one git bisect step: bad at the first bad run, skip when no
// run was bad and not all were good.
func TestJudge(t *testing.T) {
	env := &fakeEnv{script: func(k, a int) result.Cell {
		if a == 2 {
			return failTest("robust-kill-in-lock")
		}
		return pass()
	}}
	st, err := Judge(context.Background(), env, 0, 3, "", Config{})
	if err != nil || st.Verdict != Bad || len(st.Runs) != 2 {
		t.Fatalf("err %v %+v", err, st)
	}
	env = &fakeEnv{script: func(k, a int) result.Cell {
		if a == 1 {
			return status(result.BootError, "panic")
		}
		return pass()
	}}
	if st, err = Judge(context.Background(), env, 0, 2, "", Config{}); err != nil || st.Verdict != Skip {
		t.Fatalf("err %v %+v", err, st)
	}
}
