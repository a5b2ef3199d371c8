package kbuild

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// miniBuild is a build dir laid out as kbuild lays one out: objects beside
// .<obj>.cmd files holding the command, the source and the dependencies,
// with the source tree in ../src. The commands are real gcc (and ccache)
// compiles, so Verify is tested against real compilers.
type miniBuild struct {
	t        *testing.T
	root     string
	src, out string
	cc       string // "gcc" or "ccache gcc"
	env      []string
}

func newMiniBuild(t *testing.T, cc string) *miniBuild {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	root := t.TempDir()
	m := &miniBuild{t: t, root: root, src: filepath.Join(root, "src"), out: filepath.Join(root, "out"), cc: cc}
	for _, d := range []string{"src/kernel/futex", "out/kernel/futex"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.write("kernel/futex/futex.h", "#define FUTEX_WAITERS 0x80000000u\n")
	return m
}

func (m *miniBuild) write(rel, content string) {
	m.t.Helper()
	if err := os.WriteFile(filepath.Join(m.src, rel), []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// command is the shape of kbuild's recorded compile command for obj.
func (m *miniBuild) command(obj string) string {
	src := strings.TrimSuffix(obj, ".o") + ".c"
	dep := filepath.Join(filepath.Dir(obj), "."+filepath.Base(obj)+".d")
	return fmt.Sprintf("%s -Wp,-MMD,%s -O2 -I ../src/kernel/futex -c -o %s ../src/%s", m.cc, dep, obj, src)
}

// compile runs obj's command in the build dir and records the .cmd file as
// kbuild's fixdep does.
func (m *miniBuild) compile(obj string, env ...string) {
	m.t.Helper()
	cmd := exec.Command("sh", "-c", m.command(obj))
	cmd.Dir = m.out
	cmd.Env = append(append(os.Environ(), m.env...), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		m.t.Fatalf("%s: %v\n%s", m.command(obj), err, out)
	}
	src := strings.TrimSuffix(obj, ".o") + ".c"
	cmdText := fmt.Sprintf("savedcmd_%s := %s\n\nsource_%s := ../src/%s\n\ndeps_%s := \\\n  %s/kernel/futex/futex.h \\\n\n%s: $(deps_%s)\n\n$(deps_%s):\n",
		obj, m.command(obj), obj, src, obj, m.src, obj, obj, obj)
	if err := os.WriteFile(cmdFile(m.out, obj), []byte(cmdText), 0o644); err != nil {
		m.t.Fatal(err)
	}
	os.Remove(filepath.Join(m.out, filepath.Dir(obj), "."+filepath.Base(obj)+".d"))
}

func (m *miniBuild) build() Build {
	return Build{Src: m.src, Dir: m.out, Jobs: 2, Env: m.env}
}

func (m *miniBuild) object(obj string) []byte {
	m.t.Helper()
	b, err := os.ReadFile(filepath.Join(m.out, obj))
	if err != nil {
		m.t.Fatal(err)
	}
	return b
}

const (
	coreGood = "#include \"futex.h\"\nint wake_owed(unsigned owner, unsigned uval) { return !owner || !(uval & FUTEX_WAITERS); }\n"
	coreBad  = "#include \"futex.h\"\nint wake_owed(unsigned owner, unsigned uval) { return owner && !(uval & FUTEX_WAITERS); }\n"
)

// A source whose mtime went backwards: make keeps the old object, the
// verification must not.
func TestVerifyCatchesObjectOlderThanItsSource(t *testing.T) {
	m := newMiniBuild(t, "gcc")
	m.write("kernel/futex/core.c", coreGood)
	m.compile("kernel/futex/core.o")
	good := m.object("kernel/futex/core.o")

	// The series changes core.c, but its mtime is set into the past, so
	// an mtime-based build keeps the object built from the old content.
	m.write("kernel/futex/core.c", coreBad)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(m.src, "kernel/futex/core.c"), past, past); err != nil {
		t.Fatal(err)
	}

	rep, err := m.build().Verify(context.Background(), []string{"kernel/futex/core.c", "Documentation/futex.txt"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := rep.Stale(); len(got) != 1 || got[0] != "kernel/futex/core.c" {
		t.Fatalf("stale = %v, want [kernel/futex/core.c]", got)
	}
	if len(rep.Repaired) != 1 {
		t.Fatalf("repaired = %v, want core.c", rep.Repaired)
	}
	if bytes.Equal(m.object("kernel/futex/core.o"), good) {
		t.Fatal("core.o still holds the object of the old source")
	}
	// Once repaired, a second verification finds nothing stale.
	rep, err = m.build().Verify(context.Background(), []string{"kernel/futex/core.c"})
	if err != nil || len(rep.Stale()) != 0 || len(rep.Checked) != 1 {
		t.Fatalf("after repair: checked %v, stale %v, err %v", rep.Checked, rep.Stale(), err)
	}
}

// A poisoned ccache entry: the cache holds, under the key of the changed
// source, an object built from something else. A build that hits it gets a
// stale object although make did recompile; the verification catches it,
// rebuilds the object without the cache, and catches it again in the next
// build that hits the same entry.
func TestVerifyCatchesPoisonedCcacheEntry(t *testing.T) {
	if _, err := exec.LookPath("ccache"); err != nil {
		t.Skip("no ccache")
	}
	m := newMiniBuild(t, "ccache gcc")
	ccdir := t.TempDir()
	m.env = []string{"CCACHE_DIR=" + ccdir, "CCACHE_DEPEND=1", "CCACHE_NOHASHDIR=1", "CCACHE_BASEDIR=" + m.root}
	// The poison: a compiler prefix (which ccache does not hash) that
	// builds the old content of any source it is given.
	poison := filepath.Join(t.TempDir(), "poison.sh")
	oldSrc := filepath.Join(t.TempDir(), "core.c") // same name: the object records it
	if err := os.WriteFile(oldSrc, []byte(coreGood), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nargs=\nfor a in \"$@\"; do case \"$a\" in *.c) a=" + oldSrc + ";; esac; args=\"$args $a\"; done\nexec $args\n"
	if err := os.WriteFile(poison, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m.write("kernel/futex/core.c", coreBad)
	m.compile("kernel/futex/core.o", "CCACHE_PREFIX="+poison) // miss: the poisoned object is stored
	os.Remove(filepath.Join(m.out, "kernel/futex/core.o"))
	m.compile("kernel/futex/core.o") // a hit on the poisoned entry
	poisoned := m.object("kernel/futex/core.o")

	// Precondition: the hit really is the old code.
	m2 := newMiniBuild(t, "gcc")
	m2.write("kernel/futex/core.c", coreGood)
	m2.compile("kernel/futex/core.o")
	if !bytes.Equal(poisoned, m2.object("kernel/futex/core.o")) {
		t.Fatal("precondition: the ccache hit is not the poisoned object")
	}

	rep, err := m.build().Verify(context.Background(), []string{"kernel/futex/core.c"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Stale()) != 1 || len(rep.Repaired) != 1 {
		t.Fatalf("stale %v repaired %v, want core.c in both", rep.Stale(), rep.Repaired)
	}
	if bytes.Equal(m.object("kernel/futex/core.o"), poisoned) {
		t.Fatal("core.o is still the poisoned object")
	}
	m3 := newMiniBuild(t, "gcc")
	m3.write("kernel/futex/core.c", coreBad)
	m3.compile("kernel/futex/core.o")
	if !bytes.Equal(m.object("kernel/futex/core.o"), m3.object("kernel/futex/core.o")) {
		t.Fatal("the repaired core.o is not the object of the source in the tree")
	}
	// The next build that hits the entry is caught again.
	os.Remove(filepath.Join(m.out, "kernel/futex/core.o"))
	m.compile("kernel/futex/core.o")
	rep, err = m.build().Verify(context.Background(), []string{"kernel/futex/core.c"})
	if err != nil || len(rep.Repaired) != 1 {
		t.Fatalf("second hit on the poisoned entry: repaired %v, err %v", rep.Repaired, err)
	}
}

// A changed header is checked through the objects that include it.
func TestVerifyChecksDependentsOfChangedHeader(t *testing.T) {
	m := newMiniBuild(t, "gcc")
	m.write("kernel/futex/core.c", coreGood)
	m.write("kernel/futex/pi.c", "#include \"futex.h\"\nunsigned w(void) { return FUTEX_WAITERS; }\n")
	m.compile("kernel/futex/core.o")
	m.compile("kernel/futex/pi.o")
	// The header changes, the objects stay: both are stale.
	m.write("kernel/futex/futex.h", "#define FUTEX_WAITERS 0x40000000u\n")
	rep, err := m.build().Verify(context.Background(), []string{"kernel/futex/futex.h"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Checked) != 2 {
		t.Fatalf("checked %v, want core.o and pi.o", rep.Checked)
	}
	for _, c := range rep.Checked {
		if c.Why != "includes kernel/futex/futex.h" {
			t.Errorf("%s: why %q", c.Source, c.Why)
		}
	}
	if got := rep.Stale(); len(got) != 2 {
		t.Fatalf("stale %v, want both objects", got)
	}
}

// An object that matches is left alone and costs one compile.
func TestVerifyCleanBuildFindsNothing(t *testing.T) {
	m := newMiniBuild(t, "gcc")
	m.write("kernel/futex/core.c", coreGood)
	m.write("kernel/futex/waitwake.c", coreGood) // in the tree, not in this config
	m.compile("kernel/futex/core.o")
	before, _ := os.Stat(filepath.Join(m.out, "kernel/futex/core.o"))
	rep, err := m.build().Verify(context.Background(), []string{"kernel/futex/core.c", "kernel/futex/waitwake.c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checked) != 1 || len(rep.Stale()) != 0 || len(rep.Repaired) != 0 {
		t.Fatalf("checked %v stale %v repaired %v", rep.Checked, rep.Stale(), rep.Repaired)
	}
	if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "waitwake.c (not built") {
		t.Fatalf("skipped %v, want waitwake.c as not built", rep.Skipped)
	}
	after, _ := os.Stat(filepath.Join(m.out, "kernel/futex/core.o"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("a matching object was rewritten")
	}
	if ents, _ := filepath.Glob(filepath.Join(m.out, ".rig-verify-*")); len(ents) != 0 {
		t.Fatalf("scratch left behind: %v", ents)
	}
}

// A source the tree no longer has (a bisection went back before the patch
// that added it) leaves an object and a .cmd file behind that nothing
// links: nothing to check, and no attempt to compile the missing file.
func TestVerifySkipsDeletedSources(t *testing.T) {
	m := newMiniBuild(t, "gcc")
	m.write("kernel/futex/core.c", coreGood)
	m.compile("kernel/futex/core.o")
	if err := os.Remove(filepath.Join(m.src, "kernel/futex/core.c")); err != nil {
		t.Fatal(err)
	}
	rep, err := m.build().Verify(context.Background(), []string{"kernel/futex/core.c"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Checked) != 0 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "not in the tree") {
		t.Fatalf("checked %v, skipped %v; want core.c skipped as not in the tree", rep.Checked, rep.Skipped)
	}
}

// An object that cannot be made to match is a StaleError naming it.
func TestVerifyUnrepairableIsStaleError(t *testing.T) {
	m := newMiniBuild(t, "gcc")
	m.write("kernel/futex/core.c", coreGood+"int rnd = RANDOM;\n")
	// A compile that never gives the same object twice.
	m.cc = "gcc -D RANDOM=$$$$"
	m.compile("kernel/futex/core.o")
	_, err := m.build().Verify(context.Background(), []string{"kernel/futex/core.c"})
	var se *StaleError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StaleError", err)
	}
	if !strings.Contains(se.Error(), "kernel/futex/core.o") || !strings.Contains(se.Error(), "kernel/futex/core.c") {
		t.Fatalf("error %q does not name the object and source", se)
	}
}

func TestRetarget(t *testing.T) {
	// A real kbuild command (x86_64, kernel/futex/core.o, objtool after
	// the compile): every mention of the object and its dependency file
	// moves to the scratch paths; the source does not.
	cmd := "ccache gcc -Wp,-MMD,kernel/futex/.core.o.d -nostdinc -I../src/arch/x86/include -D__KERNEL__ -DKBUILD_MODFILE='\"kernel/futex/core\"' -DKBUILD_BASENAME='\"core\"' -c -o kernel/futex/core.o ../src/kernel/futex/core.c   ; ./tools/objtool/objtool --hacks=jump_label --orc --retpoline --stackval --static-call --uaccess   kernel/futex/core.o"
	got := retarget(cmd, "kernel/futex/core.o", "/tmp/v/0.o", "/tmp/v/0.o.d")
	for _, want := range []string{"-Wp,-MMD,/tmp/v/0.o.d ", "-c -o /tmp/v/0.o ../src/kernel/futex/core.c", "--uaccess   /tmp/v/0.o", `KBUILD_MODFILE='"kernel/futex/core"'`} {
		if !strings.Contains(got, want) {
			t.Errorf("retarget: %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, " kernel/futex/core.o") {
		t.Errorf("retarget left the object path: %q", got)
	}
}

// The image check finds the build id in a plain image and inside a gzip
// stream after a header (the shape of x86's bzImage), and not elsewhere.
func TestImageHasBuildID(t *testing.T) {
	dir := t.TempDir()
	banner := []byte("Linux version 6.12.118+ (rig@rig) #rig-0123456789ab SMP Thu Jan  1 00:00:00 UTC 2026\n")
	plain := filepath.Join(dir, "Image")
	os.WriteFile(plain, append(bytes.Repeat([]byte{0}, 4096), banner...), 0o644)

	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(bytes.Repeat([]byte("kernel text "), 100000))
	zw.Write(banner)
	zw.Close()
	bz := filepath.Join(dir, "bzImage")
	// A setup header that happens to contain the gzip magic first.
	os.WriteFile(bz, append(append([]byte("HdrS\x1f\x8b\x08junk"), z.Bytes()...), 0x55, 0xaa), 0o644)

	for _, c := range []struct {
		path, id string
		want     bool
	}{
		{plain, "rig-0123456789ab", true},
		{plain, "rig-ba9876543210", false},
		{bz, "rig-0123456789ab", true},
		{bz, "rig-ba9876543210", false},
		{bz, "rig-0123456789a", false}, // a prefix is not the id
	} {
		got, err := ImageHasBuildID(c.path, c.id)
		if err != nil || got != c.want {
			t.Errorf("ImageHasBuildID(%s, %s) = %v, %v; want %v", filepath.Base(c.path), c.id, got, err, c.want)
		}
	}
}
