package qemu

import (
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/machine"
)

func TestArgvGDB(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		cfg := machine.Config{Arch: arch, Accel: "tcg", CPUs: 2, MemoryMB: 512, Kernel: "/k", GDBPort: 40123}
		argv, _, err := Argv(cfg, "/tmp/x")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(argv, "-gdb")
		if i < 0 || argv[i+1] != "tcp:127.0.0.1:40123" || !slices.Contains(argv, "-S") {
			t.Errorf("%s: argv %q lacks a paused gdb stub on 127.0.0.1:40123", arch, argv)
		}
		cfg.GDBPort = 0
		argv, _, _ = Argv(cfg, "/tmp/x")
		if strings.Contains(strings.Join(argv, " "), "-gdb") {
			t.Errorf("%s: gdb stub without GDBPort: %q", arch, argv)
		}
	}
}

// A replay (a cell's reproduce.sh) never opens the gdb stub of the boot it
// replays.
func TestStandaloneArgvNoGDB(t *testing.T) {
	cfg := machine.Config{Arch: "x86_64", Accel: "tcg", CPUs: 2, MemoryMB: 512, Kernel: "/k", GDBPort: 40123}
	argv, _, err := StandaloneArgv(cfg, "/tmp/events")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(argv, "-gdb") {
		t.Errorf("standalone argv has a gdb stub: %q", argv)
	}
}
