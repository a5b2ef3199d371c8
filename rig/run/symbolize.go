package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/symbolize"
)

// DebugInfoFragment is the config fragment that gives vmlinux DWARF: what
// --symbolize and rig boot --gdb add to a cell's configs.
const DebugInfoFragment = "debuginfo"

// WithDebugInfo returns configs with the debuginfo fragment added (once).
func WithDebugInfo(configs []string) []string {
	for _, c := range configs {
		if c == DebugInfoFragment {
			return configs
		}
	}
	return append(append([]string(nil), configs...), DebugInfoFragment)
}

// kernelConfig is the .config of the kernel the cell boots: the copy in
// its directory, or for a kernel from the kernel cache given to rig boot,
// the entry's.
func (c *cell) kernelConfig() string {
	p := filepath.Join(c.dir, "kernel.config")
	if _, err := os.Stat(p); err != nil && c.spec.Kernel != "" {
		return filepath.Join(filepath.Dir(c.spec.Kernel), kbuild.KernelConfigFile)
	}
	return p
}

// findVmlinux sets the cell's vmlinux to path if it is there.
func (c *cell) findVmlinux(path string) {
	if _, err := os.Stat(path); err == nil {
		c.vmlinux = path
	}
}

// oopses turns the scanner's reports into the cell's, each with its stack
// as printed, most telling first (oops.ByCause): what reads the first
// report (the cause, the baseline's judgement, the report's summary)
// names the bad access and not its symptom.
func oopses(sc *oops.Scanner) ([]result.Oops, [][]oops.Frame) {
	var out []result.Oops
	var stacks [][]oops.Frame
	rs := sc.Reports()
	oops.ByCause(rs)
	for _, r := range rs {
		o := result.Oops{Kind: r.Kind, Title: r.Title, Line: r.Line}
		fs := sc.Frames(r)
		for _, f := range fs {
			o.Stack = append(o.Stack, result.Frame{Func: f.Sym + module(f), Guess: f.Guess, Section: f.Section})
		}
		out = append(out, o)
		stacks = append(stacks, fs)
	}
	return out, stacks
}

func module(f oops.Frame) string {
	if f.Module == "" {
		return ""
	}
	return " [" + f.Module + "]"
}

// symbolize decodes the stacks of the cell's kernel reports to file:line
// (rig/symbolize) when its kernel was built with debug info; a report
// keeps its stack as printed otherwise (docs/design.md, "Kernel reports").
func (c *cell) symbolize(ctx context.Context, stacks [][]oops.Frame) {
	if len(c.res.Oopses) == 0 || ctx.Err() != nil || !symbolize.ConfigHasDebugInfo(c.kernelConfig()) {
		return
	}
	if c.vmlinux == "" {
		c.ui.Notice("the kernel has debug info but its vmlinux is not kept beside it: its reports are not decoded to file:line")
		return
	}
	_ = c.stage("symbolize", func() (bool, string, error) {
		s := symbolize.Symbolizer{Vmlinux: c.vmlinux, Addr2line: c.arch.CrossPrefix() + "addr2line"}
		decoded, st, err := s.Decode(ctx, stacks)
		for i := range c.res.Oopses {
			c.res.Oopses[i].Stack = decoded[i]
		}
		if err != nil {
			c.ui.Notice("kernel reports not decoded to file:line: %v", err)
			return false, "not decoded", nil
		}
		return false, fmt.Sprintf("%d frames of %d reports decoded", st.Frames, min(len(stacks), symbolize.MaxStacks)), nil
	})
}
