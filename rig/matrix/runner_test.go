package matrix

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// fakeExec is the Executor of the orchestration tests: it
// counts concurrent calls overall and per kernel, writes a console.log like
// the real one, and decides each cell with a function of the spec.
type fakeExec struct {
	// hold keeps a call running until this many calls run at once (or
	// holdFor passes), so the concurrency bound is reached deterministically.
	hold    int
	holdFor time.Duration // default 1s
	// decide returns the cell's verdict; block makes the call wait for ctx.
	decide func(s Spec) (st result.Status, block bool)
	// onStart runs at the start of each call.
	onStart func(s Spec, dir string)

	mu          sync.Mutex
	arrived     sync.Cond // on mu: a call started
	running     int
	maxRunning  int
	perKernel   map[string]int
	kernelClash []string
	order       map[string][]string // kernel key -> cell IDs in call order
	calls       int
}

func (f *fakeExec) RunCell(ctx context.Context, s Spec, dir string) result.Cell {
	k := KernelKey(s)
	f.mu.Lock()
	if f.perKernel == nil {
		f.perKernel, f.order = map[string]int{}, map[string][]string{}
	}
	if f.arrived.L == nil {
		f.arrived.L = &f.mu
	}
	f.calls++
	f.running++
	f.arrived.Broadcast()
	f.maxRunning = max(f.maxRunning, f.running)
	f.perKernel[k]++
	if f.perKernel[k] > 1 {
		f.kernelClash = append(f.kernelClash, s.ID)
	}
	f.order[k] = append(f.order[k], s.ID)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.perKernel[k]--
		f.mu.Unlock()
	}()
	if f.onStart != nil {
		f.onStart(s, dir)
	}
	_ = os.WriteFile(filepath.Join(dir, "console.log"), []byte("Linux version 6.12 fake\n"+s.ID+"\n"), 0o644)

	holdFor := f.holdFor
	if holdFor == 0 {
		holdFor = time.Second
	}
	if f.hold > 0 {
		// A barrier: wait until hold calls run at once, woken by each
		// arrival; the bound only ends the wait of a scheduler that
		// never starts that many.
		expired := false
		timer := time.AfterFunc(holdFor, func() {
			f.mu.Lock()
			expired = true
			f.arrived.Broadcast()
			f.mu.Unlock()
		})
		f.mu.Lock()
		for f.running < f.hold && !expired {
			f.arrived.Wait()
		}
		f.mu.Unlock()
		timer.Stop()
	}
	st, block := result.Pass, false
	if f.decide != nil {
		st, block = f.decide(s)
	}
	if block {
		<-ctx.Done()
		return result.Cell{Status: result.InfraError, Cause: "qemu: killed"}
	}
	c := result.Cell{Status: st, Accel: "tcg", Tests: []result.Test{{Name: "robust-owner-death", Status: "pass"}}}
	if st == result.Fail {
		c.Cause = "robust-owner-death: OWNER_DIED on a word nobody owned"
		c.Tests[0].Status = "fail"
	}
	return c
}

func newRun(t *testing.T) (string, *result.Run) {
	t.Helper()
	id, dir, err := result.NewRunDir(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return dir, &result.Run{ID: id, Command: []string{"rig", "matrix", "test"}, Started: time.Now()}
}

func TestJobsBound(t *testing.T) {
	specs := specsOf(t, bigPlan) // 6 groups
	for _, jobs := range []int{1, 2, 3, 6} {
		t.Run(fmt.Sprint(jobs), func(t *testing.T) {
			f := &fakeExec{hold: jobs, holdFor: 200 * time.Millisecond}
			dir, r := newRun(t)
			if err := (&Runner{Exec: f, Jobs: jobs}).Run(context.Background(), specs, dir, r); err != nil {
				t.Fatal(err)
			}
			if f.maxRunning != jobs {
				t.Errorf("-j %d: at most %d cells ran at once", jobs, f.maxRunning)
			}
			if f.calls != len(specs) {
				t.Errorf("%d calls for %d cells", f.calls, len(specs))
			}
			if r.Status != result.Pass || len(r.Cells) != len(specs) {
				t.Errorf("run %s with %d cells", r.Status, len(r.Cells))
			}
		})
	}
}

func TestSameKernelNeverConcurrent(t *testing.T) {
	// 2 groups (arches) of 24 cells: series, accels, repeats share a kernel.
	specs := specsOf(t, "arches: [x86_64, arm64]\naccels: [tcg, auto, kvm]\nseries: [\"\", fix-a]\nrepeats: 4\n")
	// Holding each call for a while gives a scheduler that wrongly starts
	// cells of one kernel together every chance to be caught.
	f := &fakeExec{hold: 8, holdFor: 20 * time.Millisecond}
	dir, r := newRun(t)
	if err := (&Runner{Exec: f, Jobs: 8}).Run(context.Background(), specs, dir, r); err != nil {
		t.Fatal(err)
	}
	if len(f.kernelClash) > 0 {
		t.Errorf("cells of one kernel ran at once: %v", f.kernelClash)
	}
	if f.maxRunning != 2 {
		t.Errorf("max %d at once, want 2 (one per kernel group)", f.maxRunning)
	}
	for _, g := range Groups(specs) {
		if got := f.order[KernelKey(g[0])]; fmt.Sprint(got) != fmt.Sprint(ids(g)) {
			t.Errorf("group ran out of ID order: %v", got)
		}
	}
}

func TestRunWritesResults(t *testing.T) {
	specs := specsOf(t, "arches: [x86_64, arm64]\nconfigs: [[], [debug]]\n")
	f := &fakeExec{decide: func(s Spec) (result.Status, bool) {
		if s.ID == "arm64-auto-debug-unpatched-r1" {
			return result.Fail, false
		}
		return result.Pass, false
	}}
	dir, r := newRun(t)
	if err := (&Runner{Exec: f, Jobs: 2}).Run(context.Background(), specs, dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != result.Fail || got.Finished.IsZero() || len(got.Cells) != 4 {
		t.Fatalf("run.json: %s, finished %v, %d cells", got.Status, got.Finished, len(got.Cells))
	}
	for _, c := range got.Cells {
		if c.Arch == "" || c.Config == "" || c.Status == "" {
			t.Errorf("cell %+v", c)
		}
		if _, err := os.Stat(filepath.Join(dir, c.ID, "console.log")); err != nil {
			t.Errorf("cell directory: %v", err)
		}
	}
	if got.Cells[0].Config != "base+arm64" || got.Cells[1].Config != "base+arm64+debug" {
		t.Errorf("configs %q %q", got.Cells[0].Config, got.Cells[1].Config)
	}
	for _, f := range []string{"summary.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestCancel(t *testing.T) {
	// 2 groups of 3 cells (repeats). r1 passes; r2 blocks until cancelled;
	// r3 never starts.
	specs := specsOf(t, "arches: [x86_64, arm64]\nrepeats: 3\n")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	dir, r := newRun(t)
	var blocked sync.WaitGroup
	blocked.Add(2)
	var seenBefore []string
	var mu sync.Mutex
	f := &fakeExec{
		decide: func(s Spec) (result.Status, bool) {
			if s.Repeat == 2 {
				blocked.Done()
				return "", true
			}
			return result.Pass, false
		},
		onStart: func(s Spec, _ string) {
			if s.Repeat != 2 {
				return
			}
			// run.json already holds the group's finished r1.
			on, err := result.Load(dir)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range on.Cells {
				if c.Status == result.Pass {
					seenBefore = append(seenBefore, c.ID)
				}
			}
		},
	}
	go func() {
		blocked.Wait()
		cancel(errors.New("interrupt"))
	}()
	done := make(chan error)
	go func() { done <- (&Runner{Exec: f, Jobs: 2}).Run(ctx, specs, dir, r) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	got, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != result.Interrupted || got.Cause != "interrupted (interrupt)" {
		t.Errorf("run %s: %s", got.Status, got.Cause)
	}
	want := map[int]result.Status{1: result.Pass, 2: result.Interrupted, 3: result.Interrupted}
	rep := map[string]int{}
	for _, s := range specs {
		rep[s.ID] = s.Repeat
	}
	for _, c := range got.Cells {
		if c.Status != want[rep[c.ID]] {
			t.Errorf("%s: %s, want %s", c.ID, c.Status, want[rep[c.ID]])
		}
		if rep[c.ID] == 3 {
			if _, err := os.Stat(filepath.Join(dir, c.ID)); err == nil {
				t.Errorf("%s started after the cancel", c.ID)
			}
		}
	}
	if f.calls != 4 {
		t.Errorf("%d calls, want 4 (r1 and r2 of both groups)", f.calls)
	}
	if len(seenBefore) < 1 {
		t.Errorf("run.json was not updated as cells finished")
	}
	for _, name := range []string{"summary.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestEmptyShardPasses(t *testing.T) {
	dir, r := newRun(t)
	if err := (&Runner{Exec: &fakeExec{}, Jobs: 2}).Run(context.Background(), nil, dir, r); err != nil {
		t.Fatal(err)
	}
	if r.Status != result.Pass {
		t.Errorf("empty run: %s", r.Status)
	}
}

func TestNoVerdictIsInfra(t *testing.T) {
	specs := specsOf(t, "{}")
	dir, r := newRun(t)
	f := &fakeExec{decide: func(Spec) (result.Status, bool) { return "", false }}
	if err := (&Runner{Exec: f, Jobs: 1}).Run(context.Background(), specs, dir, r); err != nil {
		t.Fatal(err)
	}
	if r.Cells[0].Status != result.InfraError || r.Status != result.InfraError {
		t.Errorf("%+v", r.Cells[0])
	}
}

func TestJobsFor(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		cpus  int
		avail int64
		guest int
		want  int
	}{
		{2, 24 * gib, 512, 2},
		{16, 10 * gib, 512, 4},  // 10 GiB / 2.5 GiB
		{16, 10 * gib, 2048, 2}, // 10 GiB / 4 GiB
		{4, 1 * gib, 512, 1},    // never 0
		{8, 0, 512, 8},          // memory unknown: CPUs
	} {
		if got := jobsFor(tc.cpus, tc.avail, tc.guest); got != tc.want {
			t.Errorf("jobsFor(%d, %d GiB, %d MiB) = %d, want %d", tc.cpus, tc.avail/gib, tc.guest, got, tc.want)
		}
	}
	if DefaultJobs(512) < 1 {
		t.Error("DefaultJobs < 1")
	}
}
