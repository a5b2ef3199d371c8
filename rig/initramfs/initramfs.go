// Package initramfs packs the guest into a bootable initramfs: the static
// rig-guest, built from the sources the rig binary carries, as /init with
// the device nodes and mount points PID 1 needs (and u-root's shell for
// `rig boot --shell`), cached by content (docs/design.md, "The guest's image").
package initramfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/execx"
)

// GuestPackage is the guest's main package.
const GuestPackage = "./guest/cmd/rig-guest"

// ShellCommands are the u-root commands added for `rig boot --shell`.
var ShellCommands = []string{"gosh", "ls", "cat", "dmesg", "ps", "mount", "echo", "kill", "sleep", "poweroff", "grep", "mkdir"}

// Builder builds guests and images into the cache.
type Builder struct {
	Root  string // holds guest/, go.mod and go.sum: Sources(), or a checkout
	Cache string // the rig's cache directory
	Log   io.Writer
}

// Image is a packed initramfs.
type Image struct {
	Path   string
	Guest  string // the guest binary inside
	Key    string
	Cached bool // nothing was built
	Size   int64
}

// sourceFiles lists, relative to Root, the files the guest binary is built
// from: the guest's Go and assembly sources (not its tests) and the module
// files. The build copies exactly these, so the key covers all it reads.
func (b Builder) sourceFiles() ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(b.Root, "guest"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, ".s")) {
			rel, err := filepath.Rel(b.Root, p)
			files = append(files, rel)
			return err
		}
		return nil
	})
	files = append(files, "go.mod", "go.sum")
	sort.Strings(files)
	return files, err
}

// sourceKey hashes everything the guest binary depends on: its sources, the
// module files and the Go toolchain.
func (b Builder) sourceKey(ctx context.Context, files []string, goarch string, shell bool) (string, error) {
	parts := []string{"guest-v2", goarch, runtime.Version(), fmt.Sprint(shell)}
	if v, err := execx.Output(ctx, execx.Cmd{Argv: []string{"go", "version"}}); err == nil {
		parts = append(parts, strings.TrimSpace(string(v)))
	} else {
		return "", fmt.Errorf("go toolchain: %w (the guest is built with go; run `rig setup`)", err)
	}
	for _, f := range files {
		h, err := cache.HashFile(filepath.Join(b.Root, f))
		if err != nil {
			return "", err
		}
		parts = append(parts, filepath.ToSlash(f), h)
	}
	return cache.Key(parts...), nil
}

// Key is the image's cache key for a (what Build would build or find).
func (b Builder) Key(ctx context.Context, a arch.Arch, shell bool) (string, error) {
	files, err := b.sourceFiles()
	if err != nil {
		return "", err
	}
	return b.sourceKey(ctx, files, a.GOARCH, shell)
}

// Build returns the image for a, building what is not cached.
func (b Builder) Build(ctx context.Context, a arch.Arch, shell bool) (*Image, error) {
	files, err := b.sourceFiles()
	if err != nil {
		return nil, err
	}
	key, err := b.sourceKey(ctx, files, a.GOARCH, shell)
	if err != nil {
		return nil, err
	}
	dir := cache.Images.Path(b.Cache, a.Name, key)
	img := &Image{Path: filepath.Join(dir, "initramfs.cpio"), Guest: filepath.Join(dir, "rig-guest"), Key: key}
	done := func(d string) bool { _, err := os.Stat(filepath.Join(d, "initramfs.cpio")); return err == nil }
	hit, err := cache.GetOrBuild(ctx, dir, done, nil, func(tmp string) error {
		// The build runs in a copy of the keyed files: go may add go.sum
		// lines (-mod=mod), which must touch neither a checkout nor the
		// unpacked sources, and no unkeyed file can reach the binary.
		src := filepath.Join(tmp, "src")
		defer os.RemoveAll(src)
		for _, f := range files {
			if err := copyFile(filepath.Join(b.Root, f), filepath.Join(src, f)); err != nil {
				return err
			}
		}
		bins := map[string]string{"init": filepath.Join(tmp, "rig-guest")}
		if err := goBuild(ctx, src, a, bins["init"], GuestPackage, b.Log); err != nil {
			return fmt.Errorf("building the guest for %s: %w", a.Name, err)
		}
		if shell {
			for _, c := range ShellCommands {
				out := filepath.Join(tmp, "bin-"+c)
				if err := goBuild(ctx, src, a, out, "github.com/u-root/u-root/cmds/core/"+c, b.Log); err != nil {
					return fmt.Errorf("building u-root %s for %s: %w", c, a.Name, err)
				}
				bins["bin/"+c] = out
			}
		}
		cpio := filepath.Join(tmp, "initramfs.cpio")
		if err := atomicfile.WriteWith(cpio, 0o644, func(w io.Writer) error { return Pack(w, bins) }); err != nil {
			return fmt.Errorf("packing %s: %w", img.Path, err)
		}
		for name, p := range bins { // the image holds them; keep only the guest binary
			if name != "init" {
				os.Remove(p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(img.Path)
	if err != nil {
		return nil, err
	}
	img.Cached, img.Size = hit, st.Size()
	return img, nil
}

// goBuild builds pkg static for a in the module at dir. -mod=mod lets go
// add the go.sum lines a written go.mod lacks (Sources), checked as ever
// against the checksum database; GOWORK=off keeps a go.work around the
// cache out.
func goBuild(ctx context.Context, dir string, a arch.Arch, out, pkg string, log io.Writer) error {
	return execx.Run(ctx, execx.Cmd{
		Argv: []string{"go", "build", "-mod=mod", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, pkg},
		Dir:  dir,
		Env:  []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + a.GOARCH, "GOWORK=off"},
		Log:  log,
	})
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// Pack writes a newc archive holding the base layout and the given files
// (archive path -> host path), all executable.
func Pack(w io.Writer, files map[string]string) error {
	if _, ok := files["init"]; !ok {
		return errors.New("initramfs without /init")
	}
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
		cpio.CharDev("dev/ttyS0", 0o600, 4, 64),
		cpio.CharDev("dev/ttyS1", 0o600, 4, 65),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("tmp", 0o1777),
		cpio.Directory("bin", 0o755),
		cpio.Directory("etc", 0o755),
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(files[n])
		if err != nil {
			return err
		}
		recs = append(recs, cpio.StaticRecord(data, cpio.Info{Name: n, Mode: cpio.S_IFREG | 0o755}))
	}
	rw := cpio.Newc.Writer(w)
	if err := cpio.WriteRecordsAndDirs(rw, recs); err != nil {
		return err
	}
	return cpio.WriteTrailer(rw)
}

// WithOverlay returns an image holding base followed by a second newc
// archive of files (archive path -> host path): WithEntries with
// FileEntries(files).
func WithOverlay(cacheDir, base string, files map[string]string, key string) (string, error) {
	return WithEntries(cacheDir, base, FileEntries(files), key)
}

// FileEntries are the entries of files (archive path -> host path):
// executable files 0755, the rest 0644.
func FileEntries(files map[string]string) []Entry {
	var entries []Entry
	for n, p := range files {
		mode := fs.FileMode(0o644)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		entries = append(entries, Entry{Name: n, Src: p, Mode: mode})
	}
	return entries
}

// WithEntries returns an image holding base followed by a second newc
// archive of entries: the kernel unpacks concatenated archives in order.
// The result is cached under key (which must identify the entries'
// content, as EntriesKey does), so the guest image and, say, the kernel
// selftests are each built once and combined for free.
func WithEntries(cacheDir, base string, entries []Entry, key string) (string, error) {
	st, err := os.Stat(base)
	if err != nil {
		return "", err
	}
	out := cache.Overlays.Path(cacheDir, cache.Key(base, fmt.Sprint(st.Size(), st.ModTime().UnixNano()), key))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	recs, err := records(entries)
	if err != nil {
		return "", fmt.Errorf("initramfs overlay: %w", err)
	}
	err = atomicfile.WriteWith(out, 0o644, func(w io.Writer) error {
		in, err := os.Open(base)
		if err != nil {
			return err
		}
		defer in.Close()
		n, err := io.Copy(w, in)
		if err != nil {
			return err
		}
		// newc archives are 4-byte aligned; a second one must start so.
		if pad := (4 - n%4) % 4; pad != 0 {
			if _, err := w.Write(make([]byte, pad)); err != nil {
				return err
			}
		}
		rw := cpio.Newc.Writer(w)
		if err := cpio.WriteRecordsAndDirs(rw, recs); err != nil {
			return err
		}
		return cpio.WriteTrailer(rw)
	})
	if err != nil {
		return "", fmt.Errorf("initramfs overlay: %w", err)
	}
	return out, nil
}
