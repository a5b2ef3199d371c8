package initramfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/rig-kernel/rig/guest"
	"github.com/rig-kernel/rig/kconfigs"
	"github.com/rig-kernel/rig/rig/cache"
)

// ModulePath is the rig's Go module: the guest's packages live in it.
const ModulePath = "github.com/rig-kernel/rig"

// GeneratedHeader starts a go.mod that Sources wrote from the binary's
// build information.
const GeneratedHeader = "// Written by rig from its build information: the module versions this rig binary was built with.\n"

// Sources returns a directory holding what the guest image is built from
// and the config fragments are read from: guest/, kconfigs/, go.mod and
// go.sum. They are the ones compiled into this binary (packages guest and
// kconfigs embed them), unpacked once into the cache under a key of their
// content, so a rig installed with `go install` or copied anywhere builds
// the guest it was built with, from any directory. RIG_ROOT names a
// checkout to use instead (a guest being edited, with a rig built earlier).
func Sources() (string, error) {
	if r := os.Getenv("RIG_ROOT"); r != "" {
		if isRoot(r) {
			return r, nil
		}
		return "", fmt.Errorf("RIG_ROOT=%s is not the rig's source checkout (no go.mod for %s)", r, ModulePath)
	}
	mod, sum, err := moduleFiles()
	if err != nil {
		return "", err
	}
	files, err := embedded()
	if err != nil {
		return "", err
	}
	files["go.mod"], files["go.sum"] = mod, sum
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := []string{"sources-v1"}
	for _, n := range names {
		parts = append(parts, n, string(files[n]))
	}
	cacheDir, err := cache.Dir()
	if err != nil {
		return "", err
	}
	dir := cache.RigSources.Path(cacheDir, cache.Key(parts...))
	done := func(d string) bool { return isRoot(d) }
	_, err = cache.GetOrBuild(context.Background(), dir, done, nil, func(tmp string) error {
		for _, n := range names {
			p := filepath.Join(tmp, filepath.FromSlash(n))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, files[n], 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("unpacking the rig's sources into the cache: %w", err)
	}
	return dir, nil
}

// embedded returns the files this binary carries, by slash-separated path
// relative to the module's root (guest/..., kconfigs/...).
func embedded() (map[string][]byte, error) {
	files := map[string][]byte{}
	for dir, fsys := range map[string]fs.FS{"guest": guest.Source, "kconfigs": kconfigs.Fragments} {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			files[path.Join(dir, p)] = b
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// Embedded lists the files this binary carries (guest/..., kconfigs/...).
func Embedded() ([]string, error) {
	files, err := embedded()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, err
}

// Checkout returns the rig's source checkout holding dir (its top or any
// directory below), or "" when dir is in none.
func Checkout(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if isRoot(d) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func isRoot(d string) bool {
	b, err := os.ReadFile(filepath.Join(d, "go.mod"))
	return err == nil && (bytes.Contains(b, []byte("\nmodule "+ModulePath+"\n")) || bytes.HasPrefix(b, []byte("module "+ModulePath+"\n")))
}

// moduleFiles returns the go.mod and go.sum the guest is built with. A rig
// binary records every module it was built from (path, version, checksum),
// and those are the guest's requirements, so the guest gets the versions
// the rig was built with; modules only the guest or u-root's shell need
// come from the module cache (or the proxy) as go.mod of u-root selects
// them. A test binary records no dependencies: it is compiled from a
// checkout, whose go.mod and go.sum it takes.
func moduleFiles() (mod, sum []byte, err error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil, nil, errors.New("this rig binary has no module build information: build it with module support (go build ./cmd/rig)")
	}
	if len(bi.Deps) > 0 {
		return GoModFromBuildInfo(bi)
	}
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, s := range starts {
		if root := Checkout(s); root != "" {
			if mod, err = os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
				sum, err = os.ReadFile(filepath.Join(root, "go.sum"))
			}
			return mod, sum, err
		}
	}
	return nil, nil, errors.New("this rig binary records no module dependencies and no checkout holds it: build it with `go build ./cmd/rig` or `go install`")
}

var goVersionRe = regexp.MustCompile(`go(1\.[0-9]+)`)

// GoModFromBuildInfo writes a go.mod and go.sum for ModulePath requiring
// exactly the modules bi lists, with their checksums; its go line is the
// language version of the toolchain that built the binary.
func GoModFromBuildInfo(bi *debug.BuildInfo) (mod, sum []byte, err error) {
	m := goVersionRe.FindStringSubmatch(bi.GoVersion)
	if m == nil {
		return nil, nil, fmt.Errorf("cannot tell the Go version of %q", bi.GoVersion)
	}
	var mb, sb, rb strings.Builder
	fmt.Fprintf(&mb, "%smodule %s\n\ngo %s\n", GeneratedHeader, ModulePath, m[1])
	if len(bi.Deps) > 0 {
		mb.WriteString("\nrequire (\n")
	}
	for _, d := range bi.Deps {
		fmt.Fprintf(&mb, "\t%s %s\n", d.Path, d.Version)
		s := d
		if r := d.Replace; r != nil {
			s = r
			if r.Version == "" { // a directory
				fmt.Fprintf(&rb, "\t%s => %s\n", d.Path, r.Path)
			} else {
				fmt.Fprintf(&rb, "\t%s => %s %s\n", d.Path, r.Path, r.Version)
			}
		}
		if s.Sum != "" {
			fmt.Fprintf(&sb, "%s %s %s\n", s.Path, s.Version, s.Sum)
		}
	}
	if len(bi.Deps) > 0 {
		mb.WriteString(")\n")
	}
	if rb.Len() > 0 {
		fmt.Fprintf(&mb, "\nreplace (\n%s)\n", rb.String())
	}
	return []byte(mb.String()), []byte(sb.String()), nil
}
