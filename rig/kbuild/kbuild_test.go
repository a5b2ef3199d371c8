package kbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		line  string
		cause string // "" means: not a failure line
		first string // defaults to line
	}{
		{line: "kernel/futex/core.c:746:41: error: 'rig_undeclared_symbol' undeclared (first use in this function)", cause: "compiler error"},
		{line: "../include/linux/futex.h:9:10: fatal error: linux/nosuch.h: No such file or directory", cause: "compiler error"},
		{line: "kernel/futex/core.c:800:3: error: implicit declaration of function 'bogus' [-Werror=implicit-function-declaration]", cause: "compiler error"},
		{line: "scripts/foo.lds:12: error: syntax error", cause: "compiler error"},
		{line: "ld: vmlinux.o: in function `foo': core.c:(.text+0x12): undefined reference to `bar'", cause: "linker error"},
		{line: "kernel/futex/core.c:123: undefined reference to `bar'", cause: "linker error"},
		{line: "x86_64-linux-gnu-ld: kernel/futex/core.o: multiple definition of `futex_hash'; kernel/futex/pi.o: first defined here", cause: "linker error"},
		{line: "arch/x86/entry/entry_64.S:123: Error: no such instruction: `movx %rax,%rbx'", cause: "assembler error"},
		{line: "make[4]: *** No rule to make target 'kernel/futex/x.o', needed by 'kernel/futex/built-in.a'.  Stop.", cause: "missing file",
			first: "No rule to make target 'kernel/futex/x.o', needed by 'kernel/futex/built-in.a'.  Stop."},
		{line: "/bin/sh: 1: flex: not found", cause: "missing tool"},
		{line: "/bin/sh: 1: bison: not found", cause: "missing tool"},
		{line: "  CRLF line\r", cause: ""},

		// Lines that must not be taken for the failure.
		{line: "kernel/futex/core.c:12:1: warning: unused variable 'flags' [-Wunused-variable]"},
		{line: "kernel/futex/core.c:746:41: note: each undeclared identifier is reported only once for each function it appears in"},
		{line: "kernel/futex/core.c: In function 'futex_robust_unlock':"},
		{line: "  CC      kernel/futex/core.o"},
		{line: "  LD      vmlinux.o"},
		{line: "  CC [M]  fs/foo.o"},
		{line: "  HOSTCC  scripts/basic/fixdep"},
		{line: "make[1]: Entering directory '/root/.cache/rig/slots/x/out'"},
		{line: "make[4]: *** [../scripts/Makefile.build:229: kernel/futex/core.o] Error 1"},
		{line: "make: *** [Makefile:224: __sub-make] Error 2"},
		{line: "Kernel: arch/x86/boot/bzImage is ready  (#1)"},
		{line: "  746 |         if (uaddr == rig_undeclared_symbol)"},
		{line: ""},
	} {
		got, ok := classify(tc.line)
		if tc.cause == "" {
			if ok {
				t.Errorf("classify(%q) = %+v, want no match", tc.line, got)
			}
			continue
		}
		want := tc.first
		if want == "" {
			want = tc.line
		}
		if !ok {
			t.Errorf("classify(%q): no match, want %s", tc.line, tc.cause)
			continue
		}
		if got != (failure{tc.cause, want}) {
			t.Errorf("classify(%q) =\n  %+v\nwant\n  %s: %q", tc.line, got, tc.cause, want)
		}
	}
}

// Build log excerpts in testdata/: the first failure line and its cause.
func TestFirstError(t *testing.T) {
	for _, tc := range []struct {
		file, cause, line string
	}{
		{"compiler-error.log", "compiler error", "kernel/futex/core.c:746:41: error: 'rig_undeclared_symbol' undeclared (first use in this function)"},
		{"linker-error.log", "linker error", "ld: vmlinux.o: in function `foo': core.c:(.text+0x12): undefined reference to `bar'"},
		{"missing-file.log", "missing file", "No rule to make target 'kernel/futex/x.o', needed by 'kernel/futex/built-in.a'.  Stop."},
		{"missing-tool.log", "missing tool", "/bin/sh: 1: flex: not found"},
		{"clean.log", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cause, line := FirstError(string(b))
			if cause != tc.cause || line != tc.line {
				t.Errorf("FirstError = %q, %q\nwant        %q, %q", cause, line, tc.cause, tc.line)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{First: "a.c:1:1: error: x", Cause: "compiler error", Tail: "tail"}
	if got := e.Error(); got != "compiler error: a.c:1:1: error: x" {
		t.Errorf("Error() = %q", got)
	}
	e = &Error{Cause: "kernel build failed", Tail: "last line"}
	if got := e.Error(); !strings.Contains(got, "last line") {
		t.Errorf("Error() without First = %q, want the tail", got)
	}
}

func TestMakeArgs(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("expectations are for an amd64 host")
	}
	x86, err := arch.Lookup("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := arch.Lookup("arm64")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a        arch.Arch
		launcher string
		want     []string
	}{
		{x86, "/c/bin/cc-launcher", []string{"ARCH=x86_64", "CC=/c/bin/cc-launcher gcc", "HOSTCC=/c/bin/cc-launcher gcc"}},
		{x86, "", []string{"ARCH=x86_64"}},
		{arm, "/c/bin/cc-launcher", []string{"ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "CC=/c/bin/cc-launcher aarch64-linux-gnu-gcc", "HOSTCC=/c/bin/cc-launcher gcc"}},
		{arm, "", []string{"ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"}},
	} {
		got := MakeArgs(tc.a, tc.launcher)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("MakeArgs(%s, %q) = %q, want %q", tc.a.Name, tc.launcher, got, tc.want)
		}
	}
}

func TestSlotFor(t *testing.T) {
	base := SlotFor("/c", "/repo/.git", "x86_64", "cfg1")
	if again := SlotFor("/c", "/repo/.git", "x86_64", "cfg1"); again != base {
		t.Errorf("SlotFor not stable: %+v vs %+v", base, again)
	}
	if !strings.HasPrefix(base.Dir, "/c/slots/x86_64-") {
		t.Errorf("Dir = %s, want under /c/slots, named after the arch", base.Dir)
	}
	if base.Src != filepath.Join(base.Dir, "src") || base.Build != filepath.Join(base.Dir, "out") || base.Lock != base.Dir+".lock" {
		t.Errorf("slot layout: %+v", base)
	}
	seen := map[string]string{base.Dir: "base"}
	for name, s := range map[string]Slot{
		"arch":   SlotFor("/c", "/repo/.git", "arm64", "cfg1"),
		"config": SlotFor("/c", "/repo/.git", "x86_64", "cfg2"),
		"repo":   SlotFor("/c", "/other/.git", "x86_64", "cfg1"),
	} {
		if prev, ok := seen[s.Dir]; ok {
			t.Errorf("slot for a different %s equals the %s one: %s", name, prev, s.Dir)
		}
		seen[s.Dir] = name
	}
}

// fakeMake puts a `make` shell script first in PATH.
func fakeMake(t *testing.T, script string) (argvFile string) {
	t.Helper()
	bin := t.TempDir()
	argvFile = filepath.Join(bin, "argv")
	body := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argvFile + "\nenv > " + argvFile + ".env\n" + script
	if err := os.WriteFile(filepath.Join(bin, "make"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return argvFile
}

type progressLog struct {
	mu  sync.Mutex
	all []Progress
}

func (p *progressLog) add(x Progress) { p.mu.Lock(); p.all = append(p.all, x); p.mu.Unlock() }

func TestBuildRunError(t *testing.T) {
	argvFile := fakeMake(t, `
echo "make[1]: Entering directory '/out'"
echo "  CC      kernel/futex/core.o"
echo "  CC      kernel/futex/pi.o"
echo "kernel/futex/core.c:12:1: warning: unused variable 'flags' [-Wunused-variable]"
echo "kernel/futex/core.c:746:41: error: 'rig_undeclared_symbol' undeclared (first use in this function)" >&2
echo "kernel/futex/core.c:800:3: error: second error" >&2
echo "make[4]: *** [../scripts/Makefile.build:229: kernel/futex/core.o] Error 1" >&2
exit 2
`)
	a, _ := arch.Lookup("x86_64")
	src, out := t.TempDir(), t.TempDir()
	var prog progressLog
	var log strings.Builder
	img, err := Build{Arch: a, Src: src, Dir: out, Jobs: 3, Log: &log, Progress: prog.add}.Run(context.Background())
	if err == nil {
		t.Fatalf("Run succeeded with %s", img)
	}
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want *kbuild.Error", err, err)
	}
	if be.Cause != "compiler error" || be.First != "kernel/futex/core.c:746:41: error: 'rig_undeclared_symbol' undeclared (first use in this function)" {
		t.Errorf("Error = %q / %q", be.Cause, be.First)
	}
	if !strings.Contains(be.Tail, "Error 1") {
		t.Errorf("Tail = %q, want make's last lines", be.Tail)
	}
	if !strings.Contains(log.String(), "CC      kernel/futex/pi.o") {
		t.Errorf("build log lacks the output: %q", log.String())
	}
	prog.mu.Lock()
	if len(prog.all) != 2 || prog.all[0].Last != "CC kernel/futex/core.o" || prog.all[1].Steps != 2 || prog.all[1].Last != "CC kernel/futex/pi.o" {
		t.Errorf("progress = %+v, want the two CC steps", prog.all)
	}
	prog.mu.Unlock()

	argv, err := os.ReadFile(argvFile)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimSpace(string(argv)), "\n")
	want := append([]string{"-C", src, "O=" + out, "-j3"}, MakeArgs(a, "")...)
	want = append(want, "vmlinux") // x86_64 boots vmlinux through PVH
	if strings.Join(args, "|") != strings.Join(want, "|") {
		t.Errorf("make argv = %q, want %q", args, want)
	}
	env, _ := os.ReadFile(argvFile + ".env")
	for _, e := range append(append(ReproEnv, CCacheEnv...), "CCACHE_DEPEND=1") {
		if !strings.Contains(string(env), e+"\n") {
			t.Errorf("make's environment lacks %q", e)
		}
	}
}

func TestBuildRunFailureWithoutErrorLine(t *testing.T) {
	fakeMake(t, "echo 'something odd'; exit 2\n")
	a, _ := arch.Lookup("x86_64")
	_, err := Build{Arch: a, Src: t.TempDir(), Dir: t.TempDir()}.Run(context.Background())
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *kbuild.Error", err)
	}
	if be.First != "" || be.Cause != "kernel build failed" || !strings.Contains(be.Error(), "something odd") {
		t.Errorf("Error = %+v (%q)", be, be.Error())
	}
}

func TestBuildRunSuccess(t *testing.T) {
	// 201 steps: a build this big records its size for the next run's progress.
	fakeMake(t, `
for a in "$@"; do case "$a" in O=*) out="${a#O=}";; esac; done
i=0; while [ $i -lt 201 ]; do echo "  CC      f$i.o"; i=$((i+1)); done
mkdir -p "$out" && echo image > "$out/vmlinux"
`)
	a, _ := arch.Lookup("x86_64")
	out := t.TempDir()
	var prog progressLog
	img, err := Build{Arch: a, Src: t.TempDir(), Dir: out, Progress: prog.add}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if img != filepath.Join(out, "vmlinux") {
		t.Errorf("image = %s", img)
	}
	if n := readInt(filepath.Join(out, ".rig-steps")); n != 201 {
		t.Errorf(".rig-steps = %d, want 201", n)
	}
	if len(prog.all) != 201 || prog.all[0].Total != 0 {
		t.Errorf("first build: %d progress calls, total %d", len(prog.all), prog.all[0].Total)
	}
	prog.all = nil
	if _, err := (Build{Arch: a, Src: t.TempDir(), Dir: out, Progress: prog.add}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(prog.all) == 0 || prog.all[len(prog.all)-1].Total != 201 {
		t.Errorf("second build does not know the expected total: %+v", prog.all[len(prog.all)-1])
	}
}

func TestBuildRunMissingImage(t *testing.T) {
	fakeMake(t, "exit 0\n")
	a, _ := arch.Lookup("arm64")
	_, err := Build{Arch: a, Src: t.TempDir(), Dir: t.TempDir()}.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "arch/arm64/boot/Image is missing") {
		t.Errorf("err = %v, want one naming the missing image", err)
	}
}

func TestBuildRunCancelled(t *testing.T) {
	fakeMake(t, "sleep 100\n")
	a, _ := arch.Lookup("x86_64")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build{Arch: a, Src: t.TempDir(), Dir: t.TempDir()}.Run(ctx)
	var be *Error
	if errors.As(err, &be) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want an interruption (context.Canceled), not a build error", err)
	}
}

func TestKernelRelease(t *testing.T) {
	d := t.TempDir()
	if KernelRelease(d) != "" {
		t.Error("KernelRelease of an empty dir is not empty")
	}
	if err := os.MkdirAll(filepath.Join(d, "include/config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "include/config/kernel.release"), []byte("6.12.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := KernelRelease(d); got != "6.12.1" {
		t.Errorf("KernelRelease = %q", got)
	}
}

func TestSlotAcquireStampsLastUse(t *testing.T) {
	s := SlotFor(t.TempDir(), "/repo/.git", "x86_64", "cfg1")
	stamp := filepath.Join(s.Dir, cache.LastUsedFile)
	lock, err := s.Acquire(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(stamp)
	if err != nil {
		t.Fatalf("no stamp after the first Acquire: %v", err)
	}
	if time.Since(st.ModTime()) > time.Minute {
		t.Errorf("stamp mtime %v, want now", st.ModTime())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if l, err := cache.Acquire(ctx, s.Lock, nil); err == nil {
		l.Release()
		t.Error("the slot's lock was not held after Acquire")
	}
	lock.Release()

	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(stamp, old, old); err != nil {
		t.Fatal(err)
	}
	lock, err = s.Acquire(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	st, err = os.Stat(stamp)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(st.ModTime()) > time.Minute {
		t.Errorf("stamp mtime %v: not renewed by a later Acquire", st.ModTime())
	}
}
