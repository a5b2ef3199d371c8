package initramfs_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/initramfs"
)

// checkout is the rig's checkout: two levels above this package.
func checkout(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// workingCopy lists the files of guest/ and kconfigs/*.config in the
// checkout that the binary must carry: every file go:embed can take (no
// name starting with '.' or '_').
func workingCopy(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(filepath.Join(root, "guest"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n := d.Name(); p != filepath.Join(root, "guest") && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	configs, _ := filepath.Glob(filepath.Join(root, "kconfigs", "*.config"))
	for _, c := range configs {
		names = append(names, "kconfigs/"+filepath.Base(c))
	}
	slices.Sort(names)
	return names
}

// The binary carries every file of the working copy's guest/ and
// kconfigs/*.config, and Sources unpacks them unchanged, next to a go.mod
// for the module: an embed pattern that misses a file fails here.
func TestSourcesAreTheWorkingCopy(t *testing.T) {
	root := checkout(t)
	t.Setenv("RIG_ROOT", "")
	t.Setenv("RIG_CACHE", t.TempDir())
	want := workingCopy(t, root)
	got, err := initramfs.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the binary carries\n%s\nthe working copy holds\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, must := range []string{"guest/cmd/rig-guest/main.go", "guest/futex/unlock_amd64.s", "kconfigs/base.config", "kconfigs/debug.config"} {
		if !slices.Contains(got, must) {
			t.Errorf("the binary does not carry %s", must)
		}
	}
	dir, err := initramfs.Sources()
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := filepath.Rel(os.Getenv("RIG_CACHE"), dir); err != nil || strings.HasPrefix(rel, "..") {
		t.Fatalf("Sources() = %s, not in the cache %s", dir, os.Getenv("RIG_CACHE"))
	}
	for _, n := range want {
		a, err1 := os.ReadFile(filepath.Join(root, n))
		b, err2 := os.ReadFile(filepath.Join(dir, n))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: unpacked copy differs from the working copy (%v, %v)", n, err1, err2)
		}
	}
	if initramfs.Checkout(dir) != dir {
		t.Errorf("%s/go.mod does not declare %s", dir, initramfs.ModulePath)
	}
	again, err := initramfs.Sources()
	if err != nil || again != dir {
		t.Errorf("second Sources() = %s, %v; want %s", again, err, dir)
	}
}

func TestSourcesEnv(t *testing.T) {
	root := checkout(t)
	t.Chdir(t.TempDir()) // the env var alone must decide
	t.Setenv("RIG_ROOT", root)
	if got, err := initramfs.Sources(); err != nil || got != root {
		t.Errorf("Sources() with RIG_ROOT=%s: %q, %v", root, got, err)
	}
	for name, gomod := range map[string]string{
		"other module":  "module " + initramfs.ModulePath + "x\n",
		"no go.mod":     "",
		"prefix module": "module github.com/rig-kernel\n",
	} {
		bad := t.TempDir()
		if gomod != "" {
			if err := os.WriteFile(filepath.Join(bad, "go.mod"), []byte(gomod), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("RIG_ROOT", bad)
		got, err := initramfs.Sources()
		if err == nil {
			t.Errorf("%s: Sources() = %q, want an error", name, got)
			continue
		}
		if !strings.Contains(err.Error(), "RIG_ROOT="+bad) || !strings.Contains(err.Error(), initramfs.ModulePath) {
			t.Errorf("%s: error %q does not name RIG_ROOT and the module", name, err)
		}
	}
}

func TestCheckout(t *testing.T) {
	root := checkout(t)
	for _, d := range []string{root, filepath.Join(root, "rig", "cache"), filepath.Join(root, "guest", "stress", "child")} {
		if got := initramfs.Checkout(d); got != root {
			t.Errorf("Checkout(%s) = %q, want %s", d, got, root)
		}
	}
	if got := initramfs.Checkout(t.TempDir()); got != "" {
		t.Errorf("Checkout(a temp dir) = %q", got)
	}
}

func TestGoModFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Deps: []*debug.Module{
		{Path: "golang.org/x/sys", Version: "v0.50.0", Sum: "h1:sys="},
		{Path: "example.org/a", Version: "v1.0.0", Replace: &debug.Module{Path: "example.org/b", Version: "v1.1.0", Sum: "h1:b="}},
		{Path: "example.org/c", Version: "v0.1.0", Replace: &debug.Module{Path: "../c"}},
	}}
	mod, sum, err := initramfs.GoModFromBuildInfo(bi)
	if err != nil {
		t.Fatal(err)
	}
	wantMod := initramfs.GeneratedHeader + `module github.com/rig-kernel/rig

go 1.26

require (
	golang.org/x/sys v0.50.0
	example.org/a v1.0.0
	example.org/c v0.1.0
)

replace (
	example.org/a => example.org/b v1.1.0
	example.org/c => ../c
)
`
	if string(mod) != wantMod {
		t.Errorf("go.mod:\n%s\nwant:\n%s", mod, wantMod)
	}
	if want := "golang.org/x/sys v0.50.0 h1:sys=\nexample.org/b v1.1.0 h1:b=\n"; string(sum) != want {
		t.Errorf("go.sum:\n%s\nwant:\n%s", sum, want)
	}
	if _, _, err := initramfs.GoModFromBuildInfo(&debug.BuildInfo{GoVersion: "weird"}); err == nil {
		t.Error("no error for a toolchain version without a Go version")
	}
}

// A rig binary pins the guest's modules only if it is built from them:
// every module a guest package (or u-root's shell, for which u-root's own
// go.mod decides) imports is one the rig binary links.
func TestGuestModulesAreTheBinarys(t *testing.T) {
	modules := func(goarch string, pkgs ...string) map[string]bool {
		cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}"}, pkgs...)...)
		cmd.Dir = checkout(t)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	host := modules("amd64", "./cmd/rig")
	for _, goarch := range []string{"amd64", "arm64"} {
		for m := range modules(goarch, initramfs.GuestPackage) {
			if !host[m] {
				t.Errorf("the guest (%s) needs module %s, which the rig binary does not link: its version would not be pinned", goarch, m)
			}
		}
	}
}

// The guest image builds from the unpacked sources alone.
func TestBuildFromSources(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest")
	}
	t.Setenv("RIG_ROOT", "")
	cacheDir := t.TempDir()
	t.Setenv("RIG_CACHE", cacheDir)
	t.Chdir(t.TempDir())
	dir, err := initramfs.Sources()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := arch.Lookup("arm64")
	b := initramfs.Builder{Root: dir, Cache: cacheDir}
	img, err := b.Build(context.Background(), a, false)
	if err != nil {
		t.Fatal(err)
	}
	if img.Cached || img.Size == 0 {
		t.Errorf("first build: %+v", img)
	}
	if key, err := b.Key(context.Background(), a, false); err != nil || key != img.Key {
		t.Errorf("Key() = %s, %v; Build's key %s", key, err, img.Key)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(img.Path), "src")); !os.IsNotExist(err) {
		t.Errorf("the build's copy of the sources was left in the image's directory: %v", err)
	}
	again, err := b.Build(context.Background(), a, false)
	if err != nil || !again.Cached || again.Path != img.Path {
		t.Errorf("second build: %+v, %v", again, err)
	}
}
