package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/initramfs"
)

// Pack times the guest image build: cold (into an empty cache, so the guest
// is compiled and packed; Go's own build cache stays warm) and cached (the
// rig's cache, where the image exists), n times each.
func Pack(ctx context.Context, root, cacheDir string, a arch.Arch, n int, progress func(string)) []Sample {
	cold := Sample{Name: "pack " + a.Name + " cold (image not cached)"}
	cached := Sample{Name: "pack " + a.Name + " cached"}
	// Make sure the cached one exists.
	if _, err := (initramfs.Builder{Root: root, Cache: cacheDir}).Build(ctx, a, false); err != nil {
		cold.Errors = append(cold.Errors, err.Error())
		return []Sample{cold}
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		tmp, err := os.MkdirTemp(cacheDir, ".bench-pack-*")
		if err != nil {
			cold.Errors = append(cold.Errors, err.Error())
			break
		}
		t0 := time.Now()
		_, err = initramfs.Builder{Root: root, Cache: tmp}.Build(ctx, a, false)
		record(&cold, time.Since(t0), err)
		os.RemoveAll(tmp)
		t0 = time.Now()
		img, err := initramfs.Builder{Root: root, Cache: cacheDir}.Build(ctx, a, false)
		if err == nil && !img.Cached {
			err = fmt.Errorf("image %s was not cached", img.Path)
		}
		record(&cached, time.Since(t0), err)
	}
	progress(fmt.Sprintf("pack %s: cold %s cached %s", a.Name, secs(cold.Median()), secs(cached.Median())))
	return []Sample{cold, cached}
}
