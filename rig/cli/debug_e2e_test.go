package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// writes is a writer that hands each write to a channel: the UI writes a
// line at a time, and the test reads them while the rig runs.
type writes chan string

func (w writes) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// gdbLine is the command line rig boot --gdb prints.
var gdbLine = regexp.MustCompile(`gdb: gdb-multiarch -q (\S+) -ex 'target remote localhost:(\d+)'`)

// TestE2EBootGDB: rig boot --gdb builds the tree with debug info (the
// kernel cache's after the first time), waits paused under a gdb stub,
// longer than its boot and run timeouts, and prints the gdb command line;
// gdb-multiarch in batch mode, driven from that line, stops at a
// breakpoint in futex_wait with its source file known, and after gdb
// detaches the guest runs its test to a pass. Both arches. (Before TestE2ESymbolize: it keeps the debuginfo base kernel's
// vmlinux while the build slot still holds it.)
func TestE2EBootGDB(t *testing.T) {
	_, results := e2e(t)
	if _, err := exec.LookPath("gdb-multiarch"); err != nil {
		t.Fatal("gdb-multiarch is missing: rig setup installs it")
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
			defer cancel()
			var stdout bytes.Buffer
			var stderr strings.Builder
			errw := make(writes, 100)
			code := make(chan int, 1)
			go func() {
				code <- Execute(ctx, []string{"boot", "--gdb", "--arch", arch, "--kernel-src", "debian", "--results", results,
					"--tests", "robust-owner-death", "--duration", "2s", "--boot-timeout", "5s", "--run-timeout", "8s"}, &stdout, errw)
				close(errw)
			}()
			var m []string
			for m == nil {
				l, ok := <-errw
				if !ok {
					t.Fatalf("rig boot --gdb ended (exit %d) without printing a gdb command line:\n%s", <-code, stderr.String())
				}
				stderr.WriteString(l)
				m = gdbLine.FindStringSubmatch(l)
			}
			vmlinux, port := m[1], m[2]
			drained := make(chan struct{})
			go func() {
				for l := range errw {
					stderr.WriteString(l)
				}
				close(drained)
			}()
			// The vmlinux is the kernel cache's, beside a config with DWARF.
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(vmlinux), "kernel.config")); err != nil || !bytes.Contains(b, []byte("\nCONFIG_DEBUG_INFO=y\n")) {
				t.Errorf("%s is not beside a kernel.config with CONFIG_DEBUG_INFO=y (%v)", vmlinux, err)
			}

			// The machine waits for gdb past its boot and run timeouts (a
			// human reads the line and starts gdb): then gdb stops it in the
			// futex code, shows where, and lets the guest go on.
			time.Sleep(10 * time.Second)
			start := time.Now()
			gctx, gcancel := context.WithTimeout(ctx, 10*time.Minute)
			defer gcancel()
			out, err := exec.CommandContext(gctx, "gdb-multiarch", "-q", "-batch", "-nx", vmlinux,
				"-ex", "set pagination off",
				"-ex", "target remote localhost:"+port,
				"-ex", "hbreak futex_wait",
				"-ex", "continue",
				"-ex", "bt 3",
				"-ex", "info line *$pc",
				"-ex", "delete",
				"-ex", "detach").CombinedOutput()
			t.Logf("gdb (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Errorf("gdb: %v", err)
			}
			for _, want := range []string{`hit (?:Hardware assisted )?[Bb]reakpoint 1, futex_wait \(`, `at \S*kernel/futex/waitwake\.c:\d+`,
				`#1 .* do_futex \(`, `Line \d+ of "\S*kernel/futex/waitwake\.c"`, `detached`} {
				if !regexp.MustCompile(want).Match(out) {
					t.Errorf("gdb's output does not match %q", want)
				}
			}

			if t.Failed() {
				cancel() // a machine under gdb has no timeout: stop it
			}
			c := <-code
			<-drained
			if t.Failed() {
				t.FailNow()
			}
			t.Logf("rig boot --gdb: exit %d\n%s\n%s", c, stdout.String(), lastN(stderr.String(), 30))
			if c != 0 {
				t.Fatalf("exit %d after gdb detached, want the guest's pass", c)
			}
			dir := ""
			for _, l := range strings.Split(stdout.String(), "\n") {
				if d, ok := strings.CutPrefix(l, "results: "); ok {
					dir = d
				}
			}
			r, err := result.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			cell := r.Cells[0]
			if !strings.Contains(cell.Config, "debuginfo") || !strings.Contains(cell.Cmdline, "nokaslr") || len(cell.Tests) != 1 || cell.Tests[0].Status != "pass" {
				t.Errorf("cell config %q cmdline %q tests %+v", cell.Config, cell.Cmdline, cell.Tests)
			}
			if i := strings.Index(strings.Join(cell.QEMUArgv, " "), "-gdb tcp:127.0.0.1:"+port); i < 0 {
				t.Errorf("QEMU argv has no gdb stub on port %s: %v", port, cell.QEMUArgv)
			}
		})
	}
}

// TestE2ESymbolize: the WARN of patches/warn-on-owner-death, built with
// --symbolize, is decoded to file:line: the cause names
// kernel/futex/core.c:NNN, junit.xml has the decoded stack and the
// symbolize stage's time is the cost of decoding. x86_64, then arm64
// (its own cross addr2line).
func TestE2ESymbolize(t *testing.T) {
	root, results := e2e(t)
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			code, r, dir, _ := rig(t, "run", "--arch", arch, "--series", filepath.Join(root, "patches/warn-on-owner-death"), "--symbolize",
				"--baseline=false", "--results", results, "--tests", "robust-owner-death", "--duration", "3s")
			if r == nil || code != 1 || r.Status != result.Fail {
				t.Fatalf("exit %d, run %+v", code, r)
			}
			c := patched(t, r)
			if !strings.Contains(c.Config, "debuginfo") {
				t.Errorf("--symbolize did not add the debuginfo fragment: config %q", c.Config)
			}
			where := regexp.MustCompile(`kernel WARNING in handle_futex_death at kernel/futex/core\.c:\d+ \(console\.log:\d+\)`)
			if !where.MatchString(c.Cause) {
				t.Errorf("cause %q does not name the WARN's file:line", c.Cause)
			}
			if len(c.Oopses) == 0 || len(c.Oopses[0].Stack) < 2 {
				t.Fatalf("oopses %+v: no stack", c.Oopses)
			}
			st, ok := stage(c, "symbolize")
			if !ok {
				t.Fatalf("no symbolize stage: %+v", c.Stages)
			}
			t.Logf("symbolize: %s for %d report(s) (%s); stack:", st.Elapsed.Round(time.Millisecond), len(c.Oopses), st.Note)
			decoded := 0
			for _, f := range c.Oopses[0].Stack {
				t.Logf("  %s", f)
				if f.File != "" {
					decoded++
				}
			}
			if decoded < 2 {
				t.Errorf("only %d frames decoded", decoded)
			}
			b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`at kernel/futex/core\.c:\d+ \(console\.log:\d+\)&#xA;  `).Match(b) ||
				!regexp.MustCompile(`handle_futex_death\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/futex/core\.c:\d+`).Match(b) {
				t.Errorf("junit.xml lacks the decoded stack:\n%s", b)
			}
		})
	}
}
