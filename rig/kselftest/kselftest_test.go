package kselftest

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/source"
)

const runSh612 = `#!/bin/sh
if [ "$USE_COLOR" -eq 1 ]; then
    COLOR="-c"
fi
echo
# requeue pi testing
./futex_requeue_pi $COLOR
./futex_requeue_pi $COLOR -b -l -t 500000
echo
./futex_wait_timeout $COLOR
./futex_waitv $COLOR # a comment
`

func TestParseRunSh(t *testing.T) {
	got := ParseRunSh(strings.NewReader(runSh612))
	var s []string
	for _, c := range got {
		s = append(s, c.String())
	}
	want := []string{"futex_requeue_pi", "futex_requeue_pi -b -l -t 500000", "futex_wait_timeout", "futex_waitv"}
	if !slices.Equal(s, want) {
		t.Fatalf("ParseRunSh = %q, want %q", s, want)
	}
}

func TestRunList(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run.sh")
	os.WriteFile(p, []byte(runSh612), 0o644)
	got := runList(p, []string{"futex_requeue_pi", "futex_wait_timeout"}, map[string]string{"futex_waitv": "x.c:1: error: boom"})
	want := "# futex selftests, from functional/run.sh (one command line per line)\n" +
		"futex_requeue_pi\nfutex_requeue_pi -b -l -t 500000\nfutex_wait_timeout\n" +
		NotBuilt + "futex_waitv: x.c:1: error: boom\n"
	if got != want {
		t.Fatalf("runList:\n%s\nwant:\n%s", got, want)
	}
	// No run.sh: every built binary, no arguments.
	if got := runList(filepath.Join(t.TempDir(), "none"), []string{"a", "b"}, nil); !strings.HasSuffix(got, "\na\nb\n") {
		t.Fatalf("runList without run.sh: %q", got)
	}
}

func TestMakefileLibs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Makefile")
	os.WriteFile(p, []byte("INCLUDES := -I../include\nLDLIBS := -lpthread -lrt\nLDLIBS += -lnuma\n"), 0o644)
	if got := makefileLibs(p); !slices.Equal(got, []string{"-lpthread", "-lrt", "-lnuma"}) {
		t.Fatalf("makefileLibs = %q", got)
	}
}

// defaultTree is a checkout of the Debian tree `rig run` uses, kept in the
// cache's test directory (read only here: the build writes only to O= and
// the cache directory of the test).
func defaultTree(t *testing.T) string {
	dir, err := cache.Dir()
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tree, err := source.Default(ctx, dir, func(s string) { t.Log(s) })
	if err != nil {
		t.Skipf("no default kernel tree: %v", err)
	}
	w, err := tree.Checkout(ctx, cache.TestFixtures.Path(dir, "kselftest-src"))
	if err != nil {
		t.Fatal(err)
	}
	return w.Dir
}

// snapshot lists the tree's entries under a few directories with their
// modification times, to prove the build wrote nothing into it.
func snapshot(t *testing.T, src string) string {
	var b strings.Builder
	for _, d := range []string{".", "tools/testing/selftests/futex", "tools/testing/selftests/futex/functional", "include", "usr", "scripts", "arch/x86", "arch/arm64"} {
		ents, _ := os.ReadDir(filepath.Join(src, d))
		for _, e := range ents {
			if info, err := e.Info(); err == nil {
				b.WriteString(d + "/" + e.Name() + " " + info.ModTime().String() + "\n")
			}
		}
	}
	return b.String()
}

func TestBuildReal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kernel's futex selftests (about 15 s)")
	}
	src := defaultTree(t)
	before := snapshot(t, src)
	cacheDir := t.TempDir()
	for _, name := range []string{"x86_64", "arm64"} {
		t.Run(name, func(t *testing.T) {
			a, _ := arch.Lookup(name)
			buildDir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var log bytes.Buffer
			start := time.Now()
			bins, err := Build(ctx, a, src, buildDir, cacheDir, &log)
			if err != nil {
				t.Fatalf("Build: %v\n%s", err, log.String())
			}
			t.Logf("%s: cold build %v", name, time.Since(start))
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.HasPrefix(l, "kselftest: headers") || strings.HasPrefix(l, "kselftest: compiled") || strings.Contains(l, "warning: futex") {
					t.Log(l)
				}
			}
			want := []string{"futex_requeue", "futex_requeue_pi", "futex_requeue_pi_mismatched_ops", "futex_requeue_pi_signal_restart",
				"futex_wait", "futex_wait_private_mapped_file", "futex_wait_timeout", "futex_wait_uninitialized_heap",
				"futex_wait_wouldblock", "futex_waitv"}
			for _, w := range want {
				p, ok := bins[w]
				if !ok {
					t.Errorf("%s not built", w)
					continue
				}
				f, err := elf.Open(p)
				if err != nil {
					t.Errorf("%s: %v", w, err)
					continue
				}
				if f.Machine != machineOf(a) || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
					t.Errorf("%s: machine %v type %v", w, f.Machine, f.Type)
				}
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP {
						t.Errorf("%s is not static", w)
					}
				}
				f.Close()
			}
			files := ImageFiles(bins)
			list, err := os.ReadFile(files[ImageDir+"/"+RunList])
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(list)), "\n")
			if len(lines) != 30 || lines[1] != "futex_requeue_pi" || lines[9] != "futex_requeue_pi -b -l -t 500000" || lines[29] != "futex_waitv" {
				t.Errorf("run.list:\n%s", list)
			}
			if len(files) != len(bins)+1 {
				t.Errorf("ImageFiles: %d entries for %d binaries", len(files), len(bins))
			}

			// Second call: cached, no make, no compiler.
			calls := compilerCalls.Load()
			log.Reset()
			start = time.Now()
			again, err := Build(ctx, a, src, buildDir, cacheDir, &log)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: cached build %v", name, time.Since(start))
			if n := compilerCalls.Load() - calls; n != 0 {
				t.Errorf("cached Build ran make or the compiler %d times:\n%s", n, log.String())
			}
			if !strings.Contains(log.String(), "cached") || len(again) != len(bins) {
				t.Errorf("second Build not reported cached (%d binaries):\n%s", len(again), log.String())
			}

			// The headers are current: a fresh cache rebuilds without make.
			calls = compilerCalls.Load()
			log.Reset()
			if _, err := Build(ctx, a, src, buildDir, t.TempDir(), &log); err != nil {
				t.Fatal(err)
			}
			if n := compilerCalls.Load() - calls; n != int64(len(want)) {
				t.Errorf("rebuild with current headers: %d calls, want %d (compiles only):\n%s", n, len(want), log.String())
			}
		})
	}
	if after := snapshot(t, src); after != before {
		t.Errorf("the build wrote into the source tree %s", src)
	}
}
