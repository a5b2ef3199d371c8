package kbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/kconfig"
)

// The slot's .config is generated once per config key, kept while no
// series touches Kconfig, and refreshed for a series that does and for the
// one after it.
func TestSlotConfigure(t *testing.T) {
	calls := filepath.Join(t.TempDir(), "calls")
	fakeMake(t, `for a in "$@"; do case $a in O=*) out=${a#O=};; esac; last=$a; done
printf 'CONFIG_FUTEX=y\n' > "$out/.config"
echo "$last" >> `+calls+"\n")
	s := Slot{Src: t.TempDir(), Build: t.TempDir()}
	script := filepath.Join(s.Src, "scripts/kconfig/merge_config.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	frags := []kconfig.Fragment{{Name: "base", Data: []byte("CONFIG_FUTEX=y\nCONFIG_FUTEX_PI=y\n")}}
	m := kconfig.Make{Src: s.Src, Build: s.Build}
	for i, step := range []struct {
		key     string
		touched bool
		make    string // the make targets this step runs
		cached  bool
	}{
		{"k1", false, "tinyconfig olddefconfig", false},
		{"k1", false, "", true},
		{"k1", true, "olddefconfig", false},  // the series touches Kconfig
		{"k1", false, "olddefconfig", false}, // the last one did
		{"k1", false, "", true},
		{"k2", false, "tinyconfig olddefconfig", false}, // another config
	} {
		os.Remove(calls)
		missing, cached, _, err := s.Configure(context.Background(), m, frags, step.key, step.touched)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		b, _ := os.ReadFile(calls)
		if got := strings.Join(strings.Fields(string(b)), " "); got != step.make || cached != step.cached {
			t.Errorf("step %d: make %q cached %v, want %q %v", i, got, cached, step.make, step.cached)
		}
		if len(missing) != 1 || missing[0].Name != "CONFIG_FUTEX_PI" {
			t.Errorf("step %d: missing %v, want CONFIG_FUTEX_PI", i, missing)
		}
	}
}
