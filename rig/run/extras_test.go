package run

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// compile builds a tiny C program with cc and flags into dir/name, or
// skips the test when cc is missing.
func compile(t *testing.T, cc, dir, name string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("%s not installed: %v", cc, err)
	}
	src := filepath.Join(t.TempDir(), "p.c")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	args := append(append([]string{}, flags...), "-o", out, src)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, b)
	}
	return out
}

// TestCheckProgram: what --exec takes (a static ELF program of an arch the
// rig boots) and what it refuses, each with an error naming the file and
// what to do.
func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	static := compile(t, "gcc", filepath.Join(dir, "x86"), "prog", "-static")
	p, err := CheckProgram(static)
	if err != nil || p.Name != "prog" || p.Arch != "x86_64" || p.Size == 0 || len(p.SHA256) != 64 || !filepath.IsAbs(p.Path) {
		t.Fatalf("static x86_64 program: %+v, %v", p, err)
	}
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err == nil {
		arm := compile(t, "aarch64-linux-gnu-gcc", filepath.Join(dir, "arm"), "prog", "-static")
		if p, err := CheckProgram(arm); err != nil || p.Arch != "arm64" {
			t.Errorf("static arm64 program: %+v, %v", p, err)
		}
	}
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	taken := filepath.Join(dir, "pi-handover")
	b, _ := os.ReadFile(static)
	os.WriteFile(taken, b, 0o755)
	badName := filepath.Join(dir, "a,b")
	os.WriteFile(badName, b, 0o755)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "missing"), []string{"missing: no such file"}},
		{dir, []string{"a directory, not a program"}},
		{script, []string{"not an ELF program", "gcc -static"}},
		{compile(t, "gcc", dir, "dynamic"), []string{"dynamically linked", "ld-linux", "link it statically"}},
		{compile(t, "gcc", dir, "object.o", "-c"), []string{"ELF of type ET_REL", "not an executable"}},
		{taken, []string{`"pi-handover" is the name of one of the rig's tests`, "rename the file"}},
		{badName, []string{`"a,b" cannot name a test`}},
	} {
		_, err := CheckProgram(tc.path)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), "--exec "+tc.path) {
				t.Errorf("CheckProgram(%s) = %v, want an error naming it and saying %q", tc.path, err, w)
			}
		}
	}

	// One name per arch: the same program twice is refused, an arch
	// without the name is named with what to do.
	x := result.Program{Name: "prog", Path: "/x/prog", Arch: "x86_64"}
	a := result.Program{Name: "prog", Path: "/a/prog", Arch: "arm64"}
	if _, err := CheckPrograms([]string{static, static}); err == nil || !strings.Contains(err.Error(), "two x86_64 programs called prog") {
		t.Errorf("the same program twice: %v", err)
	}
	if err := CheckProgramArches([]result.Program{x, a}, []string{"x86_64", "arm64"}); err != nil {
		t.Errorf("a program per arch: %v", err)
	}
	err = CheckProgramArches([]result.Program{x}, []string{"x86_64", "arm64"})
	for _, w := range []string{"--exec /x/prog", "built for x86_64", "no arm64 program is called prog", "aarch64-linux-gnu-gcc -static", "--arch x86_64"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("a program for x86_64 only, run on both: %v; want %q", err, w)
		}
	}
	if got := programsFor([]result.Program{x, a}, "arm64"); len(got) != 1 || got[0].Path != "/a/prog" {
		t.Errorf("programsFor(arm64) = %+v", got)
	}
}

// A --qemu-arg that overrides what the rig sets would boot another
// machine than the one run.json records.
func TestCheckQEMUArgs(t *testing.T) {
	if err := CheckQEMUArgs([]string{"-d", "guest_errors", "-device", "virtio-rng-pci", "-kernel-irqchip"}); err != nil {
		t.Errorf("plain arguments refused: %v", err)
	}
	for _, a := range []string{"-kernel", "--kernel", "-initrd", "-append", "-m", "-m=4G", "-smp", "-accel", "-qmp", ""} {
		if err := CheckQEMUArgs([]string{a, "x"}); err == nil {
			t.Errorf("--qemu-arg %q accepted", a)
		}
	}
}

func TestCheckAppendAndTests(t *testing.T) {
	if err := CheckAppend("loglevel=8 futex.x=1"); err != nil {
		t.Errorf("plain arguments refused: %v", err)
	}
	if err := CheckAppend("quiet rig.tests=x"); err == nil || !strings.Contains(err.Error(), "rig.tests=x is the guest's option") || !strings.Contains(err.Error(), "--tests") {
		t.Errorf("a rig.* word: %v", err)
	}
	progs := []result.Program{{Name: "prog"}}
	if got := withPrograms(nil, progs); got != nil {
		t.Errorf("every test stays every test: %v", got)
	}
	if got := withPrograms([]string{"pi-giveup"}, progs); !slices.Equal(got, []string{"pi-giveup", "prog"}) {
		t.Errorf("--tests pi-giveup with a program: %v", got)
	}
	if got := withPrograms([]string{"prog"}, progs); !slices.Equal(got, []string{"prog"}) {
		t.Errorf("--tests naming the program: %v", got)
	}
}

// TestProgramOutputKept: a program's output lines land in the cell's
// exec-<name>.log, the result points at it, a failing program fails the
// cell naming it, output for a name that is not one of the cell's
// programs writes nothing (the guest is untrusted), and the user's kernel
// and QEMU arguments reach the boot but not the KVM probe.
func TestProgramOutputKept(t *testing.T) {
	env := &fakeEnv{outcome: poweredOff, events: []event.Event{hello("rig-fake"),
		{Ev: event.Start, Test: "prog", Seed: 7},
		{Ev: event.Output, Test: "prog", Msg: "robust-mutex: kill 3 deaths, 2 reported"},
		{Ev: event.Output, Test: "../../evil", Msg: "x"},
		{Ev: event.Output, Test: "prog", Msg: "robust-mutex: FAIL"},
		{Ev: event.Result, Test: "prog", Status: "fail", Reason: "exit status 1 after 3.00s; output ends: robust-mutex: FAIL",
			Evidence: map[string]string{"exit": "1"}},
		{Ev: event.Done}}}
	o := Options{Append: "loglevel=8", QEMUArgs: []string{"-d", "guest_errors"},
		programs: []result.Program{{Name: "prog", Arch: "x86_64"}, {Name: "other", Arch: "arm64"}}}
	c := newTestCell(t, env, o, []string{"pi-giveup"}, []patch.Patch{})
	if !slices.Equal(c.spec.Tests, []string{"pi-giveup", "prog"}) || len(c.spec.Programs) != 1 {
		t.Fatalf("the cell's tests %v, programs %+v: the x86_64 program must be added", c.spec.Tests, c.spec.Programs)
	}
	c.execute(context.Background(), nil)
	if c.res.Status != result.Fail || !strings.Contains(c.res.Cause, "test prog failed: exit status 1") {
		t.Errorf("verdict %s (%s)", c.res.Status, c.res.Cause)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "exec-prog.log"))
	if err != nil || string(b) != "robust-mutex: kill 3 deaths, 2 reported\nrobust-mutex: FAIL\n" {
		t.Errorf("exec-prog.log: %q, %v", b, err)
	}
	if len(c.res.Tests) != 1 || c.res.Tests[0].Evidence["log"] != "exec-prog.log" || c.res.Tests[0].Evidence["exit"] != "1" {
		t.Errorf("result %+v", c.res.Tests)
	}
	ents, _ := os.ReadDir(c.dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "evil") {
			t.Errorf("output for an unknown test wrote %s", e.Name())
		}
	}
	if env.booted.Append != "loglevel=8" || !slices.Equal(env.booted.QEMUArgs, o.QEMUArgs) {
		t.Errorf("boot config %+v", env.booted)
	}
	if env.probed.Append != "" || env.probed.QEMUArgs != nil {
		t.Errorf("the KVM probe got the user's arguments: %+v", env.probed)
	}
}

// TestBaseKeyedByExtras: a kept base result is not reused under other
// kernel or QEMU arguments.
func TestBaseKeyedByExtras(t *testing.T) {
	img := filepath.Join(t.TempDir(), "initramfs.cpio")
	os.WriteFile(img, []byte("image"), 0o644)
	keys := map[string]bool{}
	for _, o := range []Options{{}, {Append: "loglevel=8"}, {QEMUArgs: []string{"-d", "guest_errors"}}, {QEMUArgs: []string{"-d guest_errors"}}} {
		c := newTestCell(t, &fakeEnv{}, o, []string{"pi-giveup"}, []patch.Patch{})
		k, err := c.basePath(img)
		if err != nil {
			t.Fatal(err)
		}
		keys[k] = true
	}
	if len(keys) != 4 {
		t.Errorf("%d distinct base keys for 4 argument sets", len(keys))
	}
	// Nor from another machine: the arch table's CPU model changed.
	c := newTestCell(t, &fakeEnv{}, Options{}, []string{"pi-giveup"}, []patch.Patch{})
	c.arch.TCGCPU += ",other"
	if k, err := c.basePath(img); err != nil || keys[k] {
		t.Errorf("another CPU model reuses a kept base (%v)", err)
	}
}
