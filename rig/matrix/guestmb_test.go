package matrix

import (
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/run"
)

// The default -j is sized by the largest guest: a kasan cell's 1 GiB
// (its fragment's "# rig: memory=1024") unless --memory says otherwise.
func TestGuestMB(t *testing.T) {
	specs := []Spec{{Arch: "x86_64"}, {Arch: "arm64", Configs: []string{"kasan"}}}
	if mb, err := guestMB(specs[:1], run.Options{Root: "../.."}); err != nil || mb != 512 {
		t.Errorf("default cells: %d MiB, %v; want 512", mb, err)
	}
	if mb, err := guestMB(specs, run.Options{Root: "../.."}); err != nil || mb != 1024 {
		t.Errorf("with a kasan cell: %d MiB, %v; want 1024", mb, err)
	}
	if mb, err := guestMB(specs, run.Options{Root: "../..", MemoryMB: 768}); err != nil || mb != 768 {
		t.Errorf("--memory 768: %d MiB, %v; want 768", mb, err)
	}
	if _, err := guestMB([]Spec{{Arch: "x86_64", Configs: []string{"nosuch"}}}, run.Options{Root: "../.."}); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown fragment: %v; want an error naming it", err)
	}
}
