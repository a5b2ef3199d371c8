package kconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Needs is what a kernel built with some fragments needs from its machine:
// a fragment says so in a directive comment, for example
//
//	# rig: memory=1024 slowdown=3
//
// (KASAN's shadow memory; sanitizers' instrumented code is slower). The
// kernel's tools read the line as a comment, and ConfigData leaves it out,
// so changing it rebuilds nothing.
type Needs struct {
	// MemoryMB is the guest memory the kernel needs at least; 0: any.
	MemoryMB int
	// Slowdown is how many times longer the kernel takes to boot and run
	// the tests than one without the fragment; 0 means 1.
	Slowdown float64
	// NoPVH (pvh=off): the kernel cannot boot through x86_64's PVH entry,
	// so the rig builds and boots its bzImage (rig/arch).
	NoPVH bool
}

// directive starts a directive comment.
const directive = "# rig:"

// maxSlowdown bounds a slowdown, so a typo cannot make a timeout of days.
const maxSlowdown = 50

// Factor is the slowdown as a multiplier, at least 1.
func (n Needs) Factor() float64 { return max(n.Slowdown, 1) }

// ParseNeeds reads the directive comments of one fragment; from names the
// fragment in errors.
func ParseNeeds(data []byte, from string) (Needs, error) {
	var n Needs
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), directive)
		if !ok {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s (want %q with memory=MiB, slowdown=factor and/or pvh=off)", from, line,
				fmt.Sprintf(format, a...), directive+" memory=1024 slowdown=3")
		}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "memory":
				mb, err := strconv.Atoi(v)
				if err != nil || mb <= 0 {
					return Needs{}, bad("memory=%q is not a positive number of MiB", snippet(v))
				}
				n.MemoryMB = mb
			case "slowdown":
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || !(f >= 1 && f <= maxSlowdown) {
					return Needs{}, bad("slowdown=%q is not a factor from 1 to %d", snippet(v), maxSlowdown)
				}
				n.Slowdown = f
			case "pvh":
				if v != "off" {
					return Needs{}, bad("pvh=%q: only pvh=off is a setting", snippet(v))
				}
				n.NoPVH = true
			default:
				return Needs{}, bad("unknown setting %q", snippet(kv))
			}
		}
	}
	return n, sc.Err()
}

// NeedsOf combines the fragments' needs: the largest memory, and the
// product of the slowdowns (two sanitizers slow a kernel down twice).
func NeedsOf(frags []Fragment) (Needs, error) {
	var all Needs
	for _, f := range frags {
		n, err := ParseNeeds(f.Data, f.Path)
		if err != nil {
			return Needs{}, err
		}
		all.MemoryMB = max(all.MemoryMB, n.MemoryMB)
		all.NoPVH = all.NoPVH || n.NoPVH
		if n.Slowdown > 0 {
			all.Slowdown = all.Factor() * n.Slowdown
		}
	}
	return all, nil
}

// ConfigData is a fragment's text without its directive lines: what the
// kernel's config is made from, and so what identifies it.
func ConfigData(data []byte) []byte {
	if !bytes.Contains(data, []byte(directive)) {
		return data
	}
	var out []byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte(directive)) {
			out = append(out, l...)
		}
	}
	return out
}
