package matrix

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// hugePlan is a plan of configs x 6 x 1000 cells.
func hugePlan(configs int) string {
	var b strings.Builder
	b.WriteString("arches: [x86_64, arm64]\naccels: [auto, kvm, tcg]\nrepeats: 1000\nconfigs:\n")
	for i := 0; i < configs; i++ {
		fmt.Fprintf(&b, "  - [frag%d]\n", i)
	}
	return b.String()
}

// TestPlanCellCap: plans of 12,000 and 6 million cells are refused at once
// with a TooManyCellsError naming the count, before any cell is made; the
// cap itself is a plan that expands.
func TestPlanCellCap(t *testing.T) {
	for _, configs := range []int{2, 1000} {
		start := time.Now()
		p, err := Parse("huge.yaml", []byte(hugePlan(configs)), Check{})
		var tm *TooManyCellsError
		if !errors.As(err, &tm) || !IsPlanError(err) {
			t.Fatalf("%d configs: Parse = %v, want a TooManyCellsError as a plan error", configs, err)
		}
		if want := uint64(configs * 6000); tm.Cells != want || !strings.Contains(err.Error(), fmt.Sprint(want)) {
			t.Errorf("%d configs: error %q, want it to name %d cells", configs, err, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%d configs: refused after %v", configs, d)
		}
		_ = p
	}
	ok := "arches: [x86_64]\naccels: [tcg]\nrepeats: 1000\nconfigs: [[a], [b], [c], [d], [e], [f], [g], [h], [i], [j]]\n"
	p, err := Parse("max.yaml", []byte(ok), Check{})
	if err != nil {
		t.Fatalf("a plan of exactly %d cells: %v", MaxCells, err)
	}
	if specs, err := p.Expand(); err != nil || len(specs) != MaxCells {
		t.Errorf("a plan of exactly %d cells expands to %d, %v", MaxCells, len(specs), err)
	}
}

// TestPlanCellIDTooLong: a fragment name that makes a cell ID longer than
// a directory name may be is a plan error, not a failure at mkdir time.
func TestPlanCellIDTooLong(t *testing.T) {
	plan := "arches: [x86_64]\nconfigs: [[" + strings.Repeat("f", 300) + "]]\n"
	_, err := Parse("long.yaml", []byte(plan), Check{})
	if !IsPlanError(err) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("Parse = %v, want a plan error about the ID's length", err)
	}
}

// TestPlanSpecialFile: a FIFO, a directory or /dev/zero as the plan is a
// plan error at once; a plan over MaxPlanBytes is refused by size.
func TestPlanSpecialFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "plan.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("arches: [x86_64]\n"+strings.Repeat("#\n", MaxPlanBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, dir, "/dev/zero", big} {
		err := timebox.Call(t, 2*time.Second, "Load "+p, func() error { _, err := Load(p, Check{}); return err })
		if !IsPlanError(err) || !safefile.IsRefused(err) || !strings.Contains(err.Error(), p) {
			t.Errorf("Load(%s) = %v, want a plan error naming it", p, err)
		}
	}
}
