package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EInstalledBinary: a rig installed as a tool works from a directory
// outside any checkout, with RIG_ROOT unset: `rig tests`, `rig setup
// --check` and a one-test run, whose guest image is built from the sources
// the binary carries (the old rig found a checkout from where it was
// compiled), and whose results go to the state directory, not the working
// directory. Both ways the README shows: `go install` (here with -trimpath,
// so the binary holds no path into the checkout at all) and a plain
// `go build -o`.
func TestE2EInstalledBinary(t *testing.T) {
	root, _ := e2e(t)
	for _, way := range []struct {
		name string
		argv func(gobin string) []string
	}{
		{"go-install-trimpath", func(string) []string { return []string{"go", "install", "-trimpath", "./cmd/rig"} }},
		{"go-build", func(gobin string) []string {
			return []string{"go", "build", "-o", filepath.Join(gobin, "rig"), "./cmd/rig"}
		}},
	} {
		t.Run(way.name, func(t *testing.T) {
			gobin := t.TempDir()
			argv := way.argv(gobin)
			build := exec.Command(argv[0], argv[1:]...)
			build.Dir = root
			build.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
			}
			bin := filepath.Join(gobin, "rig")
			if way.name == "go-install-trimpath" {
				if b, err := os.ReadFile(bin); err != nil || bytes.Contains(b, []byte(root)) {
					t.Fatalf("the installed binary names the checkout %s (or cannot be read: %v)", root, err)
				}
			}
			runInstalled(t, root, bin)
		})
	}
}

// runInstalled runs bin from a temporary directory and checks what it did.
func runInstalled(t *testing.T, root, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cwd, state := t.TempDir(), t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RIG_ROOT=") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "XDG_STATE_HOME="+state, "CI=true")
	rigBin := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = cwd, env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("rig %s: %v", strings.Join(args, " "), err)
		}
		t.Logf("rig %s: exit %d in %s\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), lastN(string(out), 30))
		return code, string(out)
	}

	if code, out := rigBin("tests"); code != 0 || !strings.Contains(out, "robust-owner-death") {
		t.Errorf("rig tests: exit %d", code)
	}
	if code, out := rigBin("setup", "--check"); code != 0 || !strings.Contains(out, "ok   go ") {
		t.Errorf("rig setup --check: exit %d", code)
	}
	code, out := rigBin("run", "--arch", "x86_64", "--tests", "robust-owner-death", "--duration", "2s")
	if code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("rig run from %s: exit %d, want a pass", cwd, code)
	}

	// Results: in the state directory, and nothing in the working directory.
	dir := ""
	for _, l := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(l, "results: "); ok {
			dir = d
		}
	}
	if filepath.Dir(dir) != filepath.Join(state, "rig", "results") {
		t.Errorf("results in %q, want a run directory in $XDG_STATE_HOME/rig/results", dir)
	}
	if left, _ := os.ReadDir(cwd); len(left) != 0 {
		t.Errorf("the run left %d entries in the working directory", len(left))
	}
	r, err := result.Load(dir)
	if err != nil || len(r.Cells) != 1 {
		t.Fatalf("run.json: %v", err)
	}

	// The image booted is the one built from sources the binary unpacked
	// into the cache: a go.mod written from its build information, and the
	// checkout's guest files.
	cacheDir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := arch.Lookup("x86_64")
	booted := filepath.Base(filepath.Dir(r.Cells[0].Initramfs))
	sourcesDir := filepath.Dir(cache.RigSources.Path(cacheDir, strings.Repeat("0", 24))) // the kind's directory
	mods, _ := filepath.Glob(filepath.Join(sourcesDir, "*", "go.mod"))
	from := ""
	for _, m := range mods {
		b, err := os.ReadFile(m)
		if err != nil || !bytes.HasPrefix(b, []byte(initramfs.GeneratedHeader)) {
			continue
		}
		if key, err := (initramfs.Builder{Root: filepath.Dir(m), Cache: cacheDir}).Key(ctx, a, false); err == nil && cache.Images.Path(cacheDir, a.Name, key) == filepath.Dir(r.Cells[0].Initramfs) {
			from = filepath.Dir(m)
		}
	}
	if from == "" {
		t.Fatalf("the booted image %s was built from no sources a binary unpacked (%d candidates)", booted, len(mods))
	}
	t.Logf("booted %s, built from %s", booted, from)
	for _, f := range []string{"guest/cmd/rig-guest/main.go", "guest/futex/futex.go", "kconfigs/base.config"} {
		want, _ := os.ReadFile(filepath.Join(root, f))
		got, err := os.ReadFile(filepath.Join(from, f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s in %s differs from the checkout's (%v)", f, from, err)
		}
	}
}
