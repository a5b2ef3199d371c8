package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// runCells runs specs as Run does (runScheduled) against env and returns
// the cells.
func runCells(t *testing.T, ctx context.Context, env Env, specs []Spec) []*cell {
	t.Helper()
	dir := t.TempDir()
	o := Options{Duration: time.Second, Seed: 7, BootTimeout: time.Minute, Cache: t.TempDir(), Root: "../..", UI: ui.Discard()}
	rec := &record{run: &result.Run{ID: "r"}, dir: dir}
	cells := make([]*cell, len(specs))
	for i, s := range specs {
		c, err := newCell(o, s, rec, filepath.Join(dir, s.ID))
		if err != nil {
			t.Fatal(err)
		}
		c.env, cells[i] = env, c
	}
	runScheduled(ctx, cells)
	namePrefixes(cells)
	return cells
}

// Each arch's cells prepare in order; no cell boots before every cell is
// prepared; each arch's boots go one at a time in cell order, the arches
// side by side.
func TestSchedule(t *testing.T) {
	specs := []Spec{{ID: "x-baseline", Arch: "x86_64", Role: "baseline"}, {ID: "x", Arch: "x86_64"},
		{ID: "a-baseline", Arch: "arm64", Role: "baseline"}, {ID: "a", Arch: "arm64"}}
	for range 5 { // goroutines interleave differently each time
		env := &fakeEnv{slowArch: "arm64", outcome: poweredOff, bootHold: 200 * time.Millisecond}
		runCells(t, context.Background(), env, specs)
		var prep, boots []string
		for _, c := range env.calls {
			switch strings.Fields(c)[0] {
			case "source":
				if len(boots) > 0 {
					t.Fatalf("a boot before every cell was prepared: %q", env.calls)
				}
				prep = append(prep, c)
			case "boot", "end":
				boots = append(boots, c)
			}
		}
		if slices.Index(prep, "source x-baseline") > slices.Index(prep, "source x") ||
			slices.Index(prep, "source a-baseline") > slices.Index(prep, "source a") {
			t.Errorf("an arch's cells prepared out of order: %q", prep)
		}
		in, overlap := map[string]int{}, false
		for _, b := range boots {
			kind, a, _ := strings.Cut(b, " ")
			if kind == "end" {
				in[a]--
				continue
			}
			if in[a]++; in[a] > 1 {
				t.Errorf("two %s boots at once: %q", a, boots)
			}
			overlap = overlap || in["x86_64"]+in["arm64"] > 1
		}
		if !overlap {
			t.Errorf("the arches booted one after the other: %q", boots)
		}
	}
}

// Ctrl-C during the first boots: the cells waiting their turn never boot,
// and every goroutine returns.
func TestScheduleInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := &fakeEnv{interrupt: cancel}
	cells := runCells(t, ctx, env, []Spec{{ID: "x1", Arch: "x86_64"}, {ID: "x2", Arch: "x86_64"}, {ID: "a1", Arch: "arm64"}, {ID: "a2", Arch: "arm64"}})
	if env.boots < 1 || env.boots > 2 {
		t.Errorf("%d boots after the interrupt, want one or two (an arch's first): %q", env.boots, env.calls)
	}
	for _, i := range []int{1, 3} {
		if cells[i].res.Status != "" {
			t.Errorf("%s, which never booted, has verdict %q", cells[i].res.ID, cells[i].res.Status)
		}
	}
}

// A patched cell's tests are labelled against its arch's baseline.
func TestScheduleLabelsTwins(t *testing.T) {
	env := &fakeEnv{events: testEvents("fail", "word 0x80000025 names the unlocker"), outcome: poweredOff}
	cells := runCells(t, context.Background(), env, []Spec{{ID: "x-baseline", Arch: "x86_64", Role: "baseline"}, {ID: "x", Arch: "x86_64"}})
	if got := cells[1].res.Tests; len(got) != 1 || got[0].Label == "" {
		t.Fatalf("patched cell's tests %+v: want one labelled test", got)
	}
	if got := cells[1].res.Tests[0].Label; got != "still-failing" {
		t.Errorf("label %q, want still-failing", got)
	}
}

// rig run's options expand into cells: per arch the baseline first (only
// with a series), then one cell per accelerator.
func TestSpecs(t *testing.T) {
	series := []patch.Patch{{Name: "0001-x.patch"}}
	series3 := []patch.Patch{{Name: "0001-a.patch"}, {Name: "0002-b.patch"}, {Name: "0003-c.patch"}}
	for _, tc := range []struct {
		name string
		o    Options
		want string // id/accel/role per cell
	}{
		{"one arch", Options{Arches: []string{"x86_64"}, Accels: []string{"auto"}}, "x86_64/auto/"},
		{"two arches", Options{Arches: []string{"x86_64", "arm64"}, Accels: []string{"tcg"}}, "x86_64/tcg/ arm64/tcg/"},
		{"two accels", Options{Arches: []string{"x86_64"}, Accels: []string{"kvm", "tcg"}}, "x86_64-kvm/kvm/ x86_64-tcg/tcg/"},
		{"configs in the id", Options{Arches: []string{"arm64"}, Accels: []string{"tcg"}, Configs: []string{"debug"}}, "arm64-debug/tcg/"},
		{"baseline without a series: none", Options{Arches: []string{"x86_64"}, Accels: []string{"tcg"}, Baseline: true}, "x86_64/tcg/"},
		{"baseline first, on the first accel", Options{Arches: []string{"x86_64", "arm64"}, Accels: []string{"kvm", "tcg"}, Baseline: true, Series: "s", Patches: series},
			"x86_64-baseline/kvm/baseline x86_64-kvm/kvm/ x86_64-tcg/tcg/ arm64-baseline/kvm/baseline arm64-kvm/kvm/ arm64-tcg/tcg/"},
		{"each patch: a cell per prefix, in order", Options{Arches: []string{"x86_64", "arm64"}, Accels: []string{"tcg"}, EachPatch: true, Series: "s", Patches: series3},
			"x86_64-p1/tcg/ x86_64-p2/tcg/ x86_64-p3/tcg/ arm64-p1/tcg/ arm64-p2/tcg/ arm64-p3/tcg/"},
		{"each patch with a baseline: the base tree first", Options{Arches: []string{"x86_64"}, Accels: []string{"kvm", "tcg"}, EachPatch: true, Baseline: true, Series: "s", Patches: series3},
			"x86_64-baseline/kvm/baseline x86_64-p1-kvm/kvm/ x86_64-p1-tcg/tcg/ x86_64-p2-kvm/kvm/ x86_64-p2-tcg/tcg/ x86_64-p3-kvm/kvm/ x86_64-p3-tcg/tcg/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := tc.o.specs()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range specs {
				got = append(got, fmt.Sprintf("%s/%s/%s", s.ID, s.Accel, s.Role))
				if s.Role == "baseline" && (len(s.Patches) > 0 || s.Series != "") {
					t.Errorf("baseline %s carries the series", s.ID)
				}
				if s.Prefix > 0 {
					if len(s.Patches) != s.Prefix || s.PrefixOf != len(tc.o.Patches) || s.Patches[s.Prefix-1].Name != tc.o.Patches[s.Prefix-1].Name {
						t.Errorf("cell %s: prefix %d of %d with %d patches", s.ID, s.Prefix, s.PrefixOf, len(s.Patches))
					}
				} else if s.Role == "" && len(s.Patches) != len(tc.o.Patches) {
					t.Errorf("cell %s has %d patches, want %d", s.ID, len(s.Patches), len(tc.o.Patches))
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("cells %q, want %q", g, tc.want)
			}
		})
	}
}

// rig boot's cell: no source or build; the kernel is recorded with the
// build id the kernel cache keeps beside it, and a guest reporting another
// build is refused.
func TestPrebuiltKernel(t *testing.T) {
	kdir := t.TempDir()
	kern := filepath.Join(kdir, "bzImage")
	if err := os.WriteFile(kern, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kdir, "build-id"), []byte("rig-other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := &fakeEnv{events: testEvents("pass", "fine"), outcome: poweredOff} // the guest says rig-fake
	dir := t.TempDir()
	o := Options{Duration: time.Second, Seed: 7, BootTimeout: time.Minute, Cache: t.TempDir(), Root: "../..", UI: ui.Discard()}
	c, err := newCell(o, Spec{ID: "x86_64-boot", Arch: "x86_64", Kernel: kern, Initramfs: "given.cpio"}, &record{run: &result.Run{}, dir: dir}, dir)
	if err != nil {
		t.Fatal(err)
	}
	c.env = env
	c.execute(context.Background(), nil)
	if env.called("source") || env.called("build") || env.called("pack") {
		t.Errorf("a given kernel was prepared: %q", env.calls)
	}
	if c.res.KernelImage != kern || c.res.KernelSize != 6 || c.res.Initramfs != "given.cpio" || c.res.BuildID != "rig-other" {
		t.Errorf("recorded kernel %q size %d image %q build %q", c.res.KernelImage, c.res.KernelSize, c.res.Initramfs, c.res.BuildID)
	}
	if c.res.Status != result.InfraError || !strings.Contains(c.res.Cause, "wrong kernel") {
		t.Errorf("verdict %s (%s), want the wrong kernel refused", c.res.Status, c.res.Cause)
	}
}

// A baseline whose series never got to a boot (here: it does not apply)
// is not booted either: its tests would judge nothing.
func TestScheduleSkipsAnIdleBase(t *testing.T) {
	env := &fakeEnv{badSeries: true, outcome: poweredOff}
	series := []patch.Patch{{Name: "0001-x.patch"}}
	cells := runCells(t, context.Background(), env, []Spec{{ID: "x-baseline", Arch: "x86_64", Role: "baseline", Patches: []patch.Patch{}},
		{ID: "x", Arch: "x86_64", Series: "s", Patches: series}})
	if env.boots != 0 {
		t.Errorf("%d boots, want none: %q", env.boots, env.calls)
	}
	if cells[0].res.Status != result.NotRun || cells[1].res.Status != result.PatchError {
		t.Errorf("base %s, patched %s; want not-run and patch-error", cells[0].res.Status, cells[1].res.Status)
	}
}
