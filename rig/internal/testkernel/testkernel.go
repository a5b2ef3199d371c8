// Package testkernel gives end-to-end tests a bootable x86_64 kernel the
// rig did not build (Debian's prebuilt 6.12 image, fetched once into the
// cache, or $RIG_TEST_KERNEL) and minimal Go inits to boot it with, so
// the machine layer and the run's fault handling are tested without a
// kernel build.
package testkernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
)

// packageRe matches the Debian kernel packages the tests can use.
var packageRe = regexp.MustCompile(`^linux-image-(6\.12\.[0-9]+)\+deb12-amd64-unsigned$`)

var (
	once sync.Once
	path string
	err  error
)

// Get returns the test kernel, fetching it on first use, or skips t:
// under -short, without qemu-system-x86_64, or when no kernel can be had.
func Get(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test (-short)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	once.Do(func() { path, err = find() })
	if err != nil {
		t.Skipf("no test kernel: %v", err)
	}
	return path
}

func find() (string, error) {
	if k := os.Getenv("RIG_TEST_KERNEL"); k != "" {
		return k, nil
	}
	root, err := cache.Dir()
	if err != nil {
		return "", err
	}
	dir := cache.TestKernel.Path(root)
	if k, ok := cached(dir); ok {
		return k, nil
	}
	// Test binaries of several packages run at once: one fetches, the
	// others wait and find its result.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lock, err := cache.Acquire(ctx, dir+".lock", nil)
	if err != nil {
		return "", err
	}
	defer lock.Release()
	if k, ok := cached(dir); ok {
		return k, nil
	}
	return fetch(ctx, dir)
}

func cached(dir string) (string, bool) {
	m, _ := filepath.Glob(filepath.Join(dir, "*", "boot", "vmlinuz-*"))
	if len(m) == 0 {
		return "", false
	}
	// The newest version, by number: 6.12.117 is newer than 6.12.41.
	sort.Slice(m, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(filepath.Dir(m[i]))), filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
	})
	return m[len(m)-1], true
}

// fetch downloads the newest linux-image-6.12.*-amd64-unsigned with
// apt-get and unpacks its /boot into dir/<version>.
func fetch(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "search", "--names-only", `^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$`).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache search: %w", err)
	}
	var pkg, ver string
	for _, l := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(l, " ")
		if m := packageRe.FindStringSubmatch(name); m != nil && versionLess(ver, m[1]) {
			pkg, ver = name, m[1]
		}
	}
	if pkg == "" {
		return "", errors.New("no linux-image-6.12.*-amd64-unsigned package known to apt (apt-get update?)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "apt-get", "download", pkg)
	dl.Dir = tmp
	if b, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w: %s", pkg, err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) == 0 {
		return "", fmt.Errorf("apt-get download %s: no .deb", pkg)
	}
	unpacked := filepath.Join(tmp, "unpacked")
	if err := os.Mkdir(unpacked, 0o755); err != nil {
		return "", err
	}
	x := exec.CommandContext(ctx, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./boot`, "sh", debs[0], unpacked)
	if b, err := x.CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpacking %s: %w: %s", debs[0], err, b)
	}
	if m, _ := filepath.Glob(filepath.Join(unpacked, "boot", "vmlinuz-*")); len(m) == 0 {
		return "", fmt.Errorf("no vmlinuz in %s", pkg)
	}
	if err := os.Rename(unpacked, filepath.Join(dir, ver)); err != nil {
		return "", err
	}
	k, _ := cached(dir)
	return k, nil
}

// versionLess compares dotted numeric versions ("" is lowest).
func versionLess(a, b string) bool {
	if a == "" {
		return true
	}
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if len(pa[i]) != len(pb[i]) {
			return len(pa[i]) < len(pb[i])
		}
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}
