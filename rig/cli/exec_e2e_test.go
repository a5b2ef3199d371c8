package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/result"
)

// cc compiles C source (a file, or text) statically for an arch into
// dir/<arch>/name, or skips the test when that arch's compiler is missing.
func cc(t *testing.T, arch, dir, name, src string) string {
	t.Helper()
	compiler := map[string]string{"x86_64": "gcc", "arm64": "aarch64-linux-gnu-gcc"}[arch]
	if _, err := exec.LookPath(compiler); err != nil {
		t.Skipf("%s is not installed (it builds the %s test programs: apt-get install %s)", compiler, arch,
			map[string]string{"gcc": "gcc", "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu"}[compiler])
	}
	if _, err := os.Stat(src); err != nil {
		f := filepath.Join(t.TempDir(), name+".c")
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		src = f
	}
	out := filepath.Join(dir, arch, name)
	os.MkdirAll(filepath.Dir(out), 0o755)
	if b, err := exec.Command(compiler, "-O2", "-static", "-pthread", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("%s -static %s: %v\n%s", compiler, src, err, b)
	}
	return out
}

// printCmdline prints the kernel command line the guest booted with.
const printCmdline = `#include <stdio.h>
int main(void) {
	char b[4096]; FILE *f = fopen("/proc/cmdline", "r");
	if (!f || !fgets(b, sizeof b, f)) { puts("no /proc/cmdline"); return 2; }
	printf("cmdline: %s", b);
	return 0;
}
`

// overlayThenFail prints a file the overlay added, then fails.
const overlayThenFail = `#include <stdio.h>
int main(void) {
	char b[256]; FILE *f = fopen("/etc/e2e/overlay.txt", "r");
	printf("overlay: %s", f && fgets(b, sizeof b, f) ? b : "missing\n");
	puts("exits-1: giving up on purpose");
	return 1;
}
`

// TestE2EExecRobustMutex: the robust-mutex example, compiled statically
// for both arches, runs as a test on cached default kernels of both and
// passes, its output kept in each cell; --append reaches the guest's
// /proc/cmdline (read by another --exec'd program) after the rig's words,
// and --qemu-arg ends QEMU's argv in run.json.
func TestE2EExecRobustMutex(t *testing.T) {
	root, results := e2e(t)
	bin := t.TempDir()
	src := filepath.Join(root, "guest/examples/robust-mutex/robust-mutex.c")
	args := []string{"run", "--arch", "x86_64,arm64", "--results", results, "--tests", "robust-mutex,cmdline", "--duration", "3s",
		"--append", "e2e.append_marker=42", "--qemu-arg", "-d", "--qemu-arg", "guest_errors"}
	for _, a := range []string{"x86_64", "arm64"} {
		args = append(args, "--exec", cc(t, a, bin, "robust-mutex", src), "--exec", cc(t, a, bin, "cmdline", printCmdline))
	}
	code, r, dir, _ := rig(t, args...)
	if r == nil || code != 0 || r.Status != result.Pass {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	if len(r.Exec) != 4 || r.Append != "e2e.append_marker=42" || !slices.Equal(r.QEMUArgs, []string{"-d", "guest_errors"}) {
		t.Errorf("run.json: exec %+v append %q qemu_args %q", r.Exec, r.Append, r.QEMUArgs)
	}
	for _, c := range r.Cells {
		if build, ok := stage(c, "build"); !ok || !build.Cached {
			t.Errorf("%s: the default kernel was not taken from the cache: %+v", c.ID, c.Stages)
		}
		var names []string
		for _, tr := range c.Tests {
			names = append(names, tr.Name)
			if tr.Status != "pass" || tr.Evidence["log"] != "exec-"+tr.Name+".log" || tr.Evidence["exit"] != "0" {
				t.Errorf("%s: %s %s (%s), evidence %v", c.ID, tr.Name, tr.Status, tr.Reason, tr.Evidence)
			}
		}
		if !slices.Equal(names, []string{"robust-mutex", "cmdline"}) {
			t.Errorf("%s ran %v, want robust-mutex and cmdline", c.ID, names)
		}
		for _, tr := range c.Tests {
			if tr.Name == "robust-mutex" && !strings.Contains(tr.Evidence["output"], "PASS:") {
				t.Errorf("%s: robust-mutex's output tail %q lacks its PASS line", c.ID, tr.Evidence["output"])
			}
		}
		cd := filepath.Join(dir, c.ID)
		log, _ := os.ReadFile(filepath.Join(cd, "exec-robust-mutex.log"))
		t.Logf("%s exec-robust-mutex.log:\n%s", c.ID, log)
		mustFile(t, filepath.Join(cd, "exec-robust-mutex.log"), "owner deaths reported")
		mustFile(t, filepath.Join(cd, "exec-robust-mutex.log"), "thread ")
		// The guest saw the user's argument, after the rig's own words.
		mustFile(t, filepath.Join(cd, "exec-cmdline.log"), "rig.tests=robust-mutex,cmdline e2e.append_marker=42")
		if !strings.HasSuffix(c.Cmdline, " e2e.append_marker=42") {
			t.Errorf("%s: cmdline %q does not end with the --append words", c.ID, c.Cmdline)
		}
		if n := len(c.QEMUArgv); n < 2 || c.QEMUArgv[n-2] != "-d" || c.QEMUArgv[n-1] != "guest_errors" {
			t.Errorf("%s: QEMU argv does not end with the --qemu-arg words: %q", c.ID, c.QEMUArgv)
		}
	}
}

// TestE2EExecFailing: a program that exits 1 fails the run naming its
// test, with its last line in the cause and its whole output kept; a file
// --overlay added is in the image for it to read.
func TestE2EExecFailing(t *testing.T) {
	_, results := e2e(t)
	bin := t.TempDir()
	prog := cc(t, "x86_64", bin, "exits-1", overlayThenFail)
	overlay := t.TempDir()
	os.MkdirAll(filepath.Join(overlay, "etc/e2e"), 0o755)
	os.WriteFile(filepath.Join(overlay, "etc/e2e/overlay.txt"), []byte("from the overlay\n"), 0o644)
	code, r, dir, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--tests", "robust-owner-death", "--duration", "2s",
		"--exec", prog, "--overlay", overlay)
	if r == nil || code != 1 || r.Status != result.Fail {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	for _, want := range []string{"test exits-1 failed", "exit status 1", "output ends: exits-1: giving up on purpose"} {
		if !strings.Contains(r.Cause, want) {
			t.Errorf("cause %q does not say %q", r.Cause, want)
		}
	}
	c := r.Cells[0]
	if len(c.Tests) != 2 || c.Tests[0].Name != "robust-owner-death" || c.Tests[0].Status != "pass" || c.Tests[1].Status != "fail" {
		t.Errorf("tests %+v: the program runs beside --tests, and only it fails", c.Tests)
	}
	mustFile(t, filepath.Join(dir, c.ID, "exec-exits-1.log"), "overlay: from the overlay\nexits-1: giving up on purpose\n")
	if r.Overlay == nil || r.Overlay.Entries != 3 || r.Overlay.Key == "" {
		t.Errorf("run.json overlay %+v", r.Overlay)
	}
	mustFile(t, filepath.Join(dir, "junit.xml"), "exits-1")
}

// TestExecUsageErrors: a program for one arch in a run of two, an overlay that would replace /init, a rig.* word in
// --append and an unknown test are usage errors (exit 2) before anything
// is built, each naming the input.
func TestExecUsageErrors(t *testing.T) {
	bin := t.TempDir()
	prog := cc(t, "x86_64", bin, "prog", "int main(void) { return 0; }\n")
	over := t.TempDir()
	os.WriteFile(filepath.Join(over, "init"), []byte("x"), 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--arch", "x86_64,arm64", "--exec", prog}, "no arm64 program is called prog"},
		{[]string{"--arch", "x86_64", "--overlay", over}, "/init is the rig's guest"},
		{[]string{"--arch", "x86_64", "--append", "rig.tests=x"}, "rig.tests=x is the guest's option"},
		{[]string{"--arch", "x86_64", "--exec", prog, "--tests", "nope"}, `unknown test "nope"`},
	} {
		code, _, _, stderr := rig(t, append([]string{"run", "--results", t.TempDir()}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("rig run %v: exit %d, stderr %q; want exit %d saying %q", tc.args, code, stderr, ExitUsage, tc.want)
		}
	}
	// A plan's arches need a program each too.
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(plan, []byte("arches: [x86_64, arm64]\naccels: [tcg]\ntests: [robust-owner-death]\n"), 0o644)
	code, _, _, stderr := rig(t, "matrix", plan, "--results", t.TempDir(), "--exec", prog)
	if code != ExitUsage || !strings.Contains(stderr, "no arm64 program is called prog") {
		t.Errorf("rig matrix with an x86_64 program for an arm64 cell: exit %d, stderr %q", code, stderr)
	}
}

// TestE2EExecBootAndMatrix: rig matrix and rig boot take the same four
// flags: the program runs beside the plan's tests (and alone in the boot),
// the appended words reach the guest and the QEMU arguments end the argv.
func TestE2EExecBootAndMatrix(t *testing.T) {
	_, results := e2e(t)
	prog := cc(t, "x86_64", t.TempDir(), "cmdline", printCmdline)
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(plan, []byte("series: [\"\"]\narches: [x86_64]\naccels: [tcg]\nconfigs: [[]]\ntests: [robust-owner-death]\nduration: 2s\n"), 0o644)
	extras := []string{"--exec", prog, "--qemu-arg", "-d", "--qemu-arg", "guest_errors"}
	code, r, dir, _ := rig(t, append([]string{"matrix", plan, "--results", results, "--append", "e2e.matrix_marker=1"}, extras...)...)
	if r == nil || code != 0 || r.Status != result.Pass || len(r.Cells) != 1 {
		t.Fatalf("matrix: exit %d, run %+v", code, r)
	}
	c := r.Cells[0]
	if len(c.Tests) != 2 || c.Tests[1].Name != "cmdline" || len(r.Exec) != 1 || r.Append != "e2e.matrix_marker=1" || len(r.QEMUArgs) != 2 {
		t.Errorf("matrix cell tests %+v, run.json exec %+v append %q qemu_args %q", c.Tests, r.Exec, r.Append, r.QEMUArgs)
	}
	mustFile(t, filepath.Join(dir, c.ID, "exec-cmdline.log"), " e2e.matrix_marker=1")
	if n := len(c.QEMUArgv); n < 2 || c.QEMUArgv[n-1] != "guest_errors" {
		t.Errorf("matrix: QEMU argv %q", c.QEMUArgv)
	}

	code, r, dir, _ = rig(t, append([]string{"boot", "--arch", "x86_64", "--kernel", c.KernelImage, "--results", results,
		"--tests", "cmdline", "--append", "e2e.boot_marker=1"}, extras...)...)
	if r == nil || code != 0 || r.Status != result.Pass || len(r.Cells) != 1 {
		t.Fatalf("boot: exit %d, run %+v", code, r)
	}
	b := r.Cells[0]
	if len(b.Tests) != 1 || b.Tests[0].Name != "cmdline" || b.Tests[0].Status != "pass" {
		t.Errorf("boot tests %+v", b.Tests)
	}
	mustFile(t, filepath.Join(dir, b.ID, "exec-cmdline.log"), "rig.tests=cmdline e2e.boot_marker=1")
	if n := len(b.QEMUArgv); n < 2 || b.QEMUArgv[n-2] != "-d" || b.QEMUArgv[n-1] != "guest_errors" {
		t.Errorf("boot: QEMU argv %q", b.QEMUArgv)
	}
}

// TestE2EExecRobustMutexCatchesBreak: on a kernel whose robust-list walk
// forgets FUTEX_OWNER_DIED (patches/break-owner-death), robust-mutex sees
// owner deaths go unreported and fails the run, its lines kept.
func TestE2EExecRobustMutexCatchesBreak(t *testing.T) {
	root, results := e2e(t)
	prog := cc(t, "x86_64", t.TempDir(), "robust-mutex", filepath.Join(root, "guest/examples/robust-mutex/robust-mutex.c"))
	code, r, dir, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/break-owner-death"), "--baseline=false",
		"--results", results, "--exec", prog, "--tests", "robust-mutex", "--duration", "3s")
	if r == nil || code != 1 || r.Status != result.Fail {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	if !strings.Contains(r.Cause, "test robust-mutex failed: exit status 1") || !strings.Contains(r.Cause, "FAIL: 0 of") {
		t.Errorf("cause %q", r.Cause)
	}
	// Which round comes first follows the seed: a death the kernel did not
	// mark gives a lock that returns 0 (not EOWNERDEAD) or, with a waiter
	// blocked on it, a lock that no death wakes.
	log := filepath.Join(dir, patched(t, r).ID, "exec-robust-mutex.log")
	mustFile(t, log, "owner deaths reported")
	out, err := os.ReadFile(log)
	if err != nil || !(strings.Contains(string(out), "not EOWNERDEAD") || strings.Contains(string(out), "woke nobody")) {
		t.Errorf("%s: says neither \"not EOWNERDEAD\" nor \"woke nobody\" (%v):\n%s", log, err, out)
	}
}

// TestE2EExecHang: a program still running a minute past the duration is
// killed and reported as a hang, as any guest test that hangs is (an
// error: the rig could not decide), naming it; the guest still sends its
// done event, so the cause is the test, not a missing verdict.
//
// Its guest idles for the minute, so it runs in parallel with
// TestE2EWedgedKernel, the only other parallel test of the package, after
// every sequential one (docs/testing.md, "End to end").
func TestE2EExecHang(t *testing.T) {
	_, results := e2e(t)
	t.Parallel()
	prog := cc(t, "x86_64", t.TempDir(), "hangs", "#include <stdio.h>\n#include <unistd.h>\nint main(void) { puts(\"waiting forever\"); fflush(stdout); for (;;) pause(); }\n")
	code, r, dir, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--exec", prog, "--tests", "hangs", "--duration", "1s")
	if r == nil || code != ExitInfra || r.Status != result.InfraError {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	for _, want := range []string{"test hangs could not decide", "test hung: still running at its 1m1s deadline, killed", "output ends: waiting forever"} {
		if !strings.Contains(r.Cause, want) {
			t.Errorf("cause %q does not say %q", r.Cause, want)
		}
	}
	mustFile(t, filepath.Join(dir, r.Cells[0].ID, "events.jsonl"), `"ev":"done"`)
}
