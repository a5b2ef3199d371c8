package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/catalog"
	"github.com/rig-kernel/rig/guest/config"
	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress/child"
)

func TestMain(m *testing.M) {
	child.Main(helpers()...)
	os.Exit(m.Run())
}

// The guest has code for every catalog entry, in the catalog's order, and
// no test the catalog does not name.
func TestCatalogBound(t *testing.T) {
	var got []catalog.Test
	for _, tt := range tests {
		if tt.Run == nil {
			t.Errorf("%s has no code", tt.Name)
		}
		got = append(got, tt.Test)
	}
	if !slices.Equal(got, catalog.All()) {
		t.Errorf("the guest's tests:\n%v\nthe catalog:\n%v", got, catalog.All())
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// The guest must build as a static ELF for both guest architectures.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest twice")
	}
	gobin := goTool()
	for _, arch := range []struct {
		goarch  string
		machine elf.Machine
	}{{"amd64", elf.EM_X86_64}, {"arm64", elf.EM_AARCH64}} {
		t.Run(arch.goarch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rig-guest")
			cmd := exec.Command(gobin, "build", "-o", out, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.goarch)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, b)
			}
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != arch.machine {
				t.Errorf("machine %v, want %v", f.Machine, arch.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("has PT_INTERP: not static")
				}
				if p.Type == elf.PT_DYNAMIC {
					t.Errorf("has PT_DYNAMIC: not static")
				}
			}
			st, _ := os.Stat(out)
			t.Logf("%s: %d bytes", arch.goarch, st.Size())
		})
	}
}

// The ordinary-program mode speaks the protocol on stdout.
func TestHostRun(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "rig-guest")
	if b, err := exec.Command(goTool(), "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, "-tests", "robust-owner-death,nosuch", "-seed", "9")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v (want 1 for the unknown test)\n%s", err, stderr.String())
	}
	d := event.NewDecoder(bufio.NewReader(&stdout))
	var got []string
	for {
		e, _, err := d.Next()
		if err != nil {
			break
		}
		switch e.Ev {
		case event.Progress: // as many as the test likes
		case event.Result:
			got = append(got, e.Test+"="+e.Status)
		default:
			got = append(got, e.Ev)
		}
	}
	want := "hello,log,start,robust-owner-death=pass,start,nosuch=error,done"
	if strings.Join(got, ",") != want {
		t.Errorf("events %s\nwant   %s\nstderr:\n%s", strings.Join(got, ","), want, stderr.String())
	}
	if !strings.Contains(stderr.String(), "robust-owner-death: PASS") {
		t.Errorf("no console line:\n%s", stderr.String())
	}
}

// The default watchdog lets a hung test reach its own timeout and be
// reported (a natural test's is duration + 60 s); rig.watchdog= wins.
func TestWatchdogAfterTestTimeouts(t *testing.T) {
	cfg, err := config.Parse("rig.tests=robust-unmap-remap,robust-owner-death rig.duration=3s")
	if err != nil {
		t.Fatal(err)
	}
	s := session{cfg: cfg}
	// 3s+60s and 60s, each with the runner's 10s grace, then a minute.
	if got, want := s.watchdog(), 203*time.Second; got != want {
		t.Errorf("default watchdog %v, want %v", got, want)
	}
	cfg.Watchdog = 30 * time.Second
	if got := (&session{cfg: cfg}).watchdog(); got != 30*time.Second {
		t.Errorf("rig.watchdog=30s gave %v", got)
	}
}
