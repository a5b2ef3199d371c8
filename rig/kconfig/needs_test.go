package kconfig_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/kconfig"
)

func TestParseNeeds(t *testing.T) {
	for _, tc := range []struct {
		data string
		want kconfig.Needs
		err  string // what the error must contain; "" = no error
	}{
		{"CONFIG_A=y\n", kconfig.Needs{}, ""},
		{"# rig: memory=1024 slowdown=3\nCONFIG_A=y\n", kconfig.Needs{MemoryMB: 1024, Slowdown: 3}, ""},
		{"#rig: memory=1\n# rig: slowdown=1.5\n", kconfig.Needs{Slowdown: 1.5}, ""}, // "#rig:" is a comment, not a directive
		{"  # rig: slowdown=2  \n", kconfig.Needs{Slowdown: 2}, ""},
		{"# a comment that says rig: memory=9\n", kconfig.Needs{}, ""},
		{"CONFIG_A=y\n# rig: memory=lots\n", kconfig.Needs{}, `f.config:2: memory="lots"`},
		{"# rig: memory=0\n", kconfig.Needs{}, `f.config:1: memory="0"`},
		{"# rig: slowdown=0.5\n", kconfig.Needs{}, `slowdown="0.5" is not a factor from 1 to 50`},
		{"# rig: slowdown=1e9\n", kconfig.Needs{}, `slowdown="1e9"`},
		{"# rig: slowdown=NaN\n", kconfig.Needs{}, `slowdown="NaN"`},
		{"# rig: cpus=4\n", kconfig.Needs{}, `f.config:1: unknown setting "cpus=4"`},
		{"# rig: memory=1024 pvh=off\n", kconfig.Needs{MemoryMB: 1024, NoPVH: true}, ""},
		{"# rig: pvh=on\n", kconfig.Needs{}, `pvh="on": only pvh=off`},
	} {
		got, err := kconfig.ParseNeeds([]byte(tc.data), "f.config")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseNeeds(%q): %v", tc.data, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseNeeds(%q) = %v, want an error containing %q", tc.data, err, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), "# rig: memory=1024 slowdown=3"):
			t.Errorf("ParseNeeds(%q) = %v, want it to show the form", tc.data, err)
		case got != tc.want:
			t.Errorf("ParseNeeds(%q) = %+v, want %+v", tc.data, got, tc.want)
		}
	}
}

func TestNeedsOf(t *testing.T) {
	frags := []kconfig.Fragment{
		{Path: "base", Data: []byte("CONFIG_A=y\n")},
		{Path: "kasan", Data: []byte("# rig: memory=1024 slowdown=3 pvh=off\n")},
		{Path: "ubsan", Data: []byte("# rig: memory=768 slowdown=2\n")},
	}
	got, err := kconfig.NeedsOf(frags)
	if err != nil {
		t.Fatal(err)
	}
	if want := (kconfig.Needs{MemoryMB: 1024, Slowdown: 6, NoPVH: true}); got != want {
		t.Errorf("NeedsOf = %+v, want %+v (the largest memory, the product of slowdowns, PVH off if any says so)", got, want)
	}
	if n, _ := kconfig.NeedsOf(frags[:1]); n.Factor() != 1 || n.MemoryMB != 0 {
		t.Errorf("no directive: %+v, factor %v; want nothing needed, factor 1", n, n.Factor())
	}
	if _, err := kconfig.NeedsOf(append(frags, kconfig.Fragment{Path: "x/bad.config", Data: []byte("# rig: memory=-1\n")})); err == nil || !strings.Contains(err.Error(), "x/bad.config:1:") {
		t.Errorf("bad directive: err = %v, want it to name x/bad.config:1", err)
	}
}

// A directive is about the machine: the config the kernel is built from,
// and so its key, is the same without it.
func TestConfigDataDropsDirectives(t *testing.T) {
	plain := "# kasan: a comment\nCONFIG_KASAN=y\n# CONFIG_SLUB_TINY is not set\n"
	with := "# kasan: a comment\n# rig: memory=1024 slowdown=3\nCONFIG_KASAN=y\n# CONFIG_SLUB_TINY is not set\n"
	if got := string(kconfig.ConfigData([]byte(with))); got != plain {
		t.Errorf("ConfigData = %q, want %q", got, plain)
	}
	if got := string(kconfig.ConfigData([]byte(plain))); got != plain {
		t.Errorf("ConfigData without directives changed the text: %q", got)
	}
}

// The shipped sanitizer fragments ask for what they need (docs/design.md,
// "Sanitizer kernels"), and a bad directive in a fragment fails Resolve.
func TestShippedNeeds(t *testing.T) {
	dir := filepath.Join("..", "..", "kconfigs")
	for _, name := range []string{"kasan", "kcsan", "ubsan"} {
		frags, err := kconfig.Resolve(dir, []string{"base", name})
		if err != nil {
			t.Fatal(err)
		}
		n, err := kconfig.NeedsOf(frags)
		if err != nil {
			t.Fatal(err)
		}
		if n.Factor() <= 1 {
			t.Errorf("%s: slowdown %v, want more than 1: its instrumentation slows the kernel", name, n.Factor())
		}
		if name == "kasan" && n.MemoryMB < 1024 {
			t.Errorf("kasan: memory %d MiB, want at least 1024 for its shadow and quarantine", n.MemoryMB)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.config")
	if err := os.WriteFile(bad, []byte("CONFIG_A=y\n# rig: memory=big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kconfig.Resolve(dir, []string{bad}); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("Resolve of a bad directive: err = %v, want %s:2:", err, bad)
	}
}
