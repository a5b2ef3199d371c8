package run

import (
	"context"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// badPatchEnv is fakeEnv with a series whose patch bad does not apply.
type badPatchEnv struct {
	*fakeEnv
	bad string
}

func (e badPatchEnv) Apply(ctx context.Context, c *cell, patches []patch.Patch) ([]patch.Applied, string, error) {
	e.call("apply " + c.res.ID)
	var applied []patch.Applied
	for i, p := range patches {
		if p.Name == e.bad {
			applied = append(applied, patch.Applied{Patch: p, State: patch.StateFailed})
			for _, q := range patches[i+1:] {
				applied = append(applied, patch.Applied{Patch: q, State: patch.StateNotTried})
			}
			return applied, "", &patch.PatchError{Patch: p.Name, Reason: "patch does not apply"}
		}
		applied = append(applied, patch.Applied{Patch: p, State: patch.StateApplied})
	}
	return applied, "tree-fake", nil
}

// A prefix that does not apply fails the apply; the prefixes after it are
// not tried (no apply, no build, no boot) and say which patch stopped them;
// the prefixes before it run, and their causes name their prefix.
func TestEachPatchNotTried(t *testing.T) {
	series := []patch.Patch{{Name: "0001-a.patch", Subject: "a"}, {Name: "0002-b.patch", Subject: "b"}, {Name: "0003-c.patch"}, {Name: "0004-d.patch"}}
	specs, err := Options{Arches: []string{"x86_64"}, Accels: []string{"tcg"}, EachPatch: true, Series: "s", Patches: series}.specs()
	if err != nil {
		t.Fatal(err)
	}
	env := badPatchEnv{&fakeEnv{events: testEvents("fail", "word 0x80000025 names the unlocker"), outcome: poweredOff}, "0003-c.patch"}
	cells := runCells(t, context.Background(), env, specs)
	for _, c := range cells {
		t.Logf("%s: %s %s (not tried %v)", c.res.ID, c.res.Status, c.res.Cause, c.res.NotTried)
	}
	if env.called("apply x86_64-p4") || env.boots != 2 {
		t.Errorf("calls %q: want p4 never applied and two boots (p1, p2)", env.calls)
	}
	if got := cells[1].res; got.Prefix != 2 || got.PrefixOf != 4 || got.PatchName != "0002-b.patch" || got.PatchSubject != "b" {
		t.Errorf("p2 recorded as prefix %d/%d %q %q", got.Prefix, got.PrefixOf, got.PatchName, got.PatchSubject)
	}
	if got := cells[1].res.Cause; got != "after patch 2/4 (0002-b.patch): test pi-giveup failed: word 0x80000025 names the unlocker" {
		t.Errorf("p2 cause %q", got)
	}
	if got := cells[2].res; got.Status != result.PatchError || got.NotTried {
		t.Errorf("p3 %s (not tried %v), want the patch error itself", got.Status, got.NotTried)
	}
	p4 := cells[3].res
	if p4.Status != result.PatchError || !p4.NotTried || p4.Cause != "not tried: patch 3 (0003-c.patch) does not apply" {
		t.Errorf("p4 %s %q (not tried %v)", p4.Status, p4.Cause, p4.NotTried)
	}
	if len(p4.Patches) != 4 || p4.Patches[0].State != "not-tried" || len(p4.Stages) != 0 {
		t.Errorf("p4 patches %+v stages %+v: want all four not tried and no stage", p4.Patches, p4.Stages)
	}
}

// --each-patch without a series is a usage error.
func TestEachPatchNeedsSeries(t *testing.T) {
	o := Options{EachPatch: true, Root: "../..", Cache: t.TempDir(), KernelSrc: "debian"}
	err := Prepare(&o)
	if _, ok := err.(*UsageError); !ok || !strings.Contains(err.Error(), "--each-patch needs --series") {
		t.Errorf("Prepare: %v, want a usage error", err)
	}
}
