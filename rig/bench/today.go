package bench

// The boot goal of issue 20 ("boots at half") is measured against the raw
// command as it was when the goal was set: today's machine, CPU and kernel
// command line, frozen here so that later changes to rig/arch and
// rig/machine/qemu (which RawArgv follows) do not move the reference. The
// kernel is the image's own: the kernel config is unchanged since then
// (kconfigs/; a change there must give this reference a kernel of its own).

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
