package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/source"
)

// TouchFile is the file an incremental rebuild recompiles.
const TouchFile = "kernel/futex/core.c"

// slotOf finds the build slot `rig run` uses for a's default config (base
// and the arch's fragment) on the default kernel tree.
func slotOf(ctx context.Context, root, cacheDir string, a arch.Arch) (kbuild.Slot, *source.Tree, []kconfig.Fragment, error) {
	tree, err := source.Default(ctx, cacheDir, nil)
	if err != nil {
		return kbuild.Slot{}, nil, nil, err
	}
	frags, err := kconfig.Resolve(filepath.Join(root, "kconfigs"), []string{"base", a.Fragment})
	if err != nil {
		return kbuild.Slot{}, nil, nil, err
	}
	key := kbuild.ConfigKey(frags)
	slot := kbuild.SlotFor(cacheDir, tree.GitDir, a.Name, key)
	if !slot.ConfiguredFor(key) {
		return slot, tree, frags, fmt.Errorf("no configured build slot for %s's default config: run `rig run --arch %s` first", a.Name, a.Name)
	}
	return slot, tree, frags, nil
}

// plainMake is the make command a person would type in the slot: the same
// make variables as the rig (a different CC would make Kbuild rebuild
// everything), without the rig's log capture and progress parsing.
func plainMake(a arch.Arch, src, dir string, jobs int) ([]string, error) {
	launcher, err := kbuild.Launcher()
	if err != nil {
		return nil, err
	}
	argv := []string{"make", "-C", src, "O=" + dir, fmt.Sprintf("-j%d", jobs)}
	argv = append(argv, kbuild.MakeArgs(a, launcher)...)
	return append(argv, filepath.Base(a.Image)), nil
}

func runPlain(ctx context.Context, argv []string, dir string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), kbuild.Env(filepath.Dir(dir))...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lines.Tail(out.String(), 5))
	}
	return nil
}

func touch(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// BuildPair times the rig's incremental rebuild (kbuild.Build, as the build
// stage runs it) against plain make in the same slot, after touching
// TouchFile each time, n times each, interleaved. It holds the slot's lock.
func BuildPair(ctx context.Context, root, cacheDir string, a arch.Arch, n, jobs int, progress func(string)) (Pair, string) {
	p := Pair{What: "rebuild " + a.Name, Rig: Sample{Name: "rig: kbuild.Build after touching " + TouchFile},
		Limit: Sample{Name: "plain make after the same touch"}, Goal: 1.05}
	slot, _, _, err := slotOf(ctx, root, cacheDir, a)
	if err != nil {
		p.Rig.Errors = append(p.Rig.Errors, err.Error())
		return p, ""
	}
	lock, err := slot.Acquire(ctx, func() { progress("waiting for build slot " + slot.Dir) })
	if err != nil {
		p.Rig.Errors = append(p.Rig.Errors, err.Error())
		return p, ""
	}
	defer lock.Release()
	b := kbuild.Build{Arch: a, Src: slot.Src, Dir: slot.Build, Jobs: jobs, CCache: true, Log: io.Discard}
	argv, err := plainMake(a, slot.Src, slot.Build, jobs)
	if err != nil {
		p.Rig.Errors = append(p.Rig.Errors, err.Error())
		return p, ""
	}
	// Bring the slot up to date first: whatever the last run left.
	if _, err := b.Run(ctx); err != nil {
		p.Rig.Errors = append(p.Rig.Errors, "warm-up build: "+err.Error())
		return p, ""
	}
	file := filepath.Join(slot.Src, TouchFile)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if err := touch(file); err != nil {
			p.Rig.Errors = append(p.Rig.Errors, err.Error())
			break
		}
		t0 := time.Now()
		limErr := runPlain(ctx, argv, slot.Build)
		lim := time.Since(t0)
		_ = touch(file)
		t0 = time.Now()
		_, err := b.Run(ctx)
		rig := time.Since(t0)
		p.rep(rig, err, lim, limErr)
		progress(fmt.Sprintf("rebuild %s %d/%d: plain %s rig %s", a.Name, i+1, n, secs(lim), secs(rig)))
	}
	p.finish()
	return p, shellQuote(argv)
}

// ColdBuild builds a's default config from scratch three times: without
// ccache (a true cold build), through an empty ccache (the rig's first run on
// a new machine: every compile is a miss), and with the warm ccache. The tree
// is checked out like a slot's (dir/src, dir/out), so ccache shares the
// slots' entries. It costs minutes of CPU.
func ColdBuild(ctx context.Context, root, cacheDir string, a arch.Arch, jobs int, progress func(string)) []Sample {
	cold := Sample{Name: "cold build " + a.Name + " (no ccache)"}
	empty := Sample{Name: "cold build " + a.Name + " (empty ccache)"}
	warm := Sample{Name: "fresh build " + a.Name + " (warm ccache)"}
	slot, tree, _, err := slotOf(ctx, root, cacheDir, a)
	if err != nil {
		cold.Errors = append(cold.Errors, err.Error())
		return []Sample{cold}
	}
	config, err := os.ReadFile(filepath.Join(slot.Build, ".config"))
	if err != nil {
		cold.Errors = append(cold.Errors, err.Error())
		return []Sample{cold}
	}
	dir := cache.BenchTrees.Path(cacheDir, a.Name)
	src, out := filepath.Join(dir, "src"), filepath.Join(dir, "out")
	progress("checking out the pristine tree in " + src)
	if _, err := tree.Checkout(ctx, src); err != nil {
		cold.Errors = append(cold.Errors, err.Error())
		return []Sample{cold}
	}
	emptyDir := filepath.Join(dir, "ccache")
	for _, s := range []*Sample{&cold, &empty, &warm} {
		withCCache := s != &cold
		var env []string
		if s == &empty {
			if err := os.RemoveAll(emptyDir); err != nil {
				s.Errors = append(s.Errors, err.Error())
				continue
			}
			env = []string{"CCACHE_DIR=" + emptyDir}
		}
		err := func() error {
			if err := os.RemoveAll(out); err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, ".config"), config, 0o644); err != nil {
				return err
			}
			launcher := ""
			if withCCache {
				var err error
				if launcher, err = kbuild.Launcher(); err != nil {
					return err
				}
			}
			argv := append([]string{"make", "-C", src, "O=" + out}, kbuild.MakeArgs(a, launcher)...)
			if err := runPlain(ctx, append(argv, "olddefconfig"), out); err != nil {
				return err
			}
			progress(s.Name + "...")
			t0 := time.Now()
			_, err := kbuild.Build{Arch: a, Src: src, Dir: out, Jobs: jobs, CCache: withCCache, Env: env, Log: io.Discard}.Run(ctx)
			if err == nil {
				s.Runs = append(s.Runs, time.Since(t0))
				progress(fmt.Sprintf("%s: %s", s.Name, secs(s.Runs[0])))
			}
			return err
		}()
		if err != nil {
			s.Errors = append(s.Errors, err.Error())
		}
	}
	_ = os.RemoveAll(out)
	_ = os.RemoveAll(emptyDir)
	return []Sample{cold, empty, warm}
}
