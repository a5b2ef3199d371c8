package run

import (
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

func TestLabel(t *testing.T) {
	base := []result.Test{
		{Name: "a", Status: "fail"}, {Name: "b", Status: "pass"}, {Name: "c", Status: "fail"},
		{Name: "d", Status: "pass"}, {Name: "e", Status: "error"}, {Name: "f", Status: "skip"},
	}
	patched := []result.Test{
		{Name: "a", Status: "pass"}, {Name: "b", Status: "fail"}, {Name: "c", Status: "fail"},
		{Name: "d", Status: "pass"}, {Name: "e", Status: "pass"}, {Name: "f", Status: "pass"},
		{Name: "g", Status: "pass"},
	}
	Label(&base, &patched)
	want := map[string]string{"a": LabelFixed, "b": LabelRegressed, "c": LabelStillFailing, "d": LabelPassing,
		"e": LabelUndecided, "f": LabelPassing, "g": LabelUndecided}
	for _, tr := range patched {
		if tr.Label != want[tr.Name] {
			t.Errorf("%s: label %q, want %q", tr.Name, tr.Label, want[tr.Name])
		}
	}
}

func TestCompareNatural(t *testing.T) {
	ev := func(k, c string) map[string]string {
		return map[string]string{"natural_kills": k, "natural_corruptions": c}
	}
	tests := []struct {
		base, patched map[string]string
		want          []string // substrings; nil means ""
	}{
		{ev("412", "37"), ev("3000", "0"), []string{"baseline 37 of 412 kills corrupted (9.0%)", "patched 0 of 3000 kills corrupted, below 0.10% at 95%"}},
		{ev("100", "50"), ev("100", "49"), []string{"(50%)", "49 of 100 kills corrupted (49%)"}},
		{ev("10", "1"), ev("0", "0"), []string{"no kills (no evidence either way)"}},
		{ev("10", "1"), nil, nil},
		{map[string]string{"natural_kills": "x", "natural_corruptions": "1"}, ev("1", "0"), nil},
	}
	for i, tc := range tests {
		got := CompareNatural(result.Test{Evidence: tc.base}, result.Test{Evidence: tc.patched})
		if tc.want == nil {
			if got != "" {
				t.Errorf("%d: %q, want empty", i, got)
			}
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%d: %q does not contain %q", i, got, w)
			}
		}
	}
}

// A baseline cell is context: the run's verdict is the patched cell's.
func TestFinishIgnoresBaseline(t *testing.T) {
	r := &result.Run{Cells: []result.Cell{
		{ID: "x86_64-baseline", Role: "baseline", Status: result.Fail, Cause: "test robust-unmap-remap failed"},
		{ID: "x86_64", Status: result.Pass},
	}}
	r.Finish(r.Started)
	if r.Status != result.Pass {
		t.Errorf("status %s (%s), want pass", r.Status, r.Cause)
	}
	r.Cells[1].Status, r.Cells[1].Cause = result.BuildError, "boom"
	r.Status = ""
	r.Finish(r.Started)
	if r.Status != result.BuildError || r.Cause != "boom" {
		t.Errorf("status %s (%s), want build-error", r.Status, r.Cause)
	}
}
