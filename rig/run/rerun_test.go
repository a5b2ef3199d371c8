package run

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// recordedRun is a `rig run --series` of two arches with baselines, as
// run.json records it.
func recordedRun() *result.Run {
	in := func(series string, baseline bool) *result.Inputs {
		return &result.Inputs{Series: series, Configs: []string{"debug"}, Tests: []string{"robust-unmap-remap"}, Duration: 3 * time.Second,
			MinKills: 50, Accel: "auto", CPUs: 2, MemoryMB: 768, BootTimeout: time.Minute, EventTimeout: 10 * time.Second, Baseline: baseline}
	}
	base := &result.Base{Commit: "c0ffee", Tree: "7ree", Why: "not stated: tested on Debian"}
	cell := func(id, arch, role string, inputs *result.Inputs) result.Cell {
		return result.Cell{ID: id, Arch: arch, Accel: "tcg", Role: role, Seed: 1234, Base: base, Inputs: inputs, Status: result.Fail}
	}
	return &result.Run{ID: "20261207-120000-abcdef", Seed: 1234, Command: []string{"rig", "run", "--series", "p"}, Cells: []result.Cell{
		cell("x86_64-debug-baseline", "x86_64", "baseline", in("", false)),
		cell("x86_64-debug", "x86_64", "", in("/abs/patches/fix", true)),
		cell("arm64-debug-baseline", "arm64", "baseline", in("", false)),
		cell("arm64-debug", "arm64", "", in("/abs/patches/fix", true)),
	}}
}

// TestRerunOptions: the options of a rerun come from the recorded cells,
// the tree pinned to the commit they checked out; what one run cannot
// repeat is refused with what to do.
func TestRerunOptions(t *testing.T) {
	o, cells, err := RerunOptions(recordedRun(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 2 || cells[0].ID != "x86_64-debug" || cells[1].ID != "arm64-debug" {
		t.Errorf("repeats %v, want the patched cells", cells)
	}
	want := Options{KernelSrc: source.DefaultName, Committed: true, Series: "/abs/patches/fix", Configs: []string{"debug"},
		Tests: []string{"robust-unmap-remap"}, Duration: 3 * time.Second, MinKills: 50, CPUs: 2, MemoryMB: 768, BootTimeout: time.Minute,
		EventTimeout: 10 * time.Second, Seed: 1234, Arches: []string{"x86_64", "arm64"}, Accels: []string{"tcg"}, Baseline: true}
	checkOptions(t, "whole run", o, want)
	if o.Input == nil || o.Input.Base != "c0ffee" || !strings.Contains(o.Input.By, "rig rerun of 20261207-120000-abcdef") {
		t.Errorf("the tree is not pinned to the recorded commit: %+v", o.Input)
	}

	// One cell: a baseline is its tree without the series, alone.
	o, _, err = RerunOptions(recordedRun(), "arm64-debug-baseline")
	if err != nil {
		t.Fatal(err)
	}
	want.Series, want.Arches, want.Baseline = "", []string{"arm64"}, false
	checkOptions(t, "baseline cell", o, want)
	// A patched cell runs without its baseline.
	o, _, _ = RerunOptions(recordedRun(), "x86_64-debug")
	want.Series, want.Arches = "/abs/patches/fix", []string{"x86_64"}
	checkOptions(t, "patched cell", o, want)

	// A range names its commits: they are resolved again, not pinned.
	r := recordedRun()
	for i := range r.Cells {
		b := *r.Cells[i].Base
		b.Range = "v1..v2 (2 commits on c0ffee)"
		r.Cells[i].Base = &b
	}
	if o, _, err := RerunOptions(r, "x86_64-debug"); err != nil || o.Input != nil {
		t.Errorf("range series: input %+v, err %v", o.Input, err)
	}

	for _, tc := range []struct {
		name, cell, want string
		edit             func(r *result.Run)
	}{
		{"unknown cell", "riscv", `no cell "riscv" in run 20261207-120000-abcdef (its cells: x86_64-debug-baseline, x86_64-debug, arm64-debug-baseline, arm64-debug)`, nil},
		{"a record from before rerun", "", "no recorded inputs (run.json from a rig before rerun): repeat its command by hand: rig run --series p",
			func(r *result.Run) { r.Cells[3].Inputs = nil }},
		{"a cell that never opened its tree", "x86_64-debug", "never checked its tree out",
			func(r *result.Run) { r.Cells[1].Base = nil }},
		{"a rig boot", "x86_64-debug", "booted a kernel it did not build (rig boot): there is no tree to build again; run its reproduce.sh, or rig boot --kernel /k/bzImage",
			func(r *result.Run) { r.Cells[1].Base, r.Cells[1].KernelImage = nil, "/k/bzImage" }},
		{"a matrix's cells", "", "its cells differ in configs (x86_64-debug, arm64-debug): rerun one of them with --cell ID",
			func(r *result.Run) { r.Cells[3].Inputs.Configs = []string{"kasan"} }},
		{"cells with their own seeds", "", "differ in seed",
			func(r *result.Run) { r.Cells[3].Seed = 99 }},
	} {
		r := recordedRun()
		if tc.edit != nil {
			tc.edit(r)
		}
		if _, _, err := RerunOptions(r, tc.cell); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func checkOptions(t *testing.T, name string, got, want Options) {
	t.Helper()
	if got.KernelSrc != want.KernelSrc || got.Committed != want.Committed || got.Series != want.Series || !slices.Equal(got.Configs, want.Configs) ||
		!slices.Equal(got.Tests, want.Tests) || got.Duration != want.Duration || got.MinKills != want.MinKills || got.CPUs != want.CPUs ||
		got.MemoryMB != want.MemoryMB || got.BootTimeout != want.BootTimeout || got.EventTimeout != want.EventTimeout || got.Seed != want.Seed || !slices.Equal(got.Arches, want.Arches) ||
		!slices.Equal(got.Accels, want.Accels) || got.Baseline != want.Baseline {
		t.Errorf("%s: options\n got %+v\nwant %+v", name, got, want)
	}
}

// TestRerunRefusesAMovedTree: the tree the run tested must be where it
// was; the rig never repeats a run on another tree.
func TestRerunRefusesAMovedTree(t *testing.T) {
	c := recordedRun().Cells[1]
	err := checkTree(context.Background(), Options{KernelSrc: t.TempDir() + "/linux-moved", Cache: t.TempDir()}, c)
	if err == nil || !strings.Contains(err.Error(), "linux-moved, is not there any more (moved or deleted)") {
		t.Errorf("error %v", err)
	}
}

// TestHostDiffers: a recorded compiler or QEMU that is not the host's is
// named; the same ones are not.
func TestHostDiffers(t *testing.T) {
	c := recordedRun().Cells[1]
	c.Compiler, c.QEMUVersion = "gcc (Fake) 1.0", "0.1 (fake)"
	w := strings.Join(HostDiffers(context.Background(), []result.Cell{c}), "\n")
	if !strings.Contains(w, `the compiler differs from the recorded run's ("gcc (Fake) 1.0"`) {
		t.Errorf("no compiler warning: %s", w)
	}
	a, _ := arch.Lookup("x86_64")
	c.Compiler = CompilerVersion(a)
	if c.Compiler == "" {
		t.Skip("no gcc on this host")
	}
	if w := HostDiffers(context.Background(), []result.Cell{c}); len(w) > 1 || len(w) == 1 && !strings.Contains(w[0], "QEMU differs") {
		t.Errorf("warnings for the host's own compiler: %q", w)
	}
}

// TestRerunChecksTheTree: the recorded commit must still be in the
// tree's repository with the recorded tree hash.
func TestRerunChecksTheTree(t *testing.T) {
	top, base, tip := gitKernelTree(t)
	out, err := exec.Command("git", "-C", top, "rev-parse", tip+"^{tree}").Output()
	if err != nil {
		t.Fatal(err)
	}
	tree := strings.TrimSpace(string(out))
	o := Options{KernelSrc: top, Cache: t.TempDir()}
	check := func(b result.Base) error {
		return checkTree(context.Background(), o, result.Cell{Base: &b})
	}
	if err := check(result.Base{Commit: tip, Tree: tree}); err != nil {
		t.Errorf("the recorded commit and tree: %v", err)
	}
	gone := "0123456789abcdef0123456789abcdef01234567"
	if err := check(result.Base{Commit: gone, Head: base, Dirty: true}); err == nil ||
		!strings.Contains(err.Error(), "the snapshot 0123456789ab of the uncommitted changes then on HEAD "+base[:12]+" is not in") {
		t.Errorf("a pruned snapshot: %v", err)
	}
	if err := check(result.Base{Commit: tip, Tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904"}); err == nil ||
		!strings.Contains(err.Error(), "has tree "+tree[:12]+", the run tested 4b825dc642cb") {
		t.Errorf("another tree under the commit: %v", err)
	}
}

// TestRerunExtras: the programs, overlay, kernel and QEMU arguments the
// run added come back, and a rerun refuses them changed or gone.
func TestRerunExtras(t *testing.T) {
	r := recordedRun()
	overlay := t.TempDir()
	os.WriteFile(filepath.Join(overlay, "data"), []byte("v1"), 0o644)
	r.Exec = []result.Program{{Name: "robust-mutex", Path: "/abs/robust-mutex-x86_64", Arch: "x86_64"}}
	r.Overlay = &result.Overlay{Dir: overlay}
	r.Append, r.QEMUArgs = "loglevel=8", []string{"-d", "guest_errors"}
	o, _, err := RerunOptions(r, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Exec, []string{"/abs/robust-mutex-x86_64"}) || o.Overlay != overlay || o.Append != "loglevel=8" || !slices.Equal(o.QEMUArgs, []string{"-d", "guest_errors"}) {
		t.Errorf("extras %q %q %q %q", o.Exec, o.Overlay, o.Append, o.QEMUArgs)
	}
	if err := sameExtras(r, &o); err == nil || !strings.Contains(err.Error(), "/abs/robust-mutex-x86_64") {
		t.Errorf("a program that is gone: %v", err)
	}
	o.Exec, r.Exec = nil, nil
	if err := o.checkExtras(); err != nil {
		t.Fatal(err)
	}
	r.Overlay.Key = o.overlayKey
	if err := sameExtras(r, &o); err != nil {
		t.Errorf("the same overlay: %v", err)
	}
	os.WriteFile(filepath.Join(overlay, "data"), []byte("v2"), 0o644)
	if err := sameExtras(r, &o); err == nil || !strings.Contains(err.Error(), "the overlay "+overlay+" changed since the run") {
		t.Errorf("a changed overlay: %v", err)
	}
}
