package kbuild

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
)

// Kernel is an entry of the kernel cache (<cache>/kernels): a finished,
// verified boot image with the config, build log, kernel release and
// build id it was built with, keyed by what it was built from.
type Kernel struct {
	Key     string // hash of the tree, arch, config and compiler
	Dir     string
	Image   string // the boot image in Dir
	BuildID string // KBUILD_BUILD_VERSION of the build, which the image carries
}

// Files of a Kernel entry beside the image.
const (
	KernelConfigFile  = "kernel.config"
	KernelLogFile     = "build.log"
	KernelReleaseFile = "kernel.release"
	KernelBuildIDFile = "build-id"
	// KernelVmlinuxFile is the ELF kernel the image was made from: its
	// symbols and, with CONFIG_DEBUG_INFO, its DWARF decode reports to
	// file:line (rig/symbolize) and serve gdb (rig boot --gdb).
	KernelVmlinuxFile = "vmlinux"
)

// CachedKernel names the kernel cache entry for tree treeID built for a
// with config configKey by compiler gcc, present or not. v2: entries are
// published only after their objects were verified (Build.Verify) and
// carry their build id; v1 entries were not.
func CachedKernel(cacheDir string, a arch.Arch, treeID, configKey, gcc string) Kernel {
	key := cache.Key("kernel-v2", treeID, a.Name, configKey, gcc)
	dir := cache.Kernels.Path(cacheDir, a.Name, key)
	return Kernel{Key: key, Dir: dir, Image: filepath.Join(dir, filepath.Base(a.Image)), BuildID: BuildID(key)}
}

// Present reports whether the entry has been published.
func (k Kernel) Present() bool {
	_, err := os.Stat(k.Image)
	return err == nil
}

// Vmlinux is the entry's vmlinux (it may be absent).
func (k Kernel) Vmlinux() string { return filepath.Join(k.Dir, KernelVmlinuxFile) }

// Publish copies a verified build into the entry, atomically: another rig
// sees the whole entry or none. Losing a race to another rig publishing
// the same key is not an error. vmlinux is copied too unless it is "" or
// the image is vmlinux.
func (k Kernel) Publish(image, vmlinux, config, buildLog, release string) error {
	if err := os.MkdirAll(filepath.Dir(k.Dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(k.Dir), ".kernel-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []struct{ from, to string }{
		{image, filepath.Base(k.Image)}, {vmlinux, KernelVmlinuxFile}, {config, KernelConfigFile}, {buildLog, KernelLogFile},
	} {
		if f.from == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(tmp, f.to)); err == nil {
			continue // x86_64's boot image is vmlinux itself: copied once
		}
		if err := atomicfile.Copy(f.from, filepath.Join(tmp, f.to)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, KernelReleaseFile), []byte(release), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, KernelBuildIDFile), []byte(k.BuildID), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, k.Dir); err != nil && !errors.Is(err, os.ErrExist) && !k.Present() {
		return err
	}
	return nil
}
