package unmapremap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/guest/stress/robust"
)

// The host kernel (6.18.44) has no fix: the deterministic trials must show
// the corruption and the controls must stay clean.
func TestUnmapRemapHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	o := runDeterministic(ctx, stress.Env{Seed: 1})
	t.Logf("%s in %v: %s %v", o.Status, time.Since(start), o.Reason, o.Evidence)
	if strings.HasPrefix(o.Evidence["vdso_robust_unlock"], "yes") {
		t.Skip("this kernel has the FUTEX_ROBUST_UNLOCK vDSO: the classic-sequence expectation does not hold")
	}
	if o.Status != event.Fail || o.Evidence["det_corrupted"] != o.Evidence["det_trials"] {
		t.Fatalf("want fail with every window trial corrupted on this kernel, got %s: %s %v", o.Status, o.Reason, o.Evidence)
	}
}

// The whole test (both modes, a short natural run) on this kernel: one
// fail naming both modes' counts.
func TestUnmapRemapBothHost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the natural mode")
	}
	if robust.VDSOTryUnlockAddr() != 0 {
		t.Skip("this kernel has the FUTEX_ROBUST_UNLOCK vDSO")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := run(ctx, stress.Env{Seed: 7, Duration: 3 * time.Second})
	t.Logf("%s: %s", o.Status, o.Reason)
	if o.Status != event.Fail || !strings.Contains(o.Reason, "deterministic: 5/5 trials corrupted; natural: ") {
		t.Fatalf("got %s %q %v", o.Status, o.Reason, o.Evidence)
	}
	for _, k := range []string{"det_trials", "det_corrupted", "natural_kills", "natural_corruptions", "natural_iterations",
		"natural_control_kills", "natural_control_corruptions", "unlock_impl", "seed"} {
		if o.Evidence[k] == "" {
			t.Errorf("evidence lacks %s: %v", k, o.Evidence)
		}
	}
	if o.Evidence["natural_control_corruptions"] != "0" {
		t.Errorf("natural control corrupted: %v", o.Evidence)
	}
}

// The control variant alone must always be clean.
func TestUnmapRemapControlHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		tr, skipWhy, err := runTrial(ctx, controlMode)
		if skipWhy != "" || err != nil {
			t.Fatalf("control trial: skip %q, err %v", skipWhy, err)
		}
		if tr.changed() || tr.otherChanged() {
			t.Fatalf("control trial changed the file: %v", tr.evidence())
		}
	}
}

func TestJudge(t *testing.T) {
	clean := func(mode string) trial {
		return trial{Mode: mode, TID: 37, Before: 37, After: 37, OtherBefore: 37, OtherAt: 37, FileOff: 264}
	}
	hit := clean(windowMode)
	hit.After = 0x40000000
	hitTID := clean(windowMode)
	hitTID.After = 37 | 0x40000000
	badCtl := clean(controlMode)
	badCtl.After = 0x40000000
	stray := clean(windowMode)
	stray.OtherAt = 0x40000025

	for _, c := range []struct {
		name   string
		trials []trial
		status string
		reason string
	}{
		{"all clean", []trial{clean(windowMode), clean(controlMode)}, event.Pass, "untouched"},
		{"corrupted", []trial{hit, clean(controlMode), clean(windowMode)}, event.Fail, "1/2 trials"},
		{"corrupted keeping tid", []trial{hitTID, clean(controlMode)}, event.Fail, "OWNER_DIED"},
		{"control hit", []trial{hit, badCtl}, event.Error, "detector is wrong"},
		{"stray write", []trial{stray}, event.Fail, "never used"},
		{"nothing", nil, event.Error, "no trials"},
	} {
		o := judge(c.trials)
		if o.Status != c.status || !strings.Contains(o.Reason, c.reason) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.name, o.Status, o.Reason, c.status, c.reason)
		}
	}
	o := judge([]trial{hit})
	for _, k := range []string{"addr", "file_offset", "before", "after"} {
		if o.Evidence[k] == "" {
			t.Errorf("fail evidence lacks %s: %v", k, o.Evidence)
		}
	}
}
