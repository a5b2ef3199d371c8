package initramfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/rig-kernel/rig/rig/cache"
)

// Entry is one thing an overlay archive adds to the image: a regular file
// copied from Src with Mode's permission bits, a directory, or a symlink
// to Link.
type Entry struct {
	Name string      // path in the image, relative to its root ("rig/exec/prog")
	Src  string      // the host file of a regular file
	Mode fs.FileMode // permission bits (regular files and directories)
	Dir  bool
	Link string // a symlink's target
}

// reservedPrefixes are the image's paths under which an overlay may add
// no file: the mount points whose files a mount would hide at boot, and
// where the rig puts its own overlays (the selftests, --exec'd programs).
// It may add directories there (they replace nothing). /init (the guest),
// the shell's commands and the base directories themselves are never
// replaced (docs/design.md, "Your own programs and boot options").
var reservedPrefixes = []string{"dev", "proc", "sys", "tmp", "kselftest", "rig"}

// baseDirs are the base image's other directories: an overlay may add
// files in them, never replace one with a file.
var baseDirs = []string{"bin", "etc"}

// Reserved says why an overlay may not hold name ("" when it may): it
// would replace or hide a file the guest needs.
func Reserved(name string, isDir bool) string {
	top, _, _ := strings.Cut(name, "/")
	if name == "init" {
		return "/init is the rig's guest"
	}
	for _, c := range ShellCommands {
		if name == "bin/"+c {
			return "/" + name + " is a command of the rig's shell (rig boot --shell)"
		}
	}
	if isDir {
		return ""
	}
	for _, r := range reservedPrefixes {
		if top == r {
			return "/" + r + " belongs to the rig and the guest (" + reservedWhy[r] + ")"
		}
	}
	for _, d := range baseDirs {
		if name == d {
			return "/" + d + " is a directory of the image"
		}
	}
	return ""
}

var reservedWhy = map[string]string{
	"dev":       "devtmpfs is mounted there at boot, hiding what the image holds",
	"proc":      "proc is mounted there at boot, hiding what the image holds",
	"sys":       "sysfs is mounted there at boot, hiding what the image holds",
	"tmp":       "a tmpfs is mounted there at boot, hiding what the image holds",
	"kselftest": "the tree's selftests go there",
	"rig":       "the programs of --exec go there",
}

// ReadOverlay lists the files, directories and symlinks under dir as
// entries at the image's root. Anything else (a device, a FIFO, a socket)
// and anything Reserved refuses is an error naming the file.
func ReadOverlay(dir string) ([]Entry, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var out []Entry
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Name: name, Mode: info.Mode().Perm()}
		switch {
		case info.Mode().IsRegular():
			e.Src = p
		case info.IsDir():
			e.Dir = true
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: a %v, not a file, directory or symlink", p, info.Mode().Type())
		}
		if why := Reserved(name, e.Dir); why != "" {
			return fmt.Errorf("%s would replace /%s in the image: %s; move it elsewhere in the overlay", p, name, why)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// EntriesKey identifies entries by content: names, kinds, modes, link
// targets and the SHA-256 of each file.
func EntriesKey(entries []Entry) (string, error) {
	parts := []string{"entries-v1"}
	for _, e := range sorted(entries) {
		h := ""
		switch {
		case e.Dir:
			h = "dir"
		case e.Link != "":
			h = "link:" + e.Link
		default:
			var err error
			if h, err = cache.HashFile(e.Src); err != nil {
				return "", err
			}
		}
		parts = append(parts, e.Name, fmt.Sprintf("%o", e.Mode), h)
	}
	return cache.Key(parts...), nil
}

func sorted(entries []Entry) []Entry {
	out := append([]Entry(nil), entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// records turns entries (and their parent directories) into archive
// records, in name order.
func records(entries []Entry) ([]cpio.Record, error) {
	var recs []cpio.Record
	for _, e := range sorted(entries) {
		n := path.Clean(e.Name)
		switch {
		case e.Dir:
			recs = append(recs, cpio.Directory(n, uint64(e.Mode)))
		case e.Link != "":
			recs = append(recs, cpio.Symlink(n, e.Link))
		default:
			data, err := os.ReadFile(e.Src)
			if err != nil {
				return nil, err
			}
			recs = append(recs, cpio.StaticRecord(data, cpio.Info{Name: n, Mode: cpio.S_IFREG | uint64(e.Mode)}))
		}
	}
	return recs, nil
}
