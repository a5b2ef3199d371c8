package run

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// Rerun repeats a recorded run, or its cell cellID, from its run.json
// (docs/design.md, "Replay"): the same tree at the same commit (refused
// when it cannot be had any more or its tree hash differs), series,
// configs, seed, tests, duration, arch, accelerator and machine. o gives
// what is not the run's: results, cache, UI, command, KeepKernel. It
// returns the recorded run beside the new one; the new one is on disk.
func Rerun(ctx context.Context, dir, cellID string, o Options) (orig, r *result.Run, newDir string, err error) {
	orig, err = result.Load(dir)
	if err != nil {
		return nil, nil, "", &UsageError{fmt.Errorf("rig rerun %s: %w (give a run directory, the one holding run.json)", dir, err)}
	}
	ro, cells, err := RerunOptions(orig, cellID)
	if err != nil {
		return orig, nil, "", &UsageError{fmt.Errorf("rig rerun %s: %w", dir, err)}
	}
	ro.Results, ro.Cache, ro.UI, ro.Command, ro.KeepKernel, ro.Root = o.Results, o.Cache, o.UI, o.Command, o.KeepKernel, o.Root
	if ro.Cache == "" {
		if ro.Cache, err = cache.Dir(); err != nil {
			return orig, nil, "", err
		}
	}
	if ro.UI == nil {
		ro.UI = ui.Discard()
	}
	if err := checkTree(ctx, ro, cells[0]); err != nil {
		return orig, nil, "", &UsageError{fmt.Errorf("rig rerun %s: %w", dir, err)}
	}
	if err := sameExtras(orig, &ro); err != nil {
		return orig, nil, "", &UsageError{fmt.Errorf("rig rerun %s: %w", dir, err)}
	}
	if p := cells[0].Prefix; p > 0 && cellID != "" {
		if ro.Patches, err = patch.ReadSeries(ro.Series); err != nil {
			return orig, nil, "", &UsageError{fmt.Errorf("rig rerun: the series %s: %w", ro.Series, err)}
		}
		if len(ro.Patches) < p {
			return orig, nil, "", &UsageError{fmt.Errorf("rig rerun: the series %s has %d patches now, the cell tested the first %d", ro.Series, len(ro.Patches), p)}
		}
		ro.Patches = ro.Patches[:p]
	}
	for _, w := range HostDiffers(ctx, cells) {
		ro.UI.Notice("%s", w)
	}
	r, newDir, err = Run(ctx, ro)
	if r != nil {
		for _, c := range r.Cells {
			for _, was := range cells {
				if was.Arch == c.Arch && was.Role == c.Role && was.TreeID != "" && c.TreeID != "" && was.TreeID != c.TreeID {
					ro.UI.Notice("%s: the tree with the series is %.12s, the recorded run's was %.12s: the series changed since", c.ID, c.TreeID, was.TreeID)
				}
			}
		}
	}
	return orig, r, newDir, err
}

// RerunOptions are the options that run a recorded run again, or its
// cell cellID alone (a baseline cell is then its tree without the series;
// a patched cell runs without its baseline), and the recorded cells they
// repeat. The tree's commit is pinned to the one the run checked out.
func RerunOptions(orig *result.Run, cellID string) (Options, []result.Cell, error) {
	var cells []result.Cell
	for _, c := range orig.Cells {
		if cellID == "" && c.Role != "baseline" || c.ID == cellID {
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		var ids []string
		for _, c := range orig.Cells {
			ids = append(ids, c.ID)
		}
		if cellID != "" {
			return Options{}, nil, fmt.Errorf("no cell %q in run %s (its cells: %s)", cellID, orig.ID, strings.Join(ids, ", "))
		}
		return Options{}, nil, fmt.Errorf("run %s has no cell to repeat", orig.ID)
	}
	first := cells[0]
	for _, c := range cells {
		if c.Inputs == nil {
			return Options{}, nil, fmt.Errorf("cell %s has no recorded inputs (run.json from a rig before rerun): repeat its command by hand: %s", c.ID, strings.Join(orig.Command, " "))
		}
		if (c.Base == nil || c.Base.Commit == "") && c.KernelImage != "" && c.TreeID == "" {
			return Options{}, nil, fmt.Errorf("cell %s booted a kernel it did not build (rig boot): there is no tree to build again; run its reproduce.sh, or rig boot --kernel %s", c.ID, c.KernelImage)
		}
		if c.Base == nil || c.Base.Commit == "" {
			return Options{}, nil, fmt.Errorf("cell %s never checked its tree out (%s: %s): there is no commit to repeat", c.ID, c.Status, c.Cause)
		}
		if c.Prefix > 0 && cellID == "" && !c.Inputs.EachPatch {
			return Options{}, nil, fmt.Errorf("cell %s tested a prefix of the series: rerun it with --cell", c.ID)
		}
		if d := inputsDiffer(first, c); d != "" {
			return Options{}, nil, fmt.Errorf("its cells differ in %s (%s, %s): rerun one of them with --cell ID", d, first.ID, c.ID)
		}
	}
	in := first.Inputs
	o := Options{KernelSrc: in.Tree, Committed: true, Series: in.Series, Configs: in.Configs, Tests: in.Tests,
		Duration: in.Duration, MinKills: in.MinKills, CPUs: in.CPUs, MemoryMB: in.MemoryMB,
		BootTimeout: in.BootTimeout, RunTimeout: in.RunTimeout, EventTimeout: in.EventTimeout, Seed: first.Seed}
	if o.KernelSrc == "" {
		o.KernelSrc = source.DefaultName // never the tree around the working directory
	}
	// What the user added applies to every cell of the run.
	for _, p := range orig.Exec {
		if !slices.Contains(o.Exec, p.Path) {
			o.Exec = append(o.Exec, p.Path)
		}
	}
	if orig.Overlay != nil {
		o.Overlay = orig.Overlay.Dir
	}
	o.Append, o.QEMUArgs = orig.Append, orig.QEMUArgs
	if o.Seed == 0 {
		o.Seed = orig.Seed
	}
	for _, c := range cells {
		if !slices.Contains(o.Arches, c.Arch) {
			o.Arches = append(o.Arches, c.Arch)
		}
		acc := c.Accel // the accelerator really used
		if acc == "" {
			acc = c.Inputs.Accel
		}
		if !slices.Contains(o.Accels, acc) {
			o.Accels = append(o.Accels, acc)
		}
	}
	if cellID == "" {
		o.Baseline, o.EachPatch = in.Baseline, in.EachPatch
	}
	rangeSeries := first.Base.Range != ""
	if !rangeSeries {
		// A range names its commits; anything else applies where the run
		// applied it.
		o.Input = &Input{Base: first.Base.Commit, By: fmt.Sprintf("rig rerun of %s", orig.ID), Stated: first.Base.Stated}
	} else if first.Prefix > 0 && cellID != "" {
		return Options{}, nil, fmt.Errorf("cell %s tested a prefix of the range %s: rerun the whole run instead", first.ID, first.Base.Range)
	}
	return o, cells, nil
}

// inputsDiffer names the first option two cells of one rerun do not share
// ("" when they share all): one run applies one set of options to every
// cell.
func inputsDiffer(a, b result.Cell) string {
	x, y := a.Inputs, b.Inputs
	switch {
	case x.Tree != y.Tree:
		return "tree"
	case a.Base.Commit != b.Base.Commit:
		return "base commit"
	case x.Series != y.Series:
		return "series"
	case !slices.Equal(x.Configs, y.Configs):
		return "configs"
	case !slices.Equal(x.Tests, y.Tests):
		return "tests"
	case x.Duration != y.Duration || x.MinKills != y.MinKills:
		return "duration"
	case x.CPUs != y.CPUs || x.MemoryMB != y.MemoryMB || x.BootTimeout != y.BootTimeout || x.RunTimeout != y.RunTimeout || x.EventTimeout != y.EventTimeout:
		return "machine"
	case a.Seed != b.Seed:
		return "seed"
	}
	return ""
}

// checkTree refuses a rerun whose tree cannot be had as it was: the
// checkout gone or moved, the commit gone (a snapshot of uncommitted
// changes that git gc pruned), or another tree under the commit's name.
func checkTree(ctx context.Context, o Options, c result.Cell) error {
	var t *source.Tree
	var err error
	if o.KernelSrc == source.DefaultName {
		t, err = source.Default(ctx, o.Cache, nil)
	} else {
		if _, serr := os.Stat(o.KernelSrc); serr != nil {
			return fmt.Errorf("the tree the run tested, %s, is not there any more (moved or deleted): %w", o.KernelSrc, serr)
		}
		t, err = source.OpenWith(ctx, o.KernelSrc, o.Cache, source.OpenOptions{Committed: true})
	}
	if err != nil {
		return fmt.Errorf("the tree the run tested cannot be opened: %w", err)
	}
	what := "commit " + c.Base.Commit
	if c.Base.Dirty {
		what = fmt.Sprintf("the snapshot %.12s of the uncommitted changes then on HEAD %.12s", c.Base.Commit, c.Base.Head)
	}
	commit, err := t.Resolve(ctx, c.Base.Commit)
	if err != nil || commit == "" {
		return fmt.Errorf("%s is not in %s any more (git gc prunes unreachable snapshots after two weeks; a tree at another path is another repository): the run cannot be repeated as it was", what, t.Desc)
	}
	t.SetCommit(ctx, commit)
	if h, err := t.TreeHash(ctx); err != nil || c.Base.Tree != "" && h != c.Base.Tree {
		return fmt.Errorf("%s in %s has tree %.12s, the run tested %.12s", what, t.Desc, h, c.Base.Tree)
	}
	return nil
}

// sameExtras refuses a rerun whose --exec programs or --overlay directory
// are not what the run packed: another program under the same name would
// be another test.
func sameExtras(orig *result.Run, o *Options) error {
	if err := o.checkExtras(); err != nil {
		return fmt.Errorf("what the run added cannot be had as it was: %w", err)
	}
	for _, was := range orig.Exec {
		i := slices.IndexFunc(o.programs, func(p result.Program) bool { return p.Path == was.Path })
		if i < 0 || o.programs[i].SHA256 != was.SHA256 {
			return fmt.Errorf("the program %s changed since the run (its SHA-256 was %.12s): rerun tests what was run; rig run tests the new one", was.Path, was.SHA256)
		}
	}
	if orig.Overlay != nil && o.overlayKey != orig.Overlay.Key {
		return fmt.Errorf("the overlay %s changed since the run: rerun tests what was run; rig run tests the new one", orig.Overlay.Dir)
	}
	return nil
}

// HostDiffers names what on this host differs from what the cells were
// built and booted with: the compiler for their arch and QEMU's version.
func HostDiffers(ctx context.Context, cells []result.Cell) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cells {
		if seen[c.Arch] {
			continue
		}
		seen[c.Arch] = true
		a, err := arch.Lookup(c.Arch)
		if err != nil {
			continue
		}
		if now := CompilerVersion(a); c.Compiler != "" && now != c.Compiler {
			out = append(out, fmt.Sprintf("%s: the compiler differs from the recorded run's (%q, now %q): the kernel is rebuilt and may differ", c.Arch, c.Compiler, now))
		}
		b, err := machine.Lookup("")
		if err != nil {
			continue
		}
		if now, err := b.Version(ctx, c.Arch); err == nil && c.QEMUVersion != "" && now != c.QEMUVersion {
			out = append(out, fmt.Sprintf("%s: QEMU differs from the recorded run's (%q, now %q)", c.Arch, c.QEMUVersion, now))
		}
	}
	return out
}
