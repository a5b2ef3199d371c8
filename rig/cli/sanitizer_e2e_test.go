package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
)

// sanitizers are the sanitizer fragments, the option that proves the
// kernel has it, the report kinds it adds, and the guest memory its
// "# rig:" line asks for ("" = the default). Both arches support all three
// (docs/design.md, "Sanitizer kernels").
var sanitizers = []struct {
	config, option string
	kinds          []string
	memory         string
}{
	{"kasan", "CONFIG_KASAN=y", []string{oops.KindKASAN}, "1024"},
	{"kcsan", "CONFIG_KCSAN=y", []string{oops.KindKCSAN}, ""},
	{"ubsan", "CONFIG_KFENCE=y", []string{oops.KindUBSAN, oops.KindKFENCE}, ""},
}

// TestE2ESanitizerConfigs: each sanitizer config builds (every option
// surviving olddefconfig) and boots on both arches with the memory its
// fragment asks for, and the guest's tests pass on it as on the default
// config (robust-unmap-remap fails on every 6.12 tree). A report of the
// sanitizer's own kinds is a finding in the clean tree, logged and
// allowed; any other kernel report, a timeout or a failing test is not.
func TestE2ESanitizerConfigs(t *testing.T) {
	_, results := e2e(t)
	for _, sz := range sanitizers {
		t.Run(sz.config, func(t *testing.T) {
			_, r, dir, _ := rig(t, "run", "--arch", "x86_64,arm64", "--config", sz.config, "--results", results, "--duration", "3s")
			if r == nil || len(r.Cells) != 2 {
				t.Fatalf("run %+v; want a cell per arch", r)
			}
			for _, c := range r.Cells {
				if c.Status != result.Pass && c.Status != result.Fail {
					t.Errorf("%s: %s (%s)", c.ID, c.Status, c.Cause)
					continue
				}
				mustFile(t, filepath.Join(dir, c.ID, "kernel.config"), sz.option)
				if sz.memory != "" && !strings.Contains(" "+strings.Join(c.QEMUArgv, " ")+" ", " -m "+sz.memory+" ") {
					t.Errorf("%s: QEMU %v; want -m %s from kconfigs/%s.config", c.ID, c.QEMUArgv, sz.memory, sz.config)
				}
				if len(c.Tests) < 5 {
					t.Errorf("%s: only %d tests ran: %+v", c.ID, len(c.Tests), c.Tests)
				}
				for _, tr := range c.Tests {
					switch {
					case tr.Status == "pass" || tr.Status == "skip" || tr.Name == "robust-unmap-remap":
					case tr.Name == "kselftest-futex" && onlyTimingSensitive(tr):
						// futex_requeue's waiters have 30 ms to block within a 10 ms
						// usleep: too little on a slowed kernel under TCG.
						t.Logf("%s: %s", c.ID, tr.Reason)
					default:
						t.Errorf("%s: test %s %s (%s)", c.ID, tr.Name, tr.Status, tr.Reason)
					}
				}
				for _, o := range c.Oopses {
					if !slices.Contains(sz.kinds, o.Kind) {
						t.Errorf("%s: kernel %s: %s (console.log:%d); want none but %v", c.ID, o.Kind, o.Title, o.Line, sz.kinds)
						continue
					}
					t.Logf("%s: found in the clean tree: %s (console.log:%d)", c.ID, o.Title, o.Line)
				}
			}
		})
	}
}

// TestE2EBreakPIUAF: patches/break-pi-uaf reads a pi_state after kfree().
// With the default config nothing notices: the tests pass and the kernel
// prints no report, so the run passes. With --config kasan the patched
// kernel reports the use-after-free, the KASAN base does not, and the run
// fails naming the report as what the series changed. Both arches.
func TestE2EBreakPIUAF(t *testing.T) {
	root, results := e2e(t)
	series := filepath.Join(root, "patches/break-pi-uaf")
	tests := "pi-consistency,pi-handover,pi-giveup"
	const title = "KASAN: slab-use-after-free Read in put_pi_state"

	t.Run("default", func(t *testing.T) {
		code, r, _, _ := rig(t, "run", "--arch", "x86_64,arm64", "--series", series, "--results", results, "--tests", tests, "--duration", "5s")
		if r == nil || code != 0 || r.Status != result.Pass {
			t.Fatalf("exit %d, run %+v; want a pass: the default config cannot see the bug", code, r)
		}
		for _, c := range r.Cells {
			if len(c.Oopses) > 0 || c.Status != result.Pass {
				t.Errorf("%s: %s (%s), reports %+v", c.ID, c.Status, c.Cause, c.Oopses)
			}
		}
	})
	t.Run("kasan", func(t *testing.T) {
		code, r, dir, _ := rig(t, "run", "--arch", "x86_64,arm64", "--config", "kasan", "--series", series, "--results", results, "--tests", tests, "--duration", "5s")
		if r == nil || code != ExitFail || r.Status != result.Fail || len(patchedCells(r)) != 2 {
			t.Fatalf("exit %d, run %+v; want a failure on both arches", code, r)
		}
		if want := "new kernel report (not seen without the series): " + title; !strings.Contains(r.Cause, want) {
			t.Errorf("cause %q; want it to say %q", r.Cause, want)
		}
		for _, c := range patchedCells(r) {
			b := baselineOf(t, r, c.Arch)
			if b.Status != result.Pass || len(b.Oopses) > 0 {
				t.Errorf("%s: KASAN base %s (%s), reports %+v; want a clean pass", c.Arch, b.Status, b.Cause, b.Oopses)
			}
			if len(c.Oopses) == 0 || c.Oopses[0].Kind != oops.KindKASAN || c.Oopses[0].Title != title {
				t.Errorf("%s: reports %+v; want %s first", c.ID, c.Oopses, title)
				continue
			}
			if !strings.HasPrefix(c.Cause, "kernel "+title) || c.Verdict != result.Fail {
				t.Errorf("%s: cause %q, verdict %s; want the report, failing", c.ID, c.Cause, c.Verdict)
			}
			console, err := os.ReadFile(filepath.Join(dir, c.ID, "console.log"))
			if err != nil {
				t.Fatal(err)
			}
			// A KASAN kernel has debug info: the report's first frame is
			// decoded to its line in pi.c, and the failing cell keeps the
			// vmlinux that decodes it.
			if at := c.Oopses[0].Where(); !strings.HasPrefix(at, "kernel/futex/pi.c:") || !strings.Contains(c.Cause, at) {
				t.Errorf("%s: report at %q, cause %q; want kernel/futex/pi.c:N in both", c.ID, at, c.Cause)
			}
			if _, err := os.Stat(filepath.Join(dir, c.ID, "vmlinux")); err != nil {
				t.Errorf("%s: failing cell keeps no vmlinux: %v", c.ID, err)
			}
			// The report is KASAN's own, with the free in put_pi_state.
			for _, want := range []string{"BUG: KASAN: slab-use-after-free in put_pi_state", "Freed by task", "kfree"} {
				if !strings.Contains(string(console), want) {
					t.Errorf("%s: console.log lacks %q", c.ID, want)
				}
			}
		}
	})
}

// onlyTimingSensitive reports whether every selftest kselftest-futex
// failed is one the guest names as timing-sensitive (a sleep standing in
// for "the waiters are asleep by now"), and there is at least one.
func onlyTimingSensitive(tr result.Test) bool {
	n := 0
	for _, v := range tr.Evidence {
		if strings.HasPrefix(v, "fail:") {
			if !strings.Contains(v, "timing-sensitive") {
				return false
			}
			n++
		}
	}
	return n > 0
}
