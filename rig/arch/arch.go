// Package arch is the table of per-architecture facts, build and boot: the
// kernel's ARCH, the cross-compiler prefix, the boot image, the config
// fragment, Go's GOARCH for the guest, and QEMU's emulator, machine, CPUs,
// console and events port.
package arch

import (
	"debug/elf"
	"fmt"
	"runtime"
	"sort"
	"strings"
)

// Arch is one target architecture: every per-arch fact of the rig, build
// and boot, in one place.
type Arch struct {
	Name       string // rig's name: "x86_64", "arm64"
	KernelArch string // ARCH= for make
	Cross      string // CROSS_COMPILE= prefix when the host is another arch
	Image      string // boot image, relative to the build directory
	// NoPVHImage is the boot image of a kernel that cannot boot through
	// PVH (kconfig's pvh=off, KASAN): x86_64's bzImage.
	NoPVHImage string
	GOARCH     string // for the guest binary
	Fragment   string // kconfigs/<Fragment>.config, merged after base
	HostGOARCH string // runtime.GOARCH of a host that builds it natively

	QEMU        string // system emulator
	QEMUPackage string // Debian package that has it
	Machine     string // -M
	TCGCPU      string // -cpu under TCG ("" means QEMU's default)
	KVMCPU      string // -cpu under KVM
	Console     string // console= device in the guest
	Events      string // the guest's events port (rig.events=)
	// VirtioEvents puts the events port on a virtio console (hvc0) instead
	// of a second UART (arm64's virt machine has one PL011).
	VirtioEvents bool
	// Cmdline holds arch-specific kernel arguments that speed up the boot
	// (kept only after 50 clean boots in a row under TCG). x86_64: skip the
	// IO-APIC timer check and the PS/2 keyboard and mouse probes, since the
	// guest uses only the serial ports.
	Cmdline string

	// ELF is the e_machine of the programs it runs (--exec checks it).
	ELF elf.Machine
}

// Table holds every supported architecture, one line each. arm64 under TCG
// uses -cpu max with the cheap pointer-authentication algorithm
// (pauth-impdef=on): QEMU's default QARMA5 costs a lot in emulation when
// the kernel signs pointers. The rig's own kernels have ARM64_PTR_AUTH
// off, so it matters for trees built with pointer auth on (arm64
// defconfig). TCG stays multi-threaded (QEMU's default): the race tests
// need parallel vCPUs, and it boots faster than thread=single. x86_64
// under TCG is QEMU's default CPU (qemu64) with Intel's vendor string:
// the kernel then marks the TSC constant (family 15, model 3 and later) and
// CPU1 reuses CPU0's delay-loop calibration instead of measuring its own,
// which took 100-150 ms of CPU1's bring-up (docs/speed.md). x86_64 boots
// vmlinux itself through its PVH entry point (CONFIG_PVH in
// kconfigs/x86_64.config; QEMU's -kernel loads the ELF): no bzImage to
// compress at build time, none to decompress under TCG at boot. A KASAN
// kernel cannot (pvh=off in kconfigs/kasan.config): the PVH entry calls
// instrumented code (memcmp, on the hypervisor's signature) before KASAN's
// early shadow exists, and the machine resets before its console starts;
// it boots its bzImage.
var Table = []Arch{
	{Name: "x86_64", KernelArch: "x86_64", Cross: "x86_64-linux-gnu-", Image: "vmlinux", NoPVHImage: "arch/x86/boot/bzImage", GOARCH: "amd64", Fragment: "x86_64", HostGOARCH: "amd64",
		QEMU: "qemu-system-x86_64", QEMUPackage: "qemu-system-x86", Machine: "pc", TCGCPU: "qemu64,vendor=GenuineIntel", KVMCPU: "host", Console: "ttyS0", Events: "/dev/ttyS1", Cmdline: "no_timer_check i8042.noaux i8042.nokbd",
		ELF: elf.EM_X86_64},
	{Name: "arm64", KernelArch: "arm64", Cross: "aarch64-linux-gnu-", Image: "arch/arm64/boot/Image", GOARCH: "arm64", Fragment: "arm64", HostGOARCH: "arm64",
		QEMU: "qemu-system-aarch64", QEMUPackage: "qemu-system-arm", Machine: "virt", TCGCPU: "max,pauth-impdef=on", KVMCPU: "host", Console: "ttyAMA0", Events: "/dev/hvc0", VirtioEvents: true,
		ELF: elf.EM_AARCH64},
}

// Lookup returns the named architecture, accepting common aliases.
func Lookup(name string) (Arch, error) {
	switch name {
	case "amd64", "x86-64", "x86":
		name = "x86_64"
	case "aarch64":
		name = "arm64"
	}
	for _, a := range Table {
		if a.Name == name {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("unknown arch %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the known architectures.
func Names() []string {
	var n []string
	for _, a := range Table {
		n = append(n, a.Name)
	}
	sort.Strings(n)
	return n
}

// CrossPrefix is the CROSS_COMPILE value on this host: empty when building
// natively.
func (a Arch) CrossPrefix() string {
	if runtime.GOARCH == a.HostGOARCH {
		return ""
	}
	return a.Cross
}
