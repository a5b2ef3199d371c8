package qemu

import (
	"github.com/rig-kernel/rig/rig/arch"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/machine"
)

func TestArgv(t *testing.T) {
	common := func(accel string) machine.Config {
		return machine.Config{Accel: accel, CPUs: 2, MemoryMB: 512, Kernel: "/k/bzImage", Initramfs: "/k/initrd", Cmdline: "rig.test=all rig.seed=7"}
	}
	tests := []struct {
		name        string
		arch, accel string
		want        []string
	}{
		{"x86_64 tcg", "x86_64", "tcg", []string{
			"qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-cpu", "qemu64,vendor=GenuineIntel",
			"-smp", "2", "-m", "512", "-kernel", "/k/bzImage", "-initrd", "/k/initrd",
			"-append", "console=ttyS0 panic=-1 rig.events=/dev/ttyS1 pty.legacy_count=0 no_timer_check i8042.noaux i8042.nokbd rig.test=all rig.seed=7",
			"-display", "none", "-no-reboot", "-nodefaults", "-S",
			"-qmp", "unix:/r/qmp.sock,server=on,wait=off",
			"-chardev", "socket,id=con,path=/r/con.sock,server=off", "-serial", "chardev:con",
			"-chardev", "socket,id=ev,path=/r/ev.sock,server=off", "-serial", "chardev:ev",
			"-nic", "none",
		}},
		{"x86_64 kvm", "x86_64", "kvm", []string{
			"qemu-system-x86_64", "-M", "pc", "-accel", "kvm", "-cpu", "host",
			"-smp", "2", "-m", "512", "-kernel", "/k/bzImage", "-initrd", "/k/initrd",
			"-append", "console=ttyS0 panic=-1 rig.events=/dev/ttyS1 pty.legacy_count=0 no_timer_check i8042.noaux i8042.nokbd rig.test=all rig.seed=7",
			"-display", "none", "-no-reboot", "-nodefaults", "-S",
			"-qmp", "unix:/r/qmp.sock,server=on,wait=off",
			"-chardev", "socket,id=con,path=/r/con.sock,server=off", "-serial", "chardev:con",
			"-chardev", "socket,id=ev,path=/r/ev.sock,server=off", "-serial", "chardev:ev",
			"-nic", "none",
		}},
		{"arm64 tcg", "arm64", "tcg", []string{
			"qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "max,pauth-impdef=on",
			"-smp", "2", "-m", "512", "-kernel", "/k/bzImage", "-initrd", "/k/initrd",
			"-append", "console=ttyAMA0 panic=-1 rig.events=/dev/hvc0 pty.legacy_count=0 rig.test=all rig.seed=7",
			"-display", "none", "-no-reboot", "-nodefaults", "-S",
			"-qmp", "unix:/r/qmp.sock,server=on,wait=off",
			"-chardev", "socket,id=con,path=/r/con.sock,server=off", "-serial", "chardev:con",
			"-chardev", "socket,id=ev,path=/r/ev.sock,server=off",
			"-device", "virtio-serial-device", "-device", "virtconsole,chardev=ev",
			"-nic", "none",
		}},
		{"arm64 kvm", "aarch64", "kvm", []string{
			"qemu-system-aarch64", "-M", "virt", "-accel", "kvm", "-cpu", "host",
			"-smp", "2", "-m", "512", "-kernel", "/k/bzImage", "-initrd", "/k/initrd",
			"-append", "console=ttyAMA0 panic=-1 rig.events=/dev/hvc0 pty.legacy_count=0 rig.test=all rig.seed=7",
			"-display", "none", "-no-reboot", "-nodefaults", "-S",
			"-qmp", "unix:/r/qmp.sock,server=on,wait=off",
			"-chardev", "socket,id=con,path=/r/con.sock,server=off", "-serial", "chardev:con",
			"-chardev", "socket,id=ev,path=/r/ev.sock,server=off",
			"-device", "virtio-serial-device", "-device", "virtconsole,chardev=ev",
			"-nic", "none",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := common(tt.accel)
			cfg.Arch = tt.arch
			got, cmdline, err := Argv(cfg, "/r")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("argv:\n got %q\nwant %q", got, tt.want)
			}
			if i := slices.Index(got, "-append"); got[i+1] != cmdline {
				t.Errorf("cmdline %q is not the -append value %q", cmdline, got[i+1])
			}
			// Invariants whatever the table says.
			for _, bad := range []string{"-net", "-netdev", "-virtfs", "-fsdev", "-hda", "-drive", "-nographic"} {
				if slices.Contains(got, bad) {
					t.Errorf("argv has %s", bad)
				}
			}
			if !slices.Contains(got, "-no-reboot") || !slices.Contains(got, "-S") {
				t.Errorf("argv lacks -no-reboot or -S")
			}
		})
	}
}

func TestArgvNoInitramfsAndCommas(t *testing.T) {
	cfg := machine.Config{Arch: "x86_64", Accel: "tcg", CPUs: 1, MemoryMB: 256, Kernel: "/k"}
	got, cmdline, err := Argv(cfg, "/r,x")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got, "-initrd") {
		t.Errorf("-initrd without an initramfs: %q", got)
	}
	if cmdline != "console=ttyS0 panic=-1 rig.events=/dev/ttyS1 pty.legacy_count=0 no_timer_check i8042.noaux i8042.nokbd" {
		t.Errorf("cmdline %q", cmdline)
	}
	if i := slices.Index(got, "-qmp"); got[i+1] != "unix:/r,,x/qmp.sock,server=on,wait=off" {
		t.Errorf("comma not escaped: %q", got[i+1])
	}
}

// TestArgvUserArgs: --append ends the kernel command line, after the
// rig's own words, and --qemu-arg ends the argv, after the arch's
// arguments, each exactly as given.
func TestArgvUserArgs(t *testing.T) {
	for _, a := range []string{"x86_64", "arm64"} {
		cfg := machine.Config{Arch: a, Accel: "tcg", CPUs: 1, MemoryMB: 256, Kernel: "/k", Cmdline: "rig.seed=7",
			Append: " loglevel=8  futex.debug=1 ", QEMUArgs: []string{"-d", "guest_errors,unimp", "-icount", "shift=auto"}}
		plain := cfg
		plain.Append, plain.QEMUArgs = "", nil
		want, wantCmdline, err := Argv(plain, "/r")
		if err != nil {
			t.Fatal(err)
		}
		got, cmdline, err := Argv(cfg, "/r")
		if err != nil {
			t.Fatal(err)
		}
		if cmdline != wantCmdline+" loglevel=8  futex.debug=1" || !strings.HasSuffix(cmdline, "rig.seed=7 loglevel=8  futex.debug=1") {
			t.Errorf("%s: cmdline %q, want the rig's %q then the user's words", a, cmdline, wantCmdline)
		}
		want[slices.Index(want, "-append")+1] = cmdline
		want = append(want, "-d", "guest_errors,unimp", "-icount", "shift=auto")
		if !slices.Equal(got, want) {
			t.Errorf("%s: argv\n got %q\nwant %q", a, got, want)
		}
	}
}

func TestArgvErrors(t *testing.T) {
	for _, cfg := range []machine.Config{
		{Arch: "riscv64", Accel: "tcg", Kernel: "/k"},
		{Arch: "x86_64", Accel: "hvf", Kernel: "/k"},
	} {
		if _, _, err := Argv(cfg, "/r"); err == nil {
			t.Errorf("Argv(%+v): no error", cfg)
		}
	}
}

func TestArchTable(t *testing.T) {
	seen := map[string]bool{}
	for _, row := range arch.Table {
		a, err := lookupArch(row.Name)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.Name] {
			t.Errorf("arch %s twice", a.Name)
		}
		seen[a.Name] = true
		if !strings.HasPrefix(a.Binary, "qemu-system-") || a.Machine == "" || a.Console == "" || !strings.HasPrefix(a.Events, "/dev/") || a.KVMCPU == "" || a.Package == "" {
			t.Errorf("incomplete row %+v", a)
		}
	}
}

// TestStandaloneArgv: the standalone form is the rig's argv with the
// wiring swapped, nothing else: no -S, no QMP, the console on stdio and the
// events in a file, on the same serial port or virtconsole.
func TestStandaloneArgv(t *testing.T) {
	for _, name := range []string{"x86_64", "arm64"} {
		cfg := machine.Config{Arch: name, Accel: "tcg", CPUs: 2, MemoryMB: 512, Kernel: "/k/Image", Initramfs: "/k/initrd", Cmdline: "rig.seed=7"}
		rig, rigCmdline, err := Argv(cfg, "/r")
		if err != nil {
			t.Fatal(err)
		}
		alone, cmdline, err := StandaloneArgv(cfg, "/tmp/x,y/events.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if cmdline != rigCmdline {
			t.Errorf("%s: command line %q, the rig's %q", name, cmdline, rigCmdline)
		}
		want := slices.Clone(rig)
		i := slices.Index(want, "-S")
		want = slices.Delete(want, i, i+3) // -S -qmp <socket>
		want[slices.Index(want, "socket,id=con,path=/r/con.sock,server=off")] = "stdio,id=con"
		want[slices.Index(want, "socket,id=ev,path=/r/ev.sock,server=off")] = "file,id=ev,path=/tmp/x,,y/events.jsonl"
		if !slices.Equal(alone, want) {
			t.Errorf("%s:\n got %q\nwant %q", name, alone, want)
		}
	}
}
