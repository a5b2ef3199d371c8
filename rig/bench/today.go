package bench

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rig-kernel/rig/kconfigs"
	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/source"
)

// The boot goal of issue 20 ("boots at half") is measured against the raw
// command as it was when the goal was set: today's machine, CPU and kernel
// command line, frozen here so that later changes to rig/arch and
// rig/machine/qemu (which RawArgv follows) do not move the reference. So is
// today's kernel: built from today's fragments (todayFragments; a fragment
// changed since is kept as it was under today/) into today's boot image.
// While an arch's fragments and image are still today's, the image's own
// kernel is today's (TodayKernel checks its config); once either changed,
// as x86_64's did when it moved to vmlinux and PVH, the reference is a
// kernel of its own (BuildToday).

// TodayGoal is the boot goal against today's raw command, per arch.
var TodayGoal = map[string]float64{"x86_64": 0.5, "arm64": 0.6}

// todayBoot is today's raw command per arch, as a Variant of RawArgv.
var todayBoot = map[string]Variant{
	"x86_64": {Machine: "pc", CPU: "qemu64", // QEMU's default CPU, which -cpu left out
		Cmdline: "console=ttyS0 panic=-1 rig.events=/dev/ttyS1 pty.legacy_count=0 no_timer_check i8042.noaux i8042.nokbd " + probeCmdline},
	"arm64": {Machine: "virt", CPU: "max,pauth-impdef=on",
		Cmdline: "console=ttyAMA0 panic=-1 rig.events=/dev/hvc0 pty.legacy_count=0 " + probeCmdline},
}

// TodayVariant is today's raw command for arch (false for an arch added
// since).
func TodayVariant(arch string) (Variant, bool) {
	v, ok := todayBoot[arch]
	return v, ok
}

// todayFragments are the SHA-256 sums of the fragments today's kernels
// were built from (kconfigs/, embedded).
var todayFragments = map[string]string{
	"base":   "1fdaa18544c4710ab901c6e378b4ec80406d4f69b4da1d3eb8eda27a5c0eefe7",
	"x86_64": "ee31a1ae9a4ac20ed320cb6974baf7a28a9ac15d6f8a74ef89e1accb281a6044",
	"arm64":  "3b4129984abfd52e37816f992d8c3b64f4b30d9a2dccda36f15f4b37bbecaaba",
}

// todayFrozen holds today's copy of each fragment changed since.
//
//go:embed today/*.config
var todayFrozen embed.FS

// todayImage is today's boot image where the arch boots another now.
var todayImage = map[string]string{"x86_64": "arch/x86/boot/bzImage"}

// todayFrags are today's base and arch fragments: the embedded ones where
// unchanged, else today's copies; an error when neither is today's.
func todayFrags(arch string) ([]kconfig.Fragment, error) {
	var frags []kconfig.Fragment
	for _, name := range []string{"base", arch} {
		b, err := kconfigs.Fragments.ReadFile(name + ".config")
		if err != nil {
			return nil, err
		}
		if !isToday(name, b) {
			if b, err = todayFrozen.ReadFile("today/" + name + ".config"); err != nil || !isToday(name, b) {
				return nil, fmt.Errorf("kconfigs/%s.config changed since the boot goal was set, and rig/bench/today/ has no copy of today's: today's raw command needs a kernel built from the old fragment", name)
			}
		}
		frags = append(frags, kconfig.Fragment{Name: name, Data: b})
	}
	return frags, nil
}

func isToday(name string, b []byte) bool {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]) == todayFragments[name]
}

// ownTodayKernel reports whether today's reference for arch needs a
// kernel of its own (BuildToday): its fragments or its image changed since.
func ownTodayKernel(a arch.Arch) bool {
	if _, ok := todayImage[a.Name]; ok {
		return true
	}
	for _, name := range []string{"base", a.Fragment} {
		if b, err := kconfigs.Fragments.ReadFile(name + ".config"); err != nil || !isToday(name, b) {
			return true
		}
	}
	return false
}

// BuildToday builds today's kernel for a from the default kernel tree into
// today's image, in the build slot of today's config (the one a rig of
// that day used, so its objects and ccache entries serve), and returns the
// image. Once built, it is a no-op make.
func BuildToday(ctx context.Context, cacheDir string, a arch.Arch, jobs int, log io.Writer) (string, error) {
	frags, err := todayFrags(a.Name)
	if err != nil {
		return "", err
	}
	if img, ok := todayImage[a.Name]; ok {
		a.Image = img
	}
	tree, err := source.Default(ctx, cacheDir, nil)
	if err != nil {
		return "", err
	}
	key := kbuild.ConfigKey(frags)
	slot := kbuild.SlotFor(cacheDir, tree.GitDir, a.Name, key)
	lock, err := slot.Acquire(ctx, nil)
	if err != nil {
		return "", err
	}
	defer lock.Release()
	wt, err := tree.Checkout(ctx, slot.Src)
	if err != nil {
		return "", err
	}
	id, err := wt.TreeID(ctx)
	if err != nil {
		return "", err
	}
	launcher, err := kbuild.Launcher()
	if err != nil {
		return "", err
	}
	mk := kconfig.Make{Src: slot.Src, Build: slot.Build, Args: kbuild.MakeArgs(a, launcher), Log: log}
	missing, _, _, err := slot.Configure(ctx, mk, frags, key, false)
	if err != nil {
		return "", fmt.Errorf("configuring today's %s kernel: %w", a.Name, err)
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("today's %s config on this tree lacks %s", a.Name, missing[0])
	}
	// A later run in this slot must verify what this build changed.
	if err := slot.NotePending(id); err != nil {
		return "", err
	}
	// A fixed version string: the next call relinks nothing.
	img, err := kbuild.Build{Arch: a, Src: slot.Src, Dir: slot.Build, Jobs: jobs, CCache: true, Log: log, Version: "rig-today"}.Run(ctx)
	if err != nil {
		return "", fmt.Errorf("building today's %s kernel: %w", a.Name, err)
	}
	return img, nil
}

// TodayKernel checks that kernel was built from today's config: its
// kernel.config (beside it in the cache) has every option today's
// fragments request.
func TodayKernel(arch, kernel string) error {
	frags, err := todayFrags(arch)
	if err != nil {
		return err
	}
	final, err := os.ReadFile(filepath.Join(filepath.Dir(kernel), "kernel.config"))
	if err != nil {
		return fmt.Errorf("kernel %s: no kernel.config beside it to prove today's config: %w", kernel, err)
	}
	if miss := kconfig.Check(final, kconfig.Requested(frags)); len(miss) > 0 {
		return fmt.Errorf("kernel %s is not built from today's config (%s): run `rig run --arch %s` without --config first, so the last kernel built is the default one", kernel, miss[0], arch)
	}
	return nil
}

// ExtraConfigs names the fragments of kconfigs/ (other than base and the
// arches') whose every option the config beside kernel has: what the
// kernel was built with on top of the default, as far as its .config
// tells. The boot goals are about the default kernel, and `rig bench`
// boots the last one the rig built, which may be a KASAN one.
func ExtraConfigs(kernel string) ([]string, error) {
	final, err := os.ReadFile(filepath.Join(filepath.Dir(kernel), "kernel.config"))
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(kconfigs.Fragments, "*.config")
	if err != nil {
		return nil, err
	}
	var extra []string
	for _, n := range names {
		name := strings.TrimSuffix(n, ".config")
		if _, err := arch.Lookup(name); err == nil || name == "base" {
			continue
		}
		b, err := kconfigs.Fragments.ReadFile(n)
		if err != nil {
			return nil, err
		}
		req := kconfig.Requested([]kconfig.Fragment{{Name: name, Data: b}})
		if len(req) > 0 && len(kconfig.Check(final, req)) == 0 {
			extra = append(extra, name)
		}
	}
	return extra, nil
}
