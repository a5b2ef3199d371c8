package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCommandsRefuseSpecialFiles: each command handed a FIFO or a device
// where it expects a file (a run.json, a plan, a patch series, a config
// fragment) exits 2 within 2 s, naming the file, instead of blocking.
func TestCommandsRefuseSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := func(name string) string {
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo("run/run.json")
	plan, series, frag := fifo("plan.yaml"), fifo("x.patch"), fifo("frag.config")
	results := filepath.Join(dir, "results")
	for _, args := range [][]string{
		{"report", "html", run},
		{"report", "kcidb", run},
		{"report", "merge", filepath.Join(dir, "out"), run},
		{"matrix", plan, "--list"},
		{"matrix", "/dev/zero", "--list"},
		{"run", "--series", series, "--results", results},
		{"run", "--series", "/dev/zero", "--results", results},
		{"run", "--config", frag, "--results", results},
	} {
		code, stderr := execWithin(t, args...)
		if code != ExitUsage && !(args[1] == "merge" && code == ExitInfra) {
			t.Errorf("rig %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), code, ExitUsage, stderr)
		}
		if !strings.Contains(stderr, "not a regular file") {
			t.Errorf("rig %s: stderr does not say why:\n%s", strings.Join(args, " "), stderr)
		}
	}
}

// TestMatrixListCellCap: `rig matrix --list` of a six-million-cell plan
// exits 2 at once with the count and what to do, listing nothing.
func TestMatrixListCellCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("arches: [x86_64, arm64]\naccels: [auto, kvm, tcg]\nrepeats: 1000\nconfigs:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "  - [base, x%d.config]\n", i)
	}
	plan := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(plan, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := execWithin(t, "matrix", plan, "--list")
	if code != ExitUsage || !strings.Contains(stderr, "6000000 cells") || !strings.Contains(stderr, "split it") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
