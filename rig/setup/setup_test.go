package setup

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// fakePath makes lookPath find only the given programs.
func fakePath(t *testing.T, have ...string) {
	t.Helper()
	old := lookPath
	t.Cleanup(func() { lookPath = old })
	lookPath = func(name string) (string, error) {
		for _, h := range have {
			if h == name {
				return "/usr/bin/" + name, nil
			}
		}
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
}

func TestRequire(t *testing.T) {
	fakePath(t, "git", "make", "gcc")
	if err := Require("git", "make", "gcc"); err != nil {
		t.Errorf("all present: %v", err)
	}
	err := Require("git", "flex", "make", "qemu-system-aarch64", "rig-unknown-tool", "/nonexistent/rig/file.h")
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *MissingError", err)
	}
	var names []string
	for _, tl := range me.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "flex,qemu-system-aarch64,rig-unknown-tool,/nonexistent/rig/file.h" {
		t.Errorf("missing = %v", names)
	}
	msg := err.Error()
	for _, s := range []string{"flex (Debian package flex)", "qemu-system-aarch64 (Debian package qemu-system-arm)", "rig-unknown-tool", "`rig setup`"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	if strings.Contains(msg, "git") || strings.Contains(msg, "make") {
		t.Errorf("message %q names a present tool", msg)
	}
}

// A tool given as a file path is checked with stat, not on PATH.
func TestRequireFile(t *testing.T) {
	fakePath(t) // nothing on PATH
	if err := Require("/bin/sh"); err != nil {
		t.Errorf("/bin/sh: %v", err)
	}
}

func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, tl := range Tools {
		if seen[tl.Name] {
			t.Errorf("%s twice in Tools", tl.Name)
		}
		seen[tl.Name] = true
		if tl.For == "" {
			t.Errorf("%s: no stage", tl.Name)
		}
		if tl.Package == "" && tl.Name != "go" {
			t.Errorf("%s: no Debian package", tl.Name)
		}
	}
	if tl, ok := Lookup("aarch64-linux-gnu-gcc"); !ok || tl.Package != "gcc-aarch64-linux-gnu" {
		t.Errorf("Lookup(aarch64-linux-gnu-gcc) = %+v, %v", tl, ok)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
}

func TestPrint(t *testing.T) {
	var b strings.Builder
	n := Print(&b, []Status{
		{Tool: Tool{Name: "git", Package: "git"}, OK: true, Version: "git version 2.39.5"},
		{Tool: Tool{Name: "flex", Package: "flex"}},
		{Tool: Tool{Name: "go"}},
	})
	if n != 2 {
		t.Errorf("Print returned %d missing, want 2", n)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", b.String())
	}
	if !strings.HasPrefix(lines[0], "ok ") || strings.Contains(lines[0], "MISS") || !strings.Contains(lines[0], "git version 2.39.5") {
		t.Errorf("present line: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "MISS") || !strings.Contains(lines[1], "flex") || !strings.Contains(lines[1], "apt package flex") {
		t.Errorf("missing line: %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "MISS") || strings.Contains(lines[2], "apt package") {
		t.Errorf("missing line without package: %q", lines[2])
	}
}

// With nothing on PATH Check runs no version command and reports every
// program as missing.
func TestCheckNothingOnPath(t *testing.T) {
	fakePath(t)
	st := Check(context.Background(), true)
	if len(st) != len(Tools) {
		t.Fatalf("%d statuses, want %d", len(st), len(Tools))
	}
	for _, s := range Check(context.Background(), false) {
		if s.Tool.Test {
			t.Errorf("test-only tool %s checked without test tools", s.Tool.Name)
		}
	}
	for _, s := range st {
		if !strings.HasPrefix(s.Tool.Name, "/") && (s.OK || s.Version != "") {
			t.Errorf("%s: OK=%v version %q with nothing on PATH", s.Tool.Name, s.OK, s.Version)
		}
	}
	var b strings.Builder
	if n := Print(&b, st); n < len(Tools)-4 {
		t.Errorf("Print counted %d missing", n)
	}
}
