package report_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// Untrusted text the kernel under test could print: it must stay text.
const (
	evilCause  = `WARNING: at kernel/futex/core.c:42 <script>document.title='pwned';document.body.setAttribute('data-pwned','1')</script>`
	evilReason = `word changed: <img src=x onerror="document.body.setAttribute('data-pwned','2')"> & "quotes"`
)

var t0 = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)

// stages lays out a pipeline from the given (name, seconds) pairs, back to
// back from start.
func stages(start time.Time, spec ...any) []result.Stage {
	var out []result.Stage
	at := start
	for i := 0; i < len(spec); i += 2 {
		var secs float64
		switch v := spec[i+1].(type) {
		case int:
			secs = float64(v)
		case float64:
			secs = v
		}
		d := time.Duration(secs * float64(time.Second))
		s := result.Stage{Name: spec[i].(string), Start: at, Elapsed: d}
		if s.Name == "build" && d < time.Second {
			s.Cached = true
			s.Note = "kernel from the cache"
		}
		out = append(out, s)
		at = at.Add(d)
	}
	return out
}

// fixtureRun is a run with a cell of every status, labels, a statistical
// compare line, an oops and hostile text, saved with result.Save into a
// temporary run directory together with small log files. Cells that never
// booted have no console.log.
func fixtureRun(t *testing.T) (*result.Run, string) {
	t.Helper()
	full := func(at time.Time, build float64) []result.Stage {
		return stages(at, "source", 0.4, "apply", 0.3, "config", 2.0, "build", build, "pack", 1.5, "boot", 3.2, "tests", 21.0, "poweroff", 0.5)
	}
	r := &result.Run{
		ID:           "20261124-200000-abc123",
		Command:      []string{"rig", "run", "--series", "patches/robust-unlock", "--baseline"},
		Started:      t0,
		Finished:     t0.Add(6 * time.Minute),
		KernelSource: "debian:linux-source-6.12",
		Series:       "patches/robust-unlock",
		Configs:      []string{"base", "x86_64"},
		Seed:         42,
		Host:         result.Host{Hostname: "ci-7", Kernel: "6.12.48", CPUs: 2, GoVersion: "go1.26.8", GCC: "gcc (Debian 12.2.0-14) 12.2.0"},
		Cells: []result.Cell{
			{
				ID: "x86_64-kvm-base-baseline", Arch: "x86_64", Accel: "kvm", Config: "base+x86_64", Role: "baseline",
				Status: result.Fail, Cause: "robust-unmap-remap: OWNER_DIED set in unrelated data",
				Tests: []result.Test{
					{Name: "robust-unmap-remap", Status: "fail", Reason: "OWNER_DIED set in unrelated data", Evidence: map[string]string{"word": "0x40000123", "want": "0x00000123"}, Seed: 42, Seconds: 1.2},
					{Name: "kill-in-lock", Status: "pass", Seconds: 4},
					{Name: "pi-owner", Status: "pass", Seconds: 5},
				},
				Stages: full(t0, 0.01), KernelRelease: "6.12.48", Seed: 42,
			},
			{
				ID: "x86_64-kvm-base", Arch: "x86_64", Accel: "kvm", Config: "base+x86_64", Series: "patches/robust-unlock",
				Status: result.Fail, Cause: evilCause,
				Tests: []result.Test{
					{Name: "robust-unmap-remap", Status: "pass", Label: "fixed", Compare: "hits: patched 0/2000, baseline 37/2000 (Fisher p=1e-11)", Seconds: 10},
					{Name: "kill-in-lock", Status: "pass", Label: "passing", Seconds: 4},
					{Name: "pi-owner", Status: "fail", Label: "regressed", Reason: evilReason, Seconds: 5},
				},
				Oopses:   []result.Oops{{Kind: "WARNING", Title: evilCause, Line: 3}},
				Stages:   full(t0.Add(40*time.Second), 95),
				Patches:  []result.Patch{{Name: "0001-futex-robust-unlock.patch", Subject: "futex: add FUTEX_ROBUST_UNLOCK", State: "applied"}},
				QEMUArgv: []string{"qemu-system-x86_64", "-m", "512", "-append", "console=ttyS0 rig.seed=42"}, QEMUVersion: "QEMU emulator version 7.2.19",
				Cmdline: "console=ttyS0 rig.seed=42", Seed: 42, TreeID: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
				Reproduce: "reproduce.sh", Kept: []string{"bzImage", "initramfs.cpio"}, KeptBytes: 4 << 20,
			},
			{
				ID: "x86_64-tcg-debug", Arch: "x86_64", Accel: "tcg", Config: "base+x86_64+debug", Series: "patches/robust-unlock",
				Status: result.Pass,
				Tests: []result.Test{
					{Name: "robust-unmap-remap", Status: "pass", Seconds: 10},
					{Name: "kill-in-lock", Status: "pass", Seconds: 4},
					{Name: "pi-owner", Status: "pass", Seconds: 5},
					{Name: "kselftest:futex_requeue_pi", Status: "skip", Reason: "needs 4 CPUs"},
				},
				Stages: full(t0.Add(3*time.Minute), 130),
			},
			{
				ID: "arm64-tcg-base", Arch: "arm64", Accel: "tcg", Config: "base+arm64", Series: "patches/robust-unlock",
				Status: result.PatchError, Cause: "0002-futex-vdso.patch: arch/arm64/kernel/vdso/vdso.lds.S: hunk #2 FAILED at 88",
				Stages: stages(t0, "source", 0.4, "apply", 0.6),
			},
			{
				ID: "arm64-tcg-debug", Arch: "arm64", Accel: "tcg", Config: "base+arm64+debug", Series: "patches/robust-unlock",
				Status: result.BuildError, Cause: "kernel/futex/core.c:1234:5: error: implicit declaration of function 'futex_fixup_robust_unlock'",
				Stages: stages(t0, "source", 0.4, "apply", 0.6, "config", 2, "build", 61),
			},
			{
				ID: "x86_64-kvm-lockdep", Arch: "x86_64", Accel: "kvm", Config: "base+x86_64+lockdep", Series: "patches/robust-unlock",
				Status: result.BootError, Cause: "Kernel panic - not syncing: VFS: Unable to mount root fs",
				Stages: stages(t0.Add(time.Minute), "source", 0.4, "apply", 0.3, "config", 2, "build", 80, "pack", 1.5, "boot", 12),
			},
			{
				ID: "x86_64-tcg-kasan", Arch: "x86_64", Accel: "tcg", Config: "base+x86_64+kasan", Series: "patches/robust-unlock",
				Status: result.Timeout, Cause: "timed out after 5m0s in robust-natural",
				Tests: []result.Test{
					{Name: "robust-unmap-remap", Status: "pass"},
					{Name: "robust-natural", Status: "error", Reason: "guest exited without verdict"},
				},
				Stages: stages(t0.Add(2*time.Minute), "source", 0.4, "apply", 0.3, "config", 2, "build", 0.2, "pack", 1.5, "boot", 8, "tests", 300),
			},
			{
				ID: "arm64-kvm-base", Arch: "arm64", Accel: "kvm", Config: "base+arm64", Series: "patches/robust-unlock",
				Status: result.InfraError, Cause: "qemu-system-aarch64: failed to initialize kvm: No such file or directory",
				Stages: stages(t0, "source", 0.4, "apply", 0.3, "config", 2, "build", 70, "pack", 1.5, "boot", 0.3),
			},
			{
				ID: "x86_64-kvm-big", Arch: "x86_64", Accel: "kvm", Config: "base+x86_64+big", Series: "patches/robust-unlock",
				Status: result.Interrupted, Cause: "interrupted (context canceled)",
				Stages: stages(t0, "source", 0.4, "apply", 0.3, "config", 2, "build", 30),
			},
		},
	}
	r.Finish(r.Finished)
	dir := filepath.Join(t.TempDir(), r.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := result.Save(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Cells {
		cd := filepath.Join(dir, c.ID)
		if err := os.MkdirAll(cd, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		switch c.Status {
		case result.PatchError:
			// nothing but the apply log the stage keeps elsewhere
		case result.BuildError:
			files["build.log"] = "  CC      kernel/futex/core.o\n" + c.Cause + "\n"
		case result.Interrupted:
			files["build.log"] = "  CC      init/main.o\n"
		default:
			files["build.log"] = "  LD      vmlinux\n"
			files["kernel.config"] = "CONFIG_FUTEX=y\n"
			files["console.log"] = "[    0.000000] Linux version 6.12.48\n[    1.000000] Run /init as init process\n[    2.000000] " + c.Cause + "\n"
			files["dmesg.txt"] = "<6>[    0.000000] Linux version 6.12.48\n"
			files["events.jsonl"] = `{"ev":"done"}` + "\n"
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(cd, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r, dir
}
