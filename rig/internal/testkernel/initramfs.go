package testkernel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// InitImage builds the Go program in pkgDir statically for x86_64 (with
// ldflags, if any) and packs it as /init, with /dev/console (5:1), in a newc
// archive in dir. It returns the archive's path.
func InitImage(dir, pkgDir, ldflags string) (string, error) {
	bin := filepath.Join(dir, "init")
	args := []string{"build", "-trimpath"}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	build := exec.Command("go", append(args, "-o", bin, ".")...)
	build.Dir = pkgDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkgDir, err, b)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "initramfs.cpio")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := cpio.Newc.Writer(f)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.Directory("proc", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(data), 0o755),
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		return "", err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return "", err
	}
	return path, f.Close()
}

// FaultInitramfs is rig/machine/qemu/testdata/faultinit with mode linked in
// (main.mode: how the guest misbehaves), packed by InitImage.
func FaultInitramfs(t testing.TB, mode string) string {
	t.Helper()
	path, err := InitImage(t.TempDir(), filepath.Join(moduleRoot(), "rig", "machine", "qemu", "testdata", "faultinit"), "-X main.mode="+mode)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// moduleRoot is the repository's top directory, found from this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
