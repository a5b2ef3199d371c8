package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The host binary knows the guest's tests through guest/catalog and talks
// to the guest through guest/event; it links none of the guest's test or
// syscall code. (Package guest itself, the guest's sources as embedded
// files to build it from, is data, not guest code.)
func TestHostLinksNoGuestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{"github.com/rig-kernel/rig/guest/catalog": true, "github.com/rig-kernel/rig/guest/event": true}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/rig-kernel/rig/guest/") && !allowed[p] {
			t.Errorf("the host binary links %s", p)
		}
	}
}

// One cell knows nothing of the scheduler of many: rig/matrix imports
// rig/run, never the reverse.
func TestRunDoesNotImportMatrix(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/rig-kernel/rig/rig/run").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/rig-kernel/rig/rig/matrix" {
			t.Error("rig/run imports rig/matrix")
		}
	}
}
