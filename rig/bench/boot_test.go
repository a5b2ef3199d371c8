package bench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

// TestBootRegression is the CI guard: three boots each way, failing only on
// a gross regression (the rig more than twice as slow as the raw command
// measured in the same test), so noise does not break CI. Today's raw
// command boots too, with today's kernel (built once where it is no longer
// the rig's), so the boot goal's reference stays bootable.
func TestBootRegression(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU, and builds the kernels on a new machine (-short)")
	}
	for _, a := range []string{"x86_64", "arm64"} {
		t.Run(a, func(t *testing.T) {
			img := lastImage(t, a)
			ar, err := arch.Lookup(a)
			if err != nil {
				t.Fatal(err)
			}
			if ownTodayKernel(ar) {
				dir, _ := cache.Dir()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
				defer cancel()
				if img.Today, err = BuildToday(ctx, dir, ar, 0, io.Discard); err != nil {
					t.Fatalf("today's kernel: %v", err)
				}
			}
			pairs := BootPair(context.Background(), img, 3, func(s string) { t.Log(s) })
			p := pairs[0]
			if len(p.Rig.Errors) > 0 || len(p.Limit.Errors) > 0 {
				t.Fatalf("boot errors: rig %q, raw %q", p.Rig.Errors, p.Limit.Errors)
			}
			// Today's raw command boots today's kernel: the reference of
			// the boot goal (rig/bench/today.go) still works.
			if len(pairs) != 2 || len(pairs[1].Limit.Errors) > 0 || len(pairs[1].Limit.Runs) != 3 {
				t.Fatalf("today's raw command: %+v", pairs[1:])
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
	if img, err := last(dir, a); err == nil {
		return img
	} else if testing.Short() {
		t.Skipf("no %s kernel built yet (-short): %v", a, err)
	}
	// A new machine: build the default kernel as `rig run` does, so the
	// guard runs in CI from the first run. rig/cli's end-to-end tests need
	// the same kernel: whichever package comes first builds it, the other
	// waits for the slot and finds it cached.
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	r, _, err := run.Run(ctx, run.Options{Arches: []string{a}, Accels: []string{"tcg"}, Tests: []string{"robust-owner-death"},
		Duration: 2 * time.Second, Root: root, Cache: dir, Results: t.TempDir()})
	if err != nil {
		t.Fatalf("building the %s kernel: %v", a, err)
	}
	if r.Status != result.Pass {
		t.Fatalf("building the %s kernel: run %s", a, r.Status)
	}
	img, err := last(dir, a)
	if err != nil {
		t.Fatalf("after rig run: %v", err)
	}
	return img
}

// last is the kernel and image the last `rig run` for arch a booted.
func last(dir, a string) (Image, error) {
	k, i, err := run.Last(dir, a)
	if err != nil {
		return Image{}, err
	}
	for _, f := range []string{k, i} {
		if _, err := os.Stat(f); err != nil {
			return Image{}, err
		}
	}
	return Image{Arch: a, Kernel: k, Initramfs: i}, nil
}
