package kbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/arch"
)

func TestKernelCachePublish(t *testing.T) {
	a, _ := arch.Lookup("arm64")
	dir, src := t.TempDir(), t.TempDir()
	k := CachedKernel(dir, a, "tree1", "cfg", "gcc 12")
	if k.Present() || !strings.HasPrefix(k.BuildID, "rig-") || filepath.Base(k.Image) != "Image" {
		t.Fatalf("fresh entry %+v present %v", k, k.Present())
	}
	if other := CachedKernel(dir, a, "tree2", "cfg", "gcc 12"); other.Key == k.Key {
		t.Errorf("two trees share key %s", k.Key)
	}
	for name, body := range map[string]string{"Image": "image", "vmlinux": "elf", "config": "CONFIG_FUTEX=y", "build.log": "CC kernel/futex/core.o"} {
		os.WriteFile(filepath.Join(src, name), []byte(body), 0o644)
	}
	if err := k.Publish(filepath.Join(src, "Image"), filepath.Join(src, "vmlinux"), filepath.Join(src, "config"), filepath.Join(src, "build.log"), "6.12.118"); err != nil {
		t.Fatal(err)
	}
	if !k.Present() {
		t.Fatal("not present after Publish")
	}
	for name, want := range map[string]string{"Image": "image", KernelVmlinuxFile: "elf", KernelConfigFile: "CONFIG_FUTEX=y", KernelLogFile: "CC kernel/futex/core.o",
		KernelReleaseFile: "6.12.118", KernelBuildIDFile: k.BuildID} {
		if b, _ := os.ReadFile(filepath.Join(k.Dir, name)); string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	// Another rig publishing the same key afterwards loses the race quietly.
	if err := k.Publish(filepath.Join(src, "Image"), "", filepath.Join(src, "config"), filepath.Join(src, "build.log"), "6.12.118"); err != nil {
		t.Errorf("second publish: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(k.Dir))
	if len(ents) != 1 {
		t.Errorf("kernels/ holds %d entries, want 1 (no temporary left)", len(ents))
	}
	// A missing input fails and leaves nothing.
	k3 := CachedKernel(dir, a, "tree3", "cfg", "gcc 12")
	if err := k3.Publish(filepath.Join(src, "nope"), "", filepath.Join(src, "config"), filepath.Join(src, "build.log"), "x"); err == nil || k3.Present() {
		t.Errorf("publish of a missing image: %v, present %v", err, k3.Present())
	}
}

// TestKernelCachePublishVmlinuxImage: x86_64 boots vmlinux itself, so its
// entry holds the one file, copied once, and finds it present.
func TestKernelCachePublishVmlinuxImage(t *testing.T) {
	a, _ := arch.Lookup("x86_64")
	dir, src := t.TempDir(), t.TempDir()
	k := CachedKernel(dir, a, "tree1", "cfg", "gcc 12")
	if k.Image != k.Vmlinux() {
		t.Fatalf("x86_64 image %s, vmlinux %s: want the same file", k.Image, k.Vmlinux())
	}
	vmlinux := filepath.Join(src, "vmlinux")
	os.WriteFile(vmlinux, []byte("elf"), 0o644)
	os.WriteFile(filepath.Join(src, "config"), []byte("CONFIG_PVH=y"), 0o644)
	if err := k.Publish(vmlinux, vmlinux, filepath.Join(src, "config"), "", "6.12.118"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(k.Image); err != nil || string(b) != "elf" || !k.Present() {
		t.Fatalf("published image %q %v, present %v", b, err, k.Present())
	}
}
