package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/result"
)

// ReproduceScript is the name of a cell's replay script (docs/design.md,
// "Replay").
const ReproduceScript = "reproduce.sh"

// Names of the files a cell keeps for replay, in its directory.
const (
	keptInitramfs = "initramfs.cpio"
	keptVmlinux   = "vmlinux"
)

// Placeholders for the script's shell variables inside the standalone
// argv: no argument of a real boot holds a NUL byte.
const (
	varKernel = "\x00kernel\x00"
	varInitrd = "\x00initrd\x00"
	varEvents = "\x00events\x00"
)

// script is what reproduce.sh is made of.
type script struct {
	Run, Cell string
	Arch      string
	Argv      []string // standalone argv with the placeholders above
	Kernel    string   // kept image's name in the cell directory
	Initramfs string   // kept initramfs's name ("" = none)
	// KernelFrom and InitramfsFrom are where the rig booted them from:
	// the script's fallback when the cell did not keep them.
	KernelFrom, InitramfsFrom string
	Timeout                   time.Duration
}

// reproduceArgv is the standalone argv of cfg, the kernel, initramfs and
// events file as the script's variables.
func reproduceArgv(cfg machine.Config) ([]string, error) {
	cfg.Kernel = varKernel
	if cfg.Initramfs != "" {
		cfg.Initramfs = varInitrd
	}
	cfg.Shell = false
	argv, _, err := machine.StandaloneArgv(cfg, varEvents)
	return argv, err
}

// writeReproducer writes the cell's reproduce.sh for the boot cfg
// describes, bounded by its run timeout, and records it; a failure is a
// notice, not the cell's.
func (c *cell) writeReproducer(cfg machine.Config) {
	argv, err := reproduceArgv(cfg)
	if err == nil {
		s := script{Run: c.rec.run.ID, Cell: c.res.ID, Arch: c.arch.Name, Argv: argv, Kernel: filepath.Base(c.arch.Image),
			KernelFrom: cfg.Kernel, InitramfsFrom: cfg.Initramfs, Timeout: cfg.RunTimeout}
		if cfg.Initramfs != "" {
			s.Initramfs = keptInitramfs
		}
		err = atomicfile.WriteFile(filepath.Join(c.dir, ReproduceScript), []byte(s.render()), 0o755)
	}
	if err != nil {
		c.ui.Notice("%s: %v", ReproduceScript, err)
		return
	}
	c.res.Reproduce = ReproduceScript
	c.booted = &cfg
}

// render is the script's text: POSIX sh, no tool beyond QEMU, coreutils'
// timeout and grep; every path is relative to the script or a fallback.
func (s script) render() string {
	var b strings.Builder
	secs := int64(s.Timeout.Round(time.Second) / time.Second)
	fmt.Fprintf(&b, `#!/bin/sh
# reproduce.sh: boot cell %[1]s of rig run %[2]s again, without the rig.
#
# The same kernel and initramfs, the same kernel command line (seed, tests,
# duration: every rig.* option the rig passed) and the same QEMU options as
# the rig's boot, from the same argv builder; but QEMU starts at once, the
# console is on this terminal (Ctrl-C stops QEMU) and the guest's events go
# to a file. The run stops after %[3]ds, the rig's run timeout.
#
# Exit status: the guest's verdict, from its events.
#   0  the guest sent "done" and no test failed
#   1  a test failed or erred (even if the kernel then crashed)
#   2  the guest never finished: crash, panic, hang, timeout, no QEMU
# The rig also fails a cell for a kernel report on the console (a WARNING,
# a BUG) under tests that pass; here that is for your eyes: exit 0.
#
# Needs %[4]s and timeout (coreutils). The kernel and initramfs are
# kept beside this script when the cell did not pass (or with --keep-kernel);
# else the script boots them from the rig's cache, if they are still there.
# RIG_EVENTS=FILE keeps a copy of the events.
set -u
here=$(cd "$(dirname "$0")" && pwd)
`, s.Cell, s.Run, secs, s.Argv[0])
	fallback := func(v, name, from string) {
		fmt.Fprintf(&b, "%s=\"$here/%s\"\n", v, name)
		fmt.Fprintf(&b, "[ -f \"$%s\" ] || %s=%s\n", v, v, shellWord(from))
		fmt.Fprintf(&b, "if [ ! -f \"$%s\" ]; then\n", v)
		fmt.Fprintf(&b, "\techo \"reproduce.sh: %s not kept beside the script and gone from the rig's cache (%s): rig rerun builds it again\" >&2\n", name, strings.ReplaceAll(from, `"`, ""))
		fmt.Fprintf(&b, "\texit 2\nfi\n")
	}
	fallback("kernel", s.Kernel, s.KernelFrom)
	if s.Initramfs != "" {
		fallback("initrd", s.Initramfs, s.InitramfsFrom)
	}
	b.WriteString(`tmp=$(mktemp -d "${TMPDIR:-/tmp}/rig-reproduce.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
events="$tmp/events.jsonl"
: >"$events"
`)
	fmt.Fprintf(&b, "timeout --foreground -k 10 %ds \\\n", secs)
	args := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		args[i] = shellWord(a)
	}
	// One option and its value a line.
	for i := 0; i < len(args); i++ {
		line := args[i]
		if i+1 < len(args) && strings.HasPrefix(s.Argv[i], "-") && !strings.HasPrefix(s.Argv[i+1], "-") {
			line += " " + args[i+1]
			i++
		}
		sep := " \\\n"
		if i == len(args)-1 {
			sep = "\n"
		}
		b.WriteString("\t" + line + sep)
	}
	fmt.Fprintf(&b, `qemu=$?
[ -n "${RIG_EVENTS:-}" ] && cp "$events" "$RIG_EVENTS"
# Events are JSON lines (guest/event): {"ev":"result","test":...,"status":"fail",...}.
# A quote inside a JSON string is escaped, so these patterns match keys only.
if grep -Eq '"ev":"result".*"status":"(fail|error)"' "$events"; then
	echo "reproduce.sh: a test failed:" >&2
	grep -E '"ev":"result".*"status":"(fail|error)"' "$events" >&2
	exit 1
fi
if ! grep -q '"ev":"done"' "$events"; then
	if [ "$qemu" -eq 124 ] || [ "$qemu" -eq 137 ]; then
		echo "reproduce.sh: timed out after %ds without the guest's done event" >&2
	else
		echo "reproduce.sh: the guest never finished (QEMU exit status $qemu)" >&2
	fi
	exit 2
fi
exit 0
`, secs)
	return b.String()
}

// shellWord quotes a for sh, turning the placeholders into the script's
// variables ("$kernel"): split at NUL bytes, every odd part is a name.
func shellWord(a string) string {
	var w strings.Builder
	for i, part := range strings.Split(a, "\x00") {
		switch {
		case i%2 == 1:
			w.WriteString(`"$` + part + `"`)
		case part != "":
			w.WriteString(quote(part))
		}
	}
	if w.Len() == 0 {
		return "''"
	}
	return w.String()
}

// quote is s as one sh word: bare when that is safe, else single-quoted.
func quote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=./,:+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// keepFile puts src into the cell directory as name: a hard link when on
// the same filesystem, else a copy. It returns the bytes kept.
func keepFile(src, dst string) (int64, error) {
	st, err := os.Stat(src)
	if err != nil {
		return 0, err
	}
	os.Remove(dst)
	if err := os.Link(src, dst); err != nil {
		if err := atomicfile.Copy(src, dst); err != nil {
			return 0, err
		}
	}
	return st.Size(), nil
}

// keep puts what the cell booted beside its results when it did not pass
// (or with KeepKernel): the kernel image, the initramfs and, when the
// kernel cache has it, the vmlinux; kernel.config is there already. A
// link costs no space and survives `rig cache prune`.
func (c *cell) keep(kernel, initrd string) {
	if c.res.Status == result.Pass && !c.opts.KeepKernel {
		return
	}
	files := []struct{ src, name string }{
		{kernel, filepath.Base(c.arch.Image)},
		{initrd, keptInitramfs},
	}
	if filepath.Base(c.arch.Image) != keptVmlinux { // else the image is vmlinux (x86_64)
		files = append(files, struct{ src, name string }{filepath.Join(filepath.Dir(kernel), kbuild.KernelVmlinuxFile), keptVmlinux})
	}
	c.res.Kept, c.res.KeptBytes = nil, 0
	for _, f := range files {
		if f.src == "" {
			continue
		}
		n, err := keepFile(f.src, filepath.Join(c.dir, f.name))
		if errors.Is(err, fs.ErrNotExist) && f.name == keptVmlinux {
			continue // a kernel cached before the cache kept vmlinux
		}
		if err != nil {
			c.ui.Notice("keeping %s with the results: %v", f.name, err)
			continue
		}
		c.res.Kept = append(c.res.Kept, f.name)
		c.res.KeptBytes += n
	}
	c.save()
}

var compilers sync.Map // compiler name -> version line

// CompilerVersion is the first line of `--version` of the compiler that
// builds a's kernels on this host ("" if it cannot be run).
func CompilerVersion(a arch.Arch) string {
	cc := a.CrossPrefix() + "gcc"
	if v, ok := compilers.Load(cc); ok {
		return v.(string)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{cc, "--version"}})
	if err != nil {
		return ""
	}
	v := lines.First(string(out))
	compilers.Store(cc, v)
	return v
}

// inputs records the cell's options for `rig rerun`.
func (s Spec) inputs(o Options) *result.Inputs {
	in := &result.Inputs{Tree: s.Tree, Committed: o.Committed, Series: s.Series, Configs: s.Configs, Tests: s.Tests,
		Duration: s.Duration, MinKills: o.MinKills, Accel: s.Accel, CPUs: o.CPUs, MemoryMB: o.MemoryMB,
		BootTimeout: o.BootTimeout, RunTimeout: o.RunTimeout, EventTimeout: o.EventTimeout, Baseline: s.Baseline || o.Baseline, EachPatch: o.EachPatch}
	if in.Tree != "" {
		in.Tree, _ = filepath.Abs(in.Tree)
	}
	switch {
	case s.Series == "":
	case s.Input != nil && s.Input.Tip != "":
		in.Series = s.Input.Base + ".." + s.Input.Tip // the commits, not a branch that moves
	default:
		if abs, err := filepath.Abs(s.Series); err == nil {
			in.Series = abs
		}
	}
	return in
}
