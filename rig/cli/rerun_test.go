package cli

import (
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// TestCompareVerdicts: each repeated cell's recorded verdict is printed
// beside the new one, matched by id (or by --cell, whose cell the rerun
// may name otherwise).
func TestCompareVerdicts(t *testing.T) {
	orig := &result.Run{ID: "old", Cells: []result.Cell{
		{ID: "x86_64-baseline", Role: "baseline", Status: result.Fail, Cause: "test a failed: x"},
		{ID: "x86_64", Status: result.Pass},
	}}
	now := &result.Run{ID: "new", Cells: []result.Cell{
		{ID: "x86_64-baseline", Role: "baseline", Status: result.Pass},
		{ID: "x86_64", Status: result.Fail, Cause: "test a failed: y"},
	}}
	want := "rerun of old:\n  x86_64-baseline: was FAIL (test a failed: x), now PASS\n  x86_64: was PASS, now FAIL (test a failed: y)\n"
	if got := compareVerdicts(orig, now, ""); got != want {
		t.Errorf("whole run:\n got %q\nwant %q", got, want)
	}
	one := &result.Run{ID: "new", Cells: []result.Cell{{ID: "x86_64", Status: result.Pass}}}
	if got := compareVerdicts(orig, one, "x86_64-baseline"); !strings.Contains(got, "x86_64-baseline: was FAIL (test a failed: x), now PASS") {
		t.Errorf("--cell of a baseline: %q", got)
	}
}
