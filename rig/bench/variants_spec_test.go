package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/kconfigs"
	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/kconfig"
)

func TestParseVariants(t *testing.T) {
	vs, err := ParseVariants(";m=pc|append=no_timer_check;cpu=max|args=-smp 1|kernel=/k;append=acpi=off|end=kill|initrd=/i;m=microvm|events=virtio")
	if err != nil {
		t.Fatal(err)
	}
	want := []NamedVariant{
		{Name: "(unchanged)"},
		{Name: "m=pc|append=no_timer_check", Variant: Variant{Machine: "pc", Append: "no_timer_check"}},
		{Name: "cpu=max|args=-smp 1|kernel=/k", Variant: Variant{CPU: "max", Args: []string{"-smp", "1"}}, Kernel: "/k"},
		{Name: "append=acpi=off|end=kill|initrd=/i", Variant: Variant{Append: "acpi=off", KillAfterDone: true}, Initrd: "/i"},
		{Name: "m=microvm|events=virtio", Variant: Variant{Machine: "microvm", VirtioEvents: true}},
	}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("got %+v\nwant %+v", vs, want)
	}
	for _, bad := range []string{"mm=pc", "m", "end=now", "events=pci"} {
		if _, err := ParseVariants(bad); err == nil || !strings.Contains(err.Error(), "variant") {
			t.Errorf("ParseVariants(%q) = %v, want an error naming the variant", bad, err)
		}
	}
}

// TestRawArgvVirtioEvents: events=virtio moves x86_64's events port from
// the second UART to a virtio console, on the command line and in argv.
func TestRawArgvVirtioEvents(t *testing.T) {
	argv, err := RawArgv(Image{Arch: "x86_64", Kernel: "/k", Initramfs: "/i"}, Variant{Machine: "microvm", VirtioEvents: true}, "/c")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(argv, " ")
	for _, want := range []string{"-M microvm", "rig.events=/dev/hvc0", "-device virtconsole,chardev=ev"} {
		if !strings.Contains(all, want) {
			t.Errorf("argv %q lacks %q", all, want)
		}
	}
	for _, bad := range []string{"rig.events=/dev/ttyS1", "-serial chardev:ev"} {
		if strings.Contains(all, bad) {
			t.Errorf("argv %q still has %q", all, bad)
		}
	}
}

// TestTodayArgv: today's raw command (the boot goal's reference) keeps
// today's machine, CPU and kernel command line whatever the arch table
// says now.
func TestTodayArgv(t *testing.T) {
	for a, want := range map[string][]string{
		"x86_64": {"qemu-system-x86_64 -M pc -accel tcg -cpu qemu64 -smp 2 -m 512", "console=ttyS0 panic=-1 rig.events=/dev/ttyS1 pty.legacy_count=0 no_timer_check i8042.noaux i8042.nokbd rig.probe=1 -display", "-serial chardev:ev"},
		"arm64":  {"qemu-system-aarch64 -M virt -accel tcg -cpu max,pauth-impdef=on -smp 2 -m 512", "console=ttyAMA0 panic=-1 rig.events=/dev/hvc0 pty.legacy_count=0 rig.probe=1 -display", "-device virtconsole,chardev=ev"},
	} {
		v, ok := TodayVariant(a)
		if !ok {
			t.Fatalf("no today's command for %s", a)
		}
		argv, err := RawArgv(Image{Arch: a, Kernel: "/k", Initramfs: "/i"}, v, "/c")
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(argv, " ")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: today's argv %q lacks %q", a, all, w)
			}
		}
	}
}

// TestTodayKernel: a kernel is today's reference only when the config
// beside it has what today's fragments request; kconfigs/ itself must
// still be today's.
func TestTodayKernel(t *testing.T) {
	for _, a := range []string{"x86_64", "arm64"} {
		frags, err := todayFrags(a)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		k := filepath.Join(dir, "Image")
		if err := TodayKernel(a, k); err == nil || !strings.Contains(err.Error(), "no kernel.config") {
			t.Errorf("%s without a config: %v", a, err)
		}
		var cfg strings.Builder
		for _, o := range kconfig.Requested(frags) {
			if o.Value == "n" {
				fmt.Fprintf(&cfg, "# %s is not set\n", o.Name)
			} else {
				fmt.Fprintf(&cfg, "%s=%s\n", o.Name, o.Value)
			}
		}
		write := func(s string) {
			if err := os.WriteFile(filepath.Join(dir, "kernel.config"), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(cfg.String())
		if err := TodayKernel(a, k); err != nil {
			t.Errorf("%s with today's options: %v", a, err)
		}
		write(strings.Replace(cfg.String(), "CONFIG_FUTEX=y", "# CONFIG_FUTEX is not set", 1))
		if err := TodayKernel(a, k); err == nil || !strings.Contains(err.Error(), "CONFIG_FUTEX") || !strings.Contains(err.Error(), "rig run --arch "+a) {
			t.Errorf("%s without FUTEX: %v; want the option named and what to do", a, err)
		}
	}
}

// TestTodayOwnKernel: x86_64 boots vmlinux through PVH now, and both
// arches' kernels print the printk caller, so today's reference is a
// kernel of its own on each, from today's fragments (no CONFIG_PVH, no
// CONFIG_PRINTK_CALLER), x86_64's into today's bzImage. Without that
// kernel, today's pair is an error, never a boot of the rig's kernel.
func TestTodayOwnKernel(t *testing.T) {
	x, _ := arch.Lookup("x86_64")
	a, _ := arch.Lookup("arm64")
	if !ownTodayKernel(x) || !ownTodayKernel(a) {
		t.Fatalf("own today's kernel: x86_64 %v, arm64 %v; want true, true", ownTodayKernel(x), ownTodayKernel(a))
	}
	frags, err := todayFrags("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if d := string(frags[1].Data); strings.Contains(d, "CONFIG_PVH") || !strings.Contains(d, "CONFIG_KERNEL_GZIP=y") {
		t.Errorf("today's x86_64 fragment is not today's:\n%s", d)
	}
	if d := string(frags[0].Data); frags[0].Name != "base" || strings.Contains(d, "CONFIG_PRINTK_CALLER") || !strings.Contains(d, "CONFIG_FUTEX=y") {
		t.Errorf("today's base fragment is not today's:\n%s", d)
	}
	pairs := BootPair(context.Background(), Image{Arch: "x86_64", Kernel: "/k/vmlinux", Initramfs: "/i", TodayErr: "no tree"}, 0, nil)
	if len(pairs) != 2 || len(pairs[1].Limit.Errors) != 1 || !strings.Contains(pairs[1].Limit.Errors[0], "no tree") {
		t.Fatalf("today's pair without today's kernel: %+v", pairs)
	}
}

// TestExtraConfigs: a kernel whose config has every option of kasan.config
// is named a KASAN kernel; the default one (base and arch options only)
// has nothing extra; a kernel without its config is an error.
func TestExtraConfigs(t *testing.T) {
	frag := func(name string) kconfig.Fragment {
		b, err := kconfigs.Fragments.ReadFile(name + ".config")
		if err != nil {
			t.Fatal(err)
		}
		return kconfig.Fragment{Name: name, Data: b}
	}
	for _, tc := range []struct {
		frags []string
		want  []string
	}{
		{[]string{"base", "x86_64"}, nil},
		{[]string{"base", "arm64", "kasan"}, []string{"kasan"}},
		{[]string{"base", "x86_64", "debug"}, []string{"debug"}},
	} {
		var cfg strings.Builder
		var frags []kconfig.Fragment
		for _, n := range tc.frags {
			frags = append(frags, frag(n))
		}
		for _, o := range kconfig.Requested(frags) {
			if o.Value == "n" {
				fmt.Fprintf(&cfg, "# %s is not set\n", o.Name)
			} else {
				fmt.Fprintf(&cfg, "%s=%s\n", o.Name, o.Value)
			}
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "kernel.config"), []byte(cfg.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ExtraConfigs(filepath.Join(dir, "vmlinux"))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: ExtraConfigs = %v, %v; want %v", tc.frags, got, err, tc.want)
		}
	}
	if _, err := ExtraConfigs(filepath.Join(t.TempDir(), "vmlinux")); err == nil {
		t.Error("a kernel without kernel.config: no error")
	}
}
