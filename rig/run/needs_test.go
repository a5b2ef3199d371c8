package run

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/result"
)

// A cell's machine grows with what its config fragments ask for
// (kconfigs/kasan.config: "# rig: memory=1024 slowdown=3"), and a flag
// the user gave wins over it.
func TestMachineFromFragments(t *testing.T) {
	const kasanMB, kasanSlow = 1024, 3
	for _, tc := range []struct {
		name      string
		configs   []string
		opts      Options
		mem       int
		boot, run time.Duration
		watchdog  string // the guest's rig.watchdog, "" = none
		notice    string
	}{
		{name: "default", mem: machine.DefaultMemoryMB, boot: machine.DefaultBootTimeout,
			run: machine.DefaultBootTimeout + 2*(10*time.Second+90*time.Second)},
		{name: "kasan", configs: []string{"kasan"}, mem: kasanMB, boot: kasanSlow * machine.DefaultBootTimeout,
			run: kasanSlow*machine.DefaultBootTimeout + 2*(10*time.Second+kasanSlow*90*time.Second), watchdog: "rig.watchdog=3m20s"},
		{name: "flags win", configs: []string{"kasan"}, opts: Options{MemoryMB: 768, BootTimeout: time.Minute, RunTimeout: time.Hour},
			mem: 768, boot: time.Minute, run: time.Hour, watchdog: "rig.watchdog=3m20s",
			notice: "--memory 768 is less than its config fragments ask for (1024 MiB"},
		{name: "more memory than asked", configs: []string{"kasan"}, opts: Options{MemoryMB: 2048},
			mem: 2048, boot: kasanSlow * machine.DefaultBootTimeout,
			run: kasanSlow*machine.DefaultBootTimeout + 2*(10*time.Second+kasanSlow*90*time.Second), watchdog: "rig.watchdog=3m20s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			o := tc.opts
			o.Duration, o.Seed, o.Cache, o.Root, o.UI = 10*time.Second, 7, t.TempDir(), "../..", ui.New(&log)
			dir := t.TempDir()
			s := Spec{ID: "x86_64", Arch: "x86_64", Tests: []string{"pi-giveup", "pi-handover"}, Configs: tc.configs}
			c, err := newCell(o, s, &record{run: &result.Run{ID: "r"}, dir: dir}, dir)
			if err != nil {
				t.Fatal(err)
			}
			env := &fakeEnv{events: testEvents("pass", "fine"), outcome: poweredOff}
			c.env = env
			c.execute(context.Background(), nil)
			cfg := env.booted
			if cfg.MemoryMB != tc.mem || cfg.BootTimeout != tc.boot || cfg.RunTimeout != tc.run {
				t.Errorf("machine: %d MiB, boot timeout %s, run timeout %s; want %d MiB, %s, %s",
					cfg.MemoryMB, cfg.BootTimeout, cfg.RunTimeout, tc.mem, tc.boot, tc.run)
			}
			gotWD := ""
			for _, w := range strings.Fields(cfg.Cmdline) {
				if strings.HasPrefix(w, "rig.watchdog=") {
					gotWD = w
				}
			}
			if gotWD != tc.watchdog {
				t.Errorf("guest watchdog %q, want %q (cmdline %q)", gotWD, tc.watchdog, cfg.Cmdline)
			}
			if !strings.Contains(log.String(), tc.notice) || tc.notice == "" && strings.Contains(log.String(), "--memory") {
				t.Errorf("output %q, want the notice %q", log.String(), tc.notice)
			}
		})
	}
}

// A KASAN kernel cannot boot through x86_64's PVH entry (pvh=off in
// kconfigs/kasan.config): its cell builds, caches and boots the bzImage;
// every other x86_64 cell, and arm64 with KASAN, keep the arch's image.
func TestImageFromFragments(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		configs []string
		image   string
	}{
		{"x86_64", nil, "vmlinux"},
		{"x86_64", []string{"kcsan"}, "vmlinux"},
		{"x86_64", []string{"kasan"}, "arch/x86/boot/bzImage"},
		{"arm64", []string{"kasan"}, "arch/arm64/boot/Image"},
	} {
		o := Options{Duration: time.Second, Seed: 7, Cache: t.TempDir(), Root: "../..", UI: ui.Discard()}
		dir := t.TempDir()
		c, err := newCell(o, Spec{ID: tc.arch, Arch: tc.arch, Configs: tc.configs}, &record{run: &result.Run{ID: "r"}, dir: dir}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if c.arch.Image != tc.image {
			t.Errorf("%s %v: image %s, want %s", tc.arch, tc.configs, c.arch.Image, tc.image)
		}
	}
}
