package symbolize

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
)

// addr2lineOut is what binutils' `addr2line -a -f -i` printed for three
// addresses of a rig-built x86_64 vmlinux: one inside an inlined helper,
// one it knows nothing of, one with a discriminator and a generated file.
const addr2lineOut = `0xffffffff8108a1b1
futex_cmpxchg_value_locked
/root/.cache/rig/slots/x86_64-802acae01abe38a7/src/kernel/futex/core.c:536
handle_futex_death
/root/.cache/rig/slots/x86_64-802acae01abe38a7/src/kernel/futex/core.c:766
0x0000000000000001
??
??:0
0xffffffff81000010
startup_64
/root/.cache/rig/slots/x86_64-802acae01abe38a7/out/./arch/x86/kernel/head_64.S:61 (discriminator 3)
`

func TestParseAddr2line(t *testing.T) {
	got, err := ParseAddr2line([]byte(addr2lineOut))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Loc{
		{{"futex_cmpxchg_value_locked", "kernel/futex/core.c", 536}, {"handle_futex_death", "kernel/futex/core.c", 766}},
		{{"", "", 0}},
		{{"startup_64", "arch/x86/kernel/head_64.S", 61}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAddr2line:\n got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"futex_wake\nkernel/futex/core.c:1\n", "0x10\nfutex_wake\n"} {
		if _, err := ParseAddr2line([]byte(bad)); err == nil {
			t.Errorf("ParseAddr2line(%q) accepted", bad)
		}
	}
}

func TestConfigHasDebugInfo(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]bool{
		"CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_INFO=y\nCONFIG_DEBUG_INFO_DWARF5=y\n": true,
		"CONFIG_DEBUG_INFO_NONE=y\n# CONFIG_DEBUG_INFO is not set\n":               false,
	} {
		p := filepath.Join(dir, "config")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ConfigHasDebugInfo(p); got != want {
			t.Errorf("ConfigHasDebugInfo(%q) = %v", text, got)
		}
	}
	if ConfigHasDebugInfo(filepath.Join(dir, "missing")) {
		t.Error("a missing config has debug info")
	}
}

// compile builds testdata/inline.c with DWARF (as a kernel with
// CONFIG_DEBUG_INFO_DWARF5 is built) and returns the binary, its source
// and its symbols' sizes (size["&name"] is the address).
func compile(t *testing.T) (bin, src string, size map[string]uint64) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	src, _ = filepath.Abs("testdata/inline.c")
	bin = filepath.Join(dir, "inline")
	if out, err := exec.Command("gcc", "-g", "-gdwarf-5", "-O1", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	size = map[string]uint64{}
	for _, s := range syms {
		size[s.Name] = s.Size
		size["&"+s.Name] = s.Value
	}
	return bin, src, size
}

// lineOf is the 1-based line of testdata/inline.c that holds text.
func lineOf(t *testing.T, src, text string) int {
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line %q", src, text)
	return 0
}

// TestDecode decodes frames of a real binary with the real addr2line:
// the faulting address inside an inlined function shows that function
// with [inline] before its caller; frames it cannot decode stay as
// printed; one stack's frames do not leak into the next.
func TestDecode(t *testing.T) {
	bin, src, size := compile(t)
	outer := fmt.Sprintf("outer+0x0/0x%x", size["outer"])
	stacks := [][]oops.Frame{
		{{Sym: outer, PC: true}, {Sym: "nosuch+0x1/0x2", Guess: true}, {Sym: "mod_fn+0x1/0x2", Module: "mod", Section: "Freed by task 1"}},
		{{Sym: fmt.Sprintf("outer+0x0/0x%x", size["outer"]+1)}}, // the size does not match: another symbol
	}
	s := &Symbolizer{Vmlinux: bin}
	got, st, err := s.Decode(context.Background(), stacks)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]result.Frame{
		{
			{Func: "inner", File: src, Line: lineOf(t, src, "*p = *p * 7"), Inline: true},
			{Func: outer, File: src, Line: lineOf(t, src, "inner(p);")},
			{Func: "nosuch+0x1/0x2", Guess: true},
			{Func: "mod_fn+0x1/0x2 [mod]", Section: "Freed by task 1"},
		},
		{{Func: stacks[1][0].Sym}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode:\n got %v\nwant %v", got, want)
	}
	if st.Frames != 1 {
		t.Errorf("Stats.Frames = %d, want 1", st.Frames)
	}
	if w := (result.Oops{Stack: got[0]}).Where(); w != fmt.Sprintf("%s:%d", src, lineOf(t, src, "*p = *p * 7")) {
		t.Errorf("Where() = %q", w)
	}

	// The kernel prints a size up to the next symbol: sink is followed by
	// padding up to main, which is 64-byte aligned.
	padded := fmt.Sprintf("sink+0x0/0x%x", size["&main"]-size["&sink"])
	if size["&main"]-size["&sink"] == size["sink"] {
		t.Fatalf("no padding after sink: %v", size)
	}
	got, _, err = s.Decode(context.Background(), [][]oops.Frame{{{Sym: padded, PC: true}}})
	if l := lineOf(t, src, "void sink(int v)"); err != nil || len(got[0]) != 1 || got[0][0].File != src || got[0][0].Line < l || got[0][0].Line > l+3 {
		t.Errorf("Decode(%s) = %v, %v; want a line of sink", padded, got, err)
	}

	// Without DWARF nothing is decoded, and the error says what to do.
	stripped := bin + ".stripped"
	if out, err := exec.Command("objcopy", "--strip-debug", bin, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	s = &Symbolizer{Vmlinux: stripped}
	got, _, err = s.Decode(context.Background(), stacks[:1])
	if err == nil || !strings.Contains(err.Error(), "CONFIG_DEBUG_INFO") {
		t.Errorf("Decode without debug info: err %v", err)
	}
	if len(got[0]) != 3 || got[0][0].Func != outer || got[0][0].File != "" {
		t.Errorf("Decode without debug info returned %v, want the frames as printed", got)
	}
}

func TestTrimPath(t *testing.T) {
	for in, want := range map[string]string{
		"/root/.cache/rig/slots/arm64-233e90f81394ff1c/src/kernel/futex/waitwake.c": "kernel/futex/waitwake.c",
		"/home/u/.cache/rig/slots/x86_64-1/out/./include/generated/x.h":             "include/generated/x.h",
		"/usr/src/linux/kernel/fork.c":                                              "/usr/src/linux/kernel/fork.c",
	} {
		if got := TrimPath(in); got != want {
			t.Errorf("TrimPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Decoding is bounded: stacks past MaxStacks stay as printed, and an
// addr2line that does not answer in time is stopped and named.
func TestDecodeBounds(t *testing.T) {
	bin, _, size := compile(t)
	frame := oops.Frame{Sym: fmt.Sprintf("outer+0x0/0x%x", size["outer"]), PC: true}
	stacks := make([][]oops.Frame, MaxStacks+2)
	for i := range stacks {
		stacks[i] = []oops.Frame{frame}
	}
	s := &Symbolizer{Vmlinux: bin}
	got, st, err := s.Decode(context.Background(), stacks)
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != MaxStacks || len(got) != len(stacks) || got[MaxStacks-1][0].File == "" || got[MaxStacks][0].File != "" {
		t.Errorf("decoded %d frames; stack %d: %v, stack %d: %v", st.Frames, MaxStacks-1, got[MaxStacks-1], MaxStacks, got[MaxStacks])
	}

	slow := filepath.Join(t.TempDir(), "slow-addr2line")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = &Symbolizer{Vmlinux: bin, Addr2line: slow, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, _, err = s.Decode(context.Background(), stacks[:1])
	if err == nil || !strings.Contains(err.Error(), "took more than 200ms") || time.Since(start) > 10*time.Second {
		t.Errorf("slow addr2line: err %v after %s", err, time.Since(start))
	}
}
