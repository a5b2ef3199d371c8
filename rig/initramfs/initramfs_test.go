package initramfs_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cavaliergopher/cpio"

	"github.com/rig-kernel/rig/rig/initramfs"
)

// newcEntry is one record of a newc archive, parsed by hand from its
// 110-byte ASCII header (magic + 13 eight-digit hex fields).
type newcEntry struct {
	name                 string
	mode                 uint32
	size                 int
	rdevmajor, rdevminor uint32
	data                 []byte
}

func parseNewc(t *testing.T, b []byte) []newcEntry {
	t.Helper()
	var out []newcEntry
	off := 0
	pad := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			t.Fatalf("truncated header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:6+8*i+8]), 16, 32)
			if err != nil {
				t.Fatalf("bad header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
		e := newcEntry{mode: field(1), size: int(field(6)), rdevmajor: field(9), rdevminor: field(10)}
		namesize := int(field(11))
		nameStart := off + 110
		e.name = string(b[nameStart : nameStart+namesize-1])
		if b[nameStart+namesize-1] != 0 {
			t.Fatalf("name of %q not NUL-terminated", e.name)
		}
		dataStart := pad(nameStart + namesize)
		e.data = b[dataStart : dataStart+e.size]
		off = pad(dataStart + e.size)
		if e.name == "TRAILER!!!" {
			return out
		}
		out = append(out, e)
	}
}

func TestPack(t *testing.T) {
	dir := t.TempDir()
	initData := []byte("#!/bin/sh\necho guest\n")
	shData := bytes.Repeat([]byte{0x7f, 'E', 'L', 'F', 1}, 3) // 15 bytes: exercises padding
	if err := os.WriteFile(filepath.Join(dir, "guest"), initData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sh"), shData, 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := initramfs.Pack(&buf, map[string]string{"init": filepath.Join(dir, "guest"), "bin/sh": filepath.Join(dir, "sh")}); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive size %d is not a multiple of 4", buf.Len())
	}

	// Read back with an independent reader.
	r := cpio.NewReader(bytes.NewReader(buf.Bytes()))
	got := map[string]*cpio.Header{}
	content := map[string][]byte{}
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("cpio reader: %v", err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		content[h.Name] = b
	}
	for name, want := range map[string][]byte{"init": initData, "bin/sh": shData} {
		h := got[name]
		if h == nil {
			t.Errorf("%s missing from the archive", name)
			continue
		}
		if !h.Mode.IsRegular() || h.Mode.Perm() != 0o755 {
			t.Errorf("%s: mode %v, want a regular file 0755", name, h.Mode)
		}
		if !bytes.Equal(content[name], want) {
			t.Errorf("%s: content %q, want %q", name, content[name], want)
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "bin", "etc"} {
		if h := got[d]; h == nil || !h.Mode.IsDir() {
			t.Errorf("directory %s missing (%v)", d, h)
		}
	}
	if h := got["tmp"]; h != nil && h.Mode&cpio.ModeSticky == 0 {
		t.Errorf("tmp mode %v lacks the sticky bit", h.Mode)
	}

	// Device numbers from the raw headers.
	entries := parseNewc(t, buf.Bytes())
	byName := map[string]newcEntry{}
	for _, e := range entries {
		if _, dup := byName[e.name]; dup {
			t.Errorf("%s twice in the archive", e.name)
		}
		byName[e.name] = e
	}
	for _, tc := range []struct {
		name         string
		major, minor uint32
	}{
		{"dev/console", 5, 1},
		{"dev/null", 1, 3},
		{"dev/ttyS0", 4, 64},
		{"dev/ttyS1", 4, 65},
	} {
		e, ok := byName[tc.name]
		if !ok {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if e.mode&cpio.ModeType != cpio.TypeChar {
			t.Errorf("%s: mode %o, want a character device", tc.name, e.mode)
		}
		if e.rdevmajor != tc.major || e.rdevminor != tc.minor {
			t.Errorf("%s: device %d:%d, want %d:%d", tc.name, e.rdevmajor, e.rdevminor, tc.major, tc.minor)
		}
	}
	if e := byName["init"]; !bytes.Equal(e.data, initData) {
		t.Errorf("raw init data %q", e.data)
	}
	// Parents come before their children (the kernel creates files in order).
	pos := map[string]int{}
	for i, e := range entries {
		pos[e.name] = i
	}
	if pos["bin"] > pos["bin/sh"] || pos["dev"] > pos["dev/console"] {
		t.Errorf("a directory comes after its contents: %v", pos)
	}
}

func TestPackWithoutInit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := initramfs.Pack(&buf, map[string]string{"bin/sh": p}); err == nil || !strings.Contains(err.Error(), "init") {
		t.Errorf("Pack without init: err = %v", err)
	}
	if err := initramfs.Pack(&buf, map[string]string{"init": p + ".missing"}); err == nil {
		t.Error("Pack of a missing file: no error")
	}
}

// packBase packs a base image holding only an /init into dir.
func packBase(t *testing.T, dir string) string {
	t.Helper()
	initBin := filepath.Join(dir, "init")
	os.WriteFile(initBin, []byte("#!init"), 0o755)
	base := filepath.Join(dir, "base.cpio")
	f, err := os.Create(base)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := initramfs.Pack(f, map[string]string{"init": initBin}); err != nil {
		t.Fatal(err)
	}
	return base
}

// TestWithOverlay: the overlay image is the base archive followed by a
// second one; cavaliergopher/cpio reads the first, and the second starts
// 4-byte aligned with the overlay's files; a second call is cached.
func TestWithOverlay(t *testing.T) {
	dir := t.TempDir()
	base := packBase(t, dir)
	extra := filepath.Join(dir, "futex_wait")
	os.WriteFile(extra, []byte("ELF-ish"), 0o755)
	out, err := initramfs.WithOverlay(dir, base, map[string]string{"kselftest/futex/futex_wait": extra}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	bb, _ := os.ReadFile(base)
	if !bytes.HasPrefix(b, bb) {
		t.Fatal("overlay does not start with the base archive")
	}
	rest := b[len(bb)+(4-len(bb)%4)%4:]
	r := cpio.NewReader(bytes.NewReader(rest))
	var names []string
	for {
		h, err := r.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if h.Name == "kselftest/futex/futex_wait" {
			data, _ := io.ReadAll(r)
			if string(data) != "ELF-ish" || h.Mode.Perm() != 0o755 {
				t.Errorf("overlay file: %q mode %v", data, h.Mode)
			}
		}
	}
	if !slices.Contains(names, "kselftest/futex/futex_wait") || !slices.Contains(names, "kselftest/futex") {
		t.Errorf("second archive holds %v", names)
	}
	st1, _ := os.Stat(out)
	out2, err := initramfs.WithOverlay(dir, base, map[string]string{"kselftest/futex/futex_wait": extra}, "k1")
	st2, _ := os.Stat(out2)
	if err != nil || out2 != out || !st1.ModTime().Equal(st2.ModTime()) {
		t.Errorf("second call not cached: %v %s", err, out2)
	}
}

// TestReadOverlay: an overlay directory's files, directories and symlinks
// become entries with their modes; a file that would replace or hide what
// the guest needs, and a FIFO, are refused naming the file.
func TestReadOverlay(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc/rig"), 0o750)
	os.WriteFile(filepath.Join(dir, "etc/rig/conf"), []byte("x=1"), 0o640)
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin/tool"), []byte("#!tool"), 0o755)
	os.Symlink("tool", filepath.Join(dir, "bin/t"))
	entries, err := initramfs.ReadOverlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]initramfs.Entry{}
	for _, e := range entries {
		got[e.Name] = e
	}
	if e := got["etc/rig/conf"]; e.Src == "" || e.Mode != 0o640 {
		t.Errorf("file entry %+v", e)
	}
	if e := got["etc/rig"]; !e.Dir || e.Mode != 0o750 {
		t.Errorf("directory entry %+v", e)
	}
	if e := got["bin/t"]; e.Link != "tool" {
		t.Errorf("symlink entry %+v", e)
	}
	for _, bad := range []struct{ path, why string }{
		{"init", "/init is the rig's guest"},
		{"dev/sda", "devtmpfs is mounted there"},
		{"tmp/x", "a tmpfs is mounted there"},
		{"rig/exec/prog", "the programs of --exec go there"},
		{"kselftest/futex/futex_wait", "the tree's selftests go there"},
		{"bin/gosh", "a command of the rig's shell"},
	} {
		d := t.TempDir()
		os.MkdirAll(filepath.Join(d, filepath.Dir(bad.path)), 0o755)
		os.WriteFile(filepath.Join(d, bad.path), []byte("x"), 0o755)
		_, err := initramfs.ReadOverlay(d)
		if err == nil || !strings.Contains(err.Error(), bad.why) || !strings.Contains(err.Error(), filepath.Join(d, bad.path)) {
			t.Errorf("overlay with %s: %v; want an error naming it and saying %q", bad.path, err, bad.why)
		}
	}
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "bin"), []byte("x"), 0o755)
	if _, err := initramfs.ReadOverlay(d); err == nil || !strings.Contains(err.Error(), "/bin is a directory of the image") {
		t.Errorf("a file replacing /bin: %v", err)
	}
	d = t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(d, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := initramfs.ReadOverlay(d); err == nil || !strings.Contains(err.Error(), "not a file, directory or symlink") {
		t.Errorf("a FIFO: %v", err)
	}
	if _, err := initramfs.ReadOverlay(filepath.Join(dir, "etc/rig/conf")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as the overlay: %v", err)
	}
}

// TestEntriesKey: the key changes with a file's content, its mode, its
// name and a link's target, and not with the order of the entries.
func TestEntriesKey(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("one"), 0o755)
	base := []initramfs.Entry{{Name: "rig/exec/prog", Src: f, Mode: 0o755}, {Name: "etc/l", Link: "x"}}
	key := func(es []initramfs.Entry) string {
		k, err := initramfs.EntriesKey(es)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key(base)
	if key([]initramfs.Entry{base[1], base[0]}) != k0 {
		t.Error("the key depends on the entries' order")
	}
	seen := map[string]string{k0: "base"}
	for name, es := range map[string][]initramfs.Entry{
		"mode":   {{Name: "rig/exec/prog", Src: f, Mode: 0o644}, base[1]},
		"name":   {{Name: "rig/exec/other", Src: f, Mode: 0o755}, base[1]},
		"target": {base[0], {Name: "etc/l", Link: "y"}},
	} {
		k := key(es)
		if prev, dup := seen[k]; dup {
			t.Errorf("changing the %s gave the key of %s", name, prev)
		}
		seen[k] = name
	}
	os.WriteFile(f, []byte("two"), 0o755)
	if key(base) == k0 {
		t.Error("the key did not change with the file's content")
	}
}

// TestWithEntries: the second archive holds a program, a directory with
// its mode and a symlink.
func TestWithEntries(t *testing.T) {
	dir := t.TempDir()
	base := packBase(t, dir)
	prog := filepath.Join(dir, "prog")
	os.WriteFile(prog, []byte("ELF prog"), 0o700)
	out, err := initramfs.WithEntries(dir, base, []initramfs.Entry{
		{Name: "rig/exec/prog", Src: prog, Mode: 0o755},
		{Name: "etc/conf.d", Dir: true, Mode: 0o700},
		{Name: "etc/link", Link: "/rig/exec/prog"},
	}, "k2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	bb, _ := os.ReadFile(base)
	got := map[string]newcEntry{}
	for _, e := range parseNewc(t, b[len(bb)+(4-len(bb)%4)%4:]) {
		got[e.name] = e
	}
	if e := got["rig/exec/prog"]; string(e.data) != "ELF prog" || e.mode != 0o100755 {
		t.Errorf("program: %q mode %o", e.data, e.mode)
	}
	if e := got["etc/conf.d"]; e.mode != 0o40700 {
		t.Errorf("directory mode %o", e.mode)
	}
	if e := got["etc/link"]; e.mode&0o170000 != 0o120000 || string(e.data) != "/rig/exec/prog" {
		t.Errorf("symlink: mode %o target %q", e.mode, e.data)
	}
	if _, ok := got["rig/exec"]; !ok {
		t.Errorf("no parent directory rig/exec: %v", got)
	}
}
