package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/result"
)

// The end-to-end tests build a real x86_64 kernel from the default tree
// (Debian's linux-source-6.12), boot it under QEMU with the real guest, and
// check the verdicts. They share the rig's cache (~/.cache/rig), so only the
// first build is cold; `go test -short` skips them. Run them with an explicit
// timeout: go test -timeout 80m ./rig/cli/

func e2e(t *testing.T) (root, results string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and boots a real kernel (skipped with -short)")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root = initramfs.Checkout(wd) // for patches/; the guest comes from the test binary
	if root == "" {
		t.Fatalf("%s is in no rig checkout", wd)
	}
	return root, t.TempDir()
}

// rig runs the CLI in-process and returns its exit code and the run record.
func rig(t *testing.T, args ...string) (int, *result.Run, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := Execute(ctx, args, &stdout, &stderr)
	t.Logf("rig %s: exit %d in %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), stdout.String(), lastN(stderr.String(), 40))
	dir := ""
	for _, l := range strings.Split(stdout.String(), "\n") {
		if d, ok := strings.CutPrefix(l, "results: "); ok {
			dir = d
		}
	}
	var r *result.Run
	if dir != "" {
		var err error
		if r, err = result.Load(dir); err != nil {
			t.Fatalf("run.json: %v", err)
		}
	}
	return code, r, dir, stderr.String()
}

func lastN(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func stage(c result.Cell, name string) (result.Stage, bool) {
	for _, s := range c.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return result.Stage{}, false
}

func mustFile(t *testing.T, path, contains string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !strings.Contains(string(b), contains) {
		t.Fatalf("%s does not contain %q", path, contains)
	}
}

// patchedCells are the run's cells that tested the series (not a
// baseline).
func patchedCells(r *result.Run) []result.Cell {
	var out []result.Cell
	for _, c := range r.Cells {
		if c.Role != "baseline" {
			out = append(out, c)
		}
	}
	return out
}

// patched is the run's first cell that tested the series.
func patched(t *testing.T, r *result.Run) result.Cell {
	t.Helper()
	p := patchedCells(r)
	if len(p) == 0 {
		t.Fatalf("no patched cell in %+v", r)
	}
	return p[0]
}

// baselineOf is the run's baseline cell of an arch.
func baselineOf(t *testing.T, r *result.Run, arch string) result.Cell {
	t.Helper()
	for _, c := range r.Cells {
		if c.Role == "baseline" && c.Arch == arch {
			return c
		}
	}
	t.Fatalf("no %s baseline cell in %+v", arch, r)
	return result.Cell{}
}

// TestE2ERunExampleSeries is the main job: the example series applied to the
// default tree, built, booted under QEMU, the guest's tests passing.
func TestE2ERunExampleSeries(t *testing.T) {
	root, results := e2e(t)
	code, r, dir, stderr := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/example"), "--results", results,
		"--tests", "robust-owner-death", "--duration", "3s")
	if r == nil {
		t.Fatalf("no run record; exit %d", code)
	}
	if code != 0 || r.Status != result.Pass {
		t.Fatalf("exit %d, status %s, cause %q", code, r.Status, r.Cause)
	}
	// With a series, the tree without it is judged too.
	if b := baselineOf(t, r, "x86_64"); b.Status != result.Pass || len(b.Patches) != 0 {
		t.Errorf("baseline %s (%s), patches %+v", b.Status, b.Cause, b.Patches)
	}
	c := patched(t, r)
	if c.Accel != "tcg" && c.Accel != "kvm" {
		t.Errorf("accelerator not recorded: %q", c.Accel)
	}
	if c.Accel == "tcg" && !strings.Contains(stderr, "TCG") {
		t.Errorf("TCG fallback without a visible notice; stderr:\n%s", stderr)
	}
	if len(c.Patches) != 2 || c.Patches[0].State != "applied" || c.Patches[1].State != "applied" {
		t.Errorf("patches: %+v", c.Patches)
	}
	if len(c.Tests) != 1 || c.Tests[0].Name != "robust-owner-death" || c.Tests[0].Status != "pass" {
		t.Errorf("tests: %+v", c.Tests)
	}
	for _, s := range []string{"source", "apply", "build", "pack", "boot", "tests", "poweroff"} {
		if _, ok := stage(c, s); !ok {
			t.Errorf("stage %s not recorded: %+v", s, c.Stages)
		}
	}
	if len(c.QEMUArgv) == 0 || c.QEMUVersion == "" || !strings.Contains(c.Cmdline, "rig.seed=") || c.TreeID == "" {
		t.Errorf("reproduction data missing: argv %v version %q cmdline %q tree %q", c.QEMUArgv, c.QEMUVersion, c.Cmdline, c.TreeID)
	}
	cd := filepath.Join(dir, c.ID)
	mustFile(t, filepath.Join(cd, "console.log"), "Linux version 6.12")
	mustFile(t, filepath.Join(cd, "kernel.config"), "CONFIG_FUTEX=y")
	mustFile(t, filepath.Join(cd, "events.jsonl"), `"ev":"done"`)
	mustFile(t, filepath.Join(cd, "dmesg.txt"), "Linux version")
	mustFile(t, filepath.Join(dir, "junit.xml"), `<testcase name="robust-owner-death"`)
	mustFile(t, filepath.Join(dir, "summary.md"), "| pass |")

	// A second run with nothing changed does not rebuild.
	code, r2, _, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/example"), "--results", results,
		"--tests", "robust-owner-death", "--duration", "3s")
	if code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	c2 := patched(t, r2)
	if b, ok := stage(c2, "build"); !ok || !b.Cached {
		t.Errorf("second run rebuilt the kernel: %+v", c2.Stages)
	}
	if c2.TreeID != c.TreeID {
		t.Errorf("same series gave another tree: %s vs %s", c2.TreeID, c.TreeID)
	}
	// ... nor reboots the base: its results under the same kernel, guest
	// and tests are kept.
	if b, ok := stage(baselineOf(t, r2, "x86_64"), "boot"); !ok || !b.Cached {
		t.Errorf("second run rebooted the base: %+v", baselineOf(t, r2, "x86_64").Stages)
	}
}

// TestE2EPatchError: a patch whose second hunk does not apply stops the run
// with patch-error naming the patch, the file and the hunk.
func TestE2EPatchError(t *testing.T) {
	root, results := e2e(t)
	code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/broken-apply"), "--results", results)
	if r == nil || code != 1 || r.Status != result.PatchError {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	for _, want := range []string{"0001-futex-comment-fixes", "kernel/futex/core.c", "#2"} {
		if !strings.Contains(r.Cause, want) {
			t.Errorf("cause %q does not name %q", r.Cause, want)
		}
	}
	if _, ok := stage(patched(t, r), "build"); ok {
		t.Errorf("a series that does not apply was built")
	}
}

// TestE2EBuildError: a patch that breaks the build gives build-error with
// the compiler's first error; build.log and kernel.config are kept.
func TestE2EBuildError(t *testing.T) {
	root, results := e2e(t)
	code, r, dir, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/broken-build"), "--results", results)
	if r == nil || code != 1 || r.Status != result.BuildError {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	for _, want := range []string{"kernel/futex/core.c:", "error:", "rig_undeclared_symbol"} {
		if !strings.Contains(r.Cause, want) {
			t.Errorf("cause %q does not contain %q", r.Cause, want)
		}
	}
	cd := filepath.Join(dir, patched(t, r).ID)
	mustFile(t, filepath.Join(cd, "build.log"), "rig_undeclared_symbol")
	mustFile(t, filepath.Join(cd, "kernel.config"), "CONFIG_FUTEX=y")
}

// TestE2EWarningFailsCell: a kernel WARNING while the tests run fails the
// cell even though every test passes.
func TestE2EWarningFailsCell(t *testing.T) {
	root, results := e2e(t)
	code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/warn-on-owner-death"), "--results", results,
		"--tests", "robust-owner-death", "--duration", "3s")
	if r == nil || code != 1 || r.Status != result.Fail {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	c := patched(t, r)
	for _, tr := range c.Tests {
		if tr.Status != "pass" {
			t.Errorf("test %s: %s (%s): the WARNING patch should not break the test itself", tr.Name, tr.Status, tr.Reason)
		}
	}
	if !strings.Contains(r.Cause, "WARNING") || !strings.Contains(r.Cause, "handle_futex_death") || !strings.Contains(r.Cause, "not seen without the series") {
		t.Errorf("cause %q does not name the WARNING in handle_futex_death as new with the series", r.Cause)
	}
}

// TestE2EBootLastKernel: `rig boot` boots the last built kernel with the
// guest and reports its tests.
func TestE2EBootLastKernel(t *testing.T) {
	_, results := e2e(t)
	if code, r, _, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--tests", "robust-owner-death", "--duration", "2s"); code != 0 {
		t.Fatalf("base tree run: exit %d %+v", code, r)
	}
	code, r, _, _ := rig(t, "boot", "--results", results, "--tests", "robust-owner-death", "--duration", "2s")
	if r == nil || code != 0 || r.Status != result.Pass || len(r.Cells[0].Tests) != 1 {
		t.Fatalf("exit %d, run %+v", code, r)
	}
}

// TestE2EArm64: the same pipeline cross-built for arm64 and booted under
// TCG on QEMU's virt machine, with the same test verdict.
func TestE2EArm64(t *testing.T) {
	root, results := e2e(t)
	code, r, dir, _ := rig(t, "run", "--arch", "arm64", "--series", filepath.Join(root, "patches/example"), "--results", results,
		"--tests", "robust-owner-death", "--duration", "2s")
	if r == nil || code != 0 || r.Status != result.Pass {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	c := patched(t, r)
	if c.Arch != "arm64" || c.Accel != "tcg" || len(c.Tests) != 1 || c.Tests[0].Status != "pass" {
		t.Errorf("cell %s accel %s tests %+v", c.Arch, c.Accel, c.Tests)
	}
	mustFile(t, filepath.Join(dir, c.ID, "console.log"), "Machine model: linux,dummy-virt")
	if len(c.QEMUArgv) == 0 || filepath.Base(c.QEMUArgv[0]) != "qemu-system-aarch64" {
		t.Errorf("argv %v", c.QEMUArgv)
	}
}

// TestE2EAccelKVM: an explicit --accel kvm is honoured where KVM works and
// is a clear error where it does not (as on the rig's own CI machines).
func TestE2EAccelKVM(t *testing.T) {
	_, results := e2e(t)
	code, r, _, stderr := rig(t, "run", "--arch", "x86_64", "--accel", "kvm", "--results", results, "--tests", "robust-owner-death", "--duration", "2s")
	if code == 0 {
		if r.Cells[0].Accel != "kvm" {
			t.Fatalf("--accel kvm passed with accel %q", r.Cells[0].Accel)
		}
		return
	}
	if code != ExitInfra || r == nil || r.Status != result.InfraError || !strings.Contains(r.Cause, "KVM") || !strings.Contains(r.Cause, "--accel tcg") {
		t.Fatalf("exit %d, run %+v, stderr %s", code, r, stderr)
	}
}
