package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/kconfigs"
	"github.com/rig-kernel/rig/rig/kconfig"
)

// The boot goal of issue 20 ("boots at half") is measured against the raw
// command as it was when the goal was set: today's machine, CPU and kernel
// command line, frozen here so that later changes to rig/arch and
// rig/machine/qemu (which RawArgv follows) do not move the reference. The
// kernel is the image's own, checked to be built from today's config
// (TodayKernel): kconfigs/ is unchanged since then (todayFragments; a
// change there must give this reference a kernel of its own).

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

// todayFrags are the embedded base and arch fragments, or an error when
// either differs from today's.
func todayFrags(arch string) ([]kconfig.Fragment, error) {
	var frags []kconfig.Fragment
	for _, name := range []string{"base", arch} {
		b, err := kconfigs.Fragments.ReadFile(name + ".config")
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != todayFragments[name] {
			return nil, fmt.Errorf("kconfigs/%s.config changed since the boot goal was set: today's raw command needs a kernel built from the old fragments (rig/bench/today.go)", name)
		}
		frags = append(frags, kconfig.Fragment{Name: name, Data: b})
	}
	return frags, nil
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
