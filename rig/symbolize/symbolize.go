// Package symbolize decodes the stack frames of kernel reports
// ("futex_wake+0x1a/0x40", rig/oops) to file:line, inlined functions
// included, from a vmlinux with DWARF: the symbol table gives each frame's
// address, and one addr2line -i call decodes every frame of a boot
// (docs/design.md, "Kernel reports").
package symbolize

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
)

// Bounds of one Decode call.
const (
	// DefaultTimeout bounds the addr2line call.
	DefaultTimeout = 60 * time.Second
	// MaxStacks is how many stacks (reports) are decoded; the rest keep
	// their frames as printed.
	MaxStacks = 16
	// maxInline bounds the inlined functions kept per frame.
	maxInline = 8
)

// Symbolizer decodes frames against one vmlinux.
type Symbolizer struct {
	Vmlinux string
	// Addr2line is the binutils addr2line for the vmlinux's arch
	// ("aarch64-linux-gnu-addr2line"); "" means "addr2line".
	Addr2line string
	Timeout   time.Duration // 0: DefaultTimeout

	syms  map[string][]symbol
	addrs []uint64 // every code symbol's address, sorted: kallsyms' sizes
}

type symbol struct{ addr, size uint64 }

// ConfigHasDebugInfo reports whether the kernel .config at path builds
// vmlinux with DWARF (CONFIG_DEBUG_INFO=y).
func ConfigHasDebugInfo(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "CONFIG_DEBUG_INFO=y" {
			return true
		}
	}
	return false
}

// load reads the vmlinux's function symbols, once.
func (s *Symbolizer) load() error {
	if s.syms != nil {
		return nil
	}
	f, err := elf.Open(s.Vmlinux)
	if err != nil {
		return fmt.Errorf("symbolize: %w", err)
	}
	defer f.Close()
	if f.Section(".debug_info") == nil {
		return fmt.Errorf("symbolize: %s has no debug info (build it with a config that sets CONFIG_DEBUG_INFO, such as debuginfo)", s.Vmlinux)
	}
	all, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("symbolize: %s: %w", s.Vmlinux, err)
	}
	s.syms = make(map[string][]symbol, len(all))
	for _, y := range all {
		t := elf.ST_TYPE(y.Info)
		if t != elf.STT_FUNC && t != elf.STT_NOTYPE || y.Section == elf.SHN_UNDEF || y.Section >= elf.SHN_LORESERVE ||
			strings.HasPrefix(y.Name, "$") || int(y.Section) >= len(f.Sections) || f.Sections[y.Section].Flags&elf.SHF_EXECINSTR == 0 {
			continue // not code, or arm64's $x/$d mapping symbols, which kallsyms leaves out
		}
		s.syms[y.Name] = append(s.syms[y.Name], symbol{y.Value, y.Size})
		s.addrs = append(s.addrs, y.Value)
	}
	slices.Sort(s.addrs)
	return nil
}

// kallsymsSize is the size the kernel prints for the symbol at addr: the
// distance to the next symbol (alignment padding included), 0 if none.
func (s *Symbolizer) kallsymsSize(addr uint64) uint64 {
	i := sort.Search(len(s.addrs), func(i int) bool { return s.addrs[i] > addr })
	if i == len(s.addrs) {
		return 0
	}
	return s.addrs[i] - addr
}

// frameRe splits "func+0x1a/0x40".
var frameRe = regexp.MustCompile(`^(.+)\+0x([0-9a-f]+)/0x([0-9a-f]+)$`)

// address is where a printed frame points, for addr2line: the symbol's
// address plus the offset, less one for a return address (so that the
// line is the call's, not the next one's). ok is false for a module's
// frame or a symbol vmlinux does not have with that size.
func (s *Symbolizer) address(f oops.Frame) (uint64, bool) {
	if f.Module != "" {
		return 0, false
	}
	m := frameRe.FindStringSubmatch(f.Sym)
	if m == nil {
		return 0, false
	}
	off, err1 := strconv.ParseUint(m[2], 16, 64)
	size, err2 := strconv.ParseUint(m[3], 16, 64)
	if err1 != nil || err2 != nil || off > size {
		return 0, false
	}
	for _, y := range s.syms[m[1]] {
		// The printed size tells same-named symbols apart, and a vmlinux
		// that is not the kernel's: it is the ELF size, or the distance to
		// the next symbol when padding follows the function.
		if y.size != size && s.kallsymsSize(y.addr) != size {
			continue
		}
		a := y.addr + off
		if !f.PC && off > 0 {
			a--
		}
		return a, true
	}
	return 0, false
}

// Stats says what a Decode call did.
type Stats struct {
	Frames  int           // frames decoded to a file:line
	Elapsed time.Duration // the whole call, symbol table included
}

// Decode decodes stacks (each report's frames, as rig/oops collected them)
// with one addr2line call. Every stack comes back with every frame: a
// frame decoded to a function and file:line, preceded by the functions
// inlined into it (innermost first), or as printed when it could not be
// decoded (a module's, an unknown symbol, a stack past MaxStacks). The
// error says why nothing was decoded; the frames are returned anyway.
func (s *Symbolizer) Decode(ctx context.Context, stacks [][]oops.Frame) ([][]result.Frame, Stats, error) {
	start := time.Now()
	out := make([][]result.Frame, len(stacks))
	for i, st := range stacks {
		for _, f := range st {
			out[i] = append(out[i], printed(f))
		}
	}
	if err := s.load(); err != nil {
		return out, Stats{Elapsed: time.Since(start)}, err
	}
	type ref struct{ stack, frame int }
	var addrs []string
	var refs []ref
	for i, st := range stacks {
		if i >= MaxStacks {
			break
		}
		for j, f := range st {
			if a, ok := s.address(f); ok {
				addrs = append(addrs, fmt.Sprintf("0x%x", a))
				refs = append(refs, ref{i, j})
			}
		}
	}
	if len(addrs) == 0 {
		return out, Stats{Elapsed: time.Since(start)}, nil
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tool := s.Addr2line
	if tool == "" {
		tool = "addr2line"
	}
	argv := append([]string{tool, "-e", s.Vmlinux, "-a", "-f", "-i"}, addrs...)
	text, err := execx.Output(ctx, execx.Cmd{Argv: argv})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("symbolize: %s took more than %s: %w", tool, timeout, ctx.Err())
		}
		return out, Stats{Elapsed: time.Since(start)}, err
	}
	locs, err := ParseAddr2line(text)
	if err != nil {
		return out, Stats{Elapsed: time.Since(start)}, err
	}
	if len(locs) != len(refs) {
		return out, Stats{Elapsed: time.Since(start)}, fmt.Errorf("symbolize: %s answered for %d addresses, asked %d", tool, len(locs), len(refs))
	}
	// Rebuild each decoded stack with its inlined frames in place.
	decoded := map[ref][]result.Frame{}
	n := 0
	for k, r := range refs {
		if fs := expand(stacks[r.stack][r.frame], locs[k]); fs != nil {
			decoded[r] = fs
			n++
		}
	}
	for i, st := range stacks {
		if i >= MaxStacks {
			break
		}
		var fs []result.Frame
		for j, f := range st {
			if d, ok := decoded[ref{i, j}]; ok {
				fs = append(fs, d...)
			} else {
				fs = append(fs, printed(f))
			}
		}
		out[i] = fs
	}
	return out, Stats{Frames: n, Elapsed: time.Since(start)}, nil
}

// printed is a frame as the kernel printed it, not decoded.
func printed(f oops.Frame) result.Frame {
	fr := result.Frame{Func: f.Sym, Guess: f.Guess, Section: f.Section}
	if f.Module != "" {
		fr.Func += " [" + f.Module + "]"
	}
	return fr
}

// expand turns one address's locations (innermost first) into frames: the
// inlined functions, then the frame itself with its printed offset and the
// outermost location. nil if addr2line knew nothing of it.
func expand(f oops.Frame, locs []Loc) []result.Frame {
	if len(locs) == 0 || locs[len(locs)-1].File == "" {
		return nil
	}
	if len(locs) > maxInline+1 {
		locs = append(locs[:maxInline:maxInline], locs[len(locs)-1])
	}
	var out []result.Frame
	for _, l := range locs[:len(locs)-1] {
		out = append(out, result.Frame{Func: l.Func, File: l.File, Line: l.Line, Inline: true, Guess: f.Guess, Section: f.Section})
	}
	last := locs[len(locs)-1]
	return append(out, result.Frame{Func: f.Sym, File: last.File, Line: last.Line, Guess: f.Guess, Section: f.Section})
}

// Loc is one location addr2line gives for an address: a function and its
// file and line (File "" when unknown).
type Loc struct {
	Func string
	File string
	Line int
}

// ParseAddr2line reads the output of `addr2line -a -f -i ADDR...`: per
// address, its line ("0xffffffff81234567"), then a function line and a
// "file:line" line for each location, innermost first. File names are
// made relative to the kernel tree (TrimPath).
func ParseAddr2line(out []byte) ([][]Loc, error) {
	var res [][]Loc
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var fn string
	haveFn := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if isAddress(l) && !haveFn {
			res = append(res, nil)
			continue
		}
		if len(res) == 0 {
			return nil, fmt.Errorf("symbolize: addr2line output does not start with an address: %q", l)
		}
		if !haveFn {
			fn, haveFn = l, true
			continue
		}
		haveFn = false
		loc := Loc{Func: fn}
		if fn == "??" {
			loc.Func = ""
		}
		loc.File, loc.Line = fileLine(l)
		cur := &res[len(res)-1]
		*cur = append(*cur, loc)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if haveFn {
		return nil, errors.New("symbolize: addr2line output ends inside a location")
	}
	return res, nil
}

func isAddress(l string) bool {
	if !strings.HasPrefix(l, "0x") || len(l) < 3 {
		return false
	}
	_, err := strconv.ParseUint(l[2:], 16, 64)
	return err == nil
}

// fileLine splits "/path/kernel/futex/core.c:766 (discriminator 2)".
func fileLine(l string) (string, int) {
	if i := strings.Index(l, " ("); i >= 0 {
		l = l[:i]
	}
	i := strings.LastIndexByte(l, ':')
	if i < 0 {
		return "", 0
	}
	file, num := l[:i], l[i+1:]
	if file == "??" || file == "" {
		return "", 0
	}
	n, _ := strconv.Atoi(num) // "?" when the line is unknown
	return TrimPath(file), n
}

// slotRe is the part of a path that the rig's build slots put before the
// tree's own (a slot's work tree and build directory; docs/design.md, "The
// cache").
var slotRe = regexp.MustCompile(`^.*/slots/[^/]+/(?:src|out)/`)

// TrimPath makes a source path from a vmlinux built by the rig relative to
// the kernel tree: "kernel/futex/core.c".
func TrimPath(p string) string {
	p = slotRe.ReplaceAllString(p, "")
	return strings.TrimPrefix(p, "./")
}
