// Package setup knows the host tools the rig needs, checks them, and installs
// what is missing with apt. Every stage asks Require for its tools first, so
// a missing tool is named (with its Debian package and `rig setup`) before any
// work starts, never discovered halfway through a build.
package setup

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/internal/lines"
)

// Tool is one host program and the Debian package that provides it.
type Tool struct {
	Name    string   // program on PATH, or an absolute path for a file
	Package string   // Debian package
	Version []string // argv printing its version (first line is shown)
	For     string   // which stage needs it
	Test    bool     // needed only by the rig's own tests (rig setup --test-tools)
}

// Tools is the table of everything the rig uses on the host.
var Tools = []Tool{
	{"git", "git", []string{"git", "--version"}, "source", false},
	{"tar", "tar", []string{"tar", "--version"}, "source", false},
	{"xz", "xz-utils", []string{"xz", "--version"}, "source", false},
	{"/usr/src/linux-source-6.12.tar.xz", "linux-source-6.12", nil, "source (default tree)", false},
	{"make", "make", []string{"make", "--version"}, "build", false},
	{"gcc", "gcc", []string{"gcc", "--version"}, "build", false},
	{"flex", "flex", []string{"flex", "--version"}, "build", false},
	{"bison", "bison", []string{"bison", "--version"}, "build", false},
	{"bc", "bc", []string{"bc", "--version"}, "build", false},
	{"/usr/include/libelf.h", "libelf-dev", nil, "build", false},
	{"/usr/include/openssl/ssl.h", "libssl-dev", nil, "build", false},
	{"ccache", "ccache", []string{"ccache", "--version"}, "build", false},
	{"aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu", []string{"aarch64-linux-gnu-gcc", "--version"}, "build (arm64)", false},
	{"/usr/aarch64-linux-gnu/include/stdio.h", "libc6-dev-arm64-cross", nil, "build (arm64 selftests)", false},
	{"cpio", "cpio", []string{"cpio", "--version"}, "pack", false},
	{"go", "", []string{"go", "version"}, "pack (guest)", false},
	{"qemu-system-x86_64", "qemu-system-x86", []string{"qemu-system-x86_64", "--version"}, "boot (x86_64)", false},
	{"qemu-system-aarch64", "qemu-system-arm", []string{"qemu-system-aarch64", "--version"}, "boot (arm64)", false},
	{"addr2line", "binutils", []string{"addr2line", "--version"}, "kernel reports to file:line", false},
	{"aarch64-linux-gnu-addr2line", "binutils-aarch64-linux-gnu", []string{"aarch64-linux-gnu-addr2line", "--version"}, "kernel reports to file:line (arm64)", false},
	{"gdb-multiarch", "gdb-multiarch", []string{"gdb-multiarch", "--version"}, "boot --gdb", false},
	{"chromium", "chromium", []string{"chromium", "--version"}, "tests (report.html in a real browser)", true},
}

// Lookup returns the named tool's table entry.
func Lookup(name string) (Tool, bool) {
	for _, t := range Tools {
		if t.Name == name {
			return t, true
		}
	}
	return Tool{}, false
}

// MissingError names the tools that are not installed.
type MissingError struct{ Tools []Tool }

func (e *MissingError) Error() string {
	var parts []string
	for _, t := range e.Tools {
		if t.Package == "" {
			parts = append(parts, t.Name)
		} else {
			parts = append(parts, fmt.Sprintf("%s (Debian package %s)", t.Name, t.Package))
		}
	}
	return fmt.Sprintf("missing host tool(s): %s: run `rig setup` to install them", strings.Join(parts, ", "))
}

// lookPath is exec.LookPath, replaceable in tests.
var lookPath = exec.LookPath

// present reports whether a tool is installed.
func present(t Tool) bool {
	if strings.HasPrefix(t.Name, "/") {
		_, err := os.Stat(t.Name)
		return err == nil
	}
	_, err := lookPath(t.Name)
	return err == nil
}

// Require returns a *MissingError naming every missing tool among names.
func Require(names ...string) error {
	var miss []Tool
	for _, n := range names {
		t, ok := Lookup(n)
		if !ok {
			t = Tool{Name: n}
		}
		if !present(t) {
			miss = append(miss, t)
		}
	}
	if len(miss) > 0 {
		return &MissingError{Tools: miss}
	}
	return nil
}

// Status is one line of `rig setup --check`.
type Status struct {
	Tool    Tool
	OK      bool
	Version string
}

// Check reports every tool with its version (test-only tools when tests).
func Check(ctx context.Context, tests bool) []Status {
	var out []Status
	for _, t := range Tools {
		if t.Test && !tests {
			continue
		}
		s := Status{Tool: t, OK: present(t)}
		if s.OK && t.Version != nil {
			b, _ := execx.Output(ctx, execx.Cmd{Argv: t.Version, Env: []string{"LC_ALL=C"}})
			s.Version = lines.First(string(b))
		} else if s.OK {
			s.Version = "present"
		}
		out = append(out, s)
	}
	return out
}

// Print writes the check as one line per tool.
func Print(w io.Writer, st []Status) (missing int) {
	for _, s := range st {
		mark, ver := "ok  ", s.Version
		if !s.OK {
			mark, ver = "MISS", "not installed"
			if s.Tool.Package != "" {
				ver += " (apt package " + s.Tool.Package + ")"
			}
			missing++
		}
		fmt.Fprintf(w, "%s %-40s %s\n", mark, s.Tool.Name, ver)
	}
	return missing
}

// Install installs the Debian packages of missing tools with apt-get
// (test-only tools too when tests).
func Install(ctx context.Context, log io.Writer, tests bool) error {
	set := map[string]bool{}
	for _, s := range Check(ctx, tests) {
		if !s.OK {
			if s.Tool.Package == "" {
				return fmt.Errorf("%s is missing and has no Debian package here: install it by hand", s.Tool.Name)
			}
			set[s.Tool.Package] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	var pkgs []string
	for p := range set {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	if os.Geteuid() != 0 {
		return fmt.Errorf("installing %s needs root: run `sudo apt-get install %s` or `sudo rig setup`", strings.Join(pkgs, " "), strings.Join(pkgs, " "))
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := execx.Run(ctx, execx.Cmd{Argv: []string{"apt-get", "update", "-q"}, Env: env, Log: log}); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	argv := append([]string{"apt-get", "install", "-y", "-q"}, pkgs...)
	if err := execx.Run(ctx, execx.Cmd{Argv: argv, Env: env, Log: log}); err != nil {
		return fmt.Errorf("apt-get install: %w", err)
	}
	return nil
}
