package bench

import (
	"context"
	"os"
	"testing"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/run"
)

// TestBootRegression is the CI guard: three boots each way, failing only on
// a gross regression (the rig more than twice as slow as the raw command
// measured in the same test), so noise does not break CI.
func TestBootRegression(t *testing.T) {
	for _, a := range []string{"x86_64", "arm64"} {
		t.Run(a, func(t *testing.T) {
			img := lastImage(t, a)
			p := BootPair(context.Background(), img, 3, func(s string) { t.Log(s) })
			if len(p.Rig.Errors) > 0 || len(p.Limit.Errors) > 0 {
				t.Fatalf("boot errors: rig %q, raw %q", p.Rig.Errors, p.Limit.Errors)
			}
			t.Logf("rig %s raw %s ratio %.2f", p.Rig.Median(), p.Limit.Median(), p.Ratio)
			if p.Ratio > 2.0 {
				t.Errorf("boot to first event: rig %s vs raw %s: ratio %.2f > 2.0", p.Rig.Median(), p.Limit.Median(), p.Ratio)
			}
		})
	}
}

func lastImage(t *testing.T, a string) Image {
	t.Helper()
	dir, err := cache.Dir()
	if err != nil {
		t.Skip(err)
	}
	k, i, err := run.Last(dir, a)
	if err != nil {
		t.Skipf("%v", err)
	}
	for _, f := range []string{k, i} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%v", err)
		}
	}
	return Image{Arch: a, Kernel: k, Initramfs: i}
}
