package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// rig boot builds a kernel only with --gdb and no --kernel: a tree flag
// anywhere else is refused rather than ignored.
func TestBootTreeFlagsOnlyWithGDB(t *testing.T) {
	for _, args := range [][]string{
		{"boot", "--config", "debug"},
		{"boot", "--gdb", "--kernel", "/k", "--series", "patches/x"},
		{"boot", "--kernel-src", "/linux"},
	} {
		var out, errb bytes.Buffer
		if code := Execute(context.Background(), args, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), "only rig boot --gdb without --kernel") {
			t.Errorf("rig %v: exit %d, stderr %q", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"boot", "--gdb", "--initramfs", "/x.cpio", "--arch", "arm64", "--results", t.TempDir()}, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), "--initramfs needs --kernel") {
		t.Errorf("boot --gdb --initramfs: exit %d, stderr %q", code, errb.String())
	}
}
