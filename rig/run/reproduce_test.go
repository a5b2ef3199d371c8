package run

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	archpkg "github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/kbuild"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

var update = flag.Bool("update", false, "rewrite testdata/reproduce-*.sh from the current output")

// TestReproduceScriptGolden: the script of an x86_64 and an arm64 boot, as
// the rig would boot them, against testdata/reproduce-<arch>.sh.
func TestReproduceScriptGolden(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			a, _ := archpkg.Lookup(arch)
			cfg := machine.Config{Arch: arch, Accel: "tcg", CPUs: 2, MemoryMB: 512,
				Kernel: "/cache/kernels/k/" + filepath.Base(a.Image), Initramfs: "/cache/images/i/initramfs.cpio",
				Cmdline: "rig.seed=42 rig.duration=3s rig.tests=robust-unmap-remap"}
			argv, err := reproduceArgv(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := script{Run: "20261207-120000-abcdef", Cell: arch, Arch: arch, Argv: argv, Kernel: filepath.Base(a.Image), Initramfs: keptInitramfs,
				KernelFrom: cfg.Kernel, InitramfsFrom: "/cache/images/it's here/initramfs.cpio", Timeout: 183 * time.Second}
			got := s.render()
			path := filepath.Join("testdata", "reproduce-"+arch+".sh")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./rig/run -run ReproduceScriptGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("reproduce.sh differs from %s (-update rewrites it):\n%s", path, got)
			}
			// What makes it a replay without the rig, whatever the golden says.
			for _, bad := range []string{" -S ", "-qmp", "socket,"} {
				if strings.Contains(got, bad) {
					t.Errorf("script has %q: it needs the rig", bad)
				}
			}
			for _, want := range []string{"rig.seed=42 rig.duration=3s rig.tests=robust-unmap-remap", `-kernel "$kernel"`, `-initrd "$initrd"`,
				"stdio,id=con", `file,id=ev,path="$events"`, "timeout --foreground -k 10 183s"} {
				if !strings.Contains(got, want) {
					t.Errorf("script lacks %q", want)
				}
			}
		})
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"-M":                           "-M",
		"":                             "''",
		"a b":                          "'a b'",
		"it's":                         `'it'\''s'`,
		varKernel:                      `"$kernel"`,
		"file,id=ev,path=" + varEvents: `file,id=ev,path="$events"`,
		"x y" + varEvents + "/z w":     `'x y'"$events"'/z w'`,
		"$HOME":                        `'$HOME'`,
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}

// keepEnv is a fakeEnv whose kernel (in the kernel cache, with a vmlinux
// beside it unless noVmlinux) and initramfs are real files.
type keepEnv struct {
	*fakeEnv
	dir       string
	noVmlinux bool
}

func (e *keepEnv) CachedKernel(c *cell, treeID string) (kbuild.Kernel, bool) {
	e.call("cached")
	k := filepath.Join(e.dir, "kernels", "k1")
	os.MkdirAll(k, 0o755)
	img := filepath.Base(c.arch.Image)
	os.WriteFile(filepath.Join(k, img), []byte("kernel image"), 0o644)
	if !e.noVmlinux && img != "vmlinux" {
		os.WriteFile(filepath.Join(k, "vmlinux"), []byte("ELF vmlinux"), 0o644)
	}
	return kbuild.Kernel{Key: "k1", Dir: k, Image: filepath.Join(k, img), BuildID: "rig-fake"}, true
}

func (e *keepEnv) Pack(ctx context.Context, c *cell, selftests map[string]string) (*initramfs.Image, error) {
	p := filepath.Join(e.dir, "images", "initramfs.cpio")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("cpio"), 0o644)
	return &initramfs.Image{Path: p, Size: 4}, e.call("pack")
}

// TestKeep: a cell that did not pass keeps its kernel, initramfs and
// vmlinux beside its results as hard links (the cache's copies can go); a
// passing cell keeps them only with KeepKernel; every booted cell has its
// reproduce.sh, and a cell that never booted has none. arm64 boots Image,
// x86_64 vmlinux itself: kept once.
func TestKeep(t *testing.T) {
	for _, tc := range []struct {
		name      string
		arch      string
		env       *fakeEnv
		keep      bool
		noVmlinux bool
		script    bool
		kept      string
	}{
		{name: "failing", env: &fakeEnv{events: testEvents("fail", "lost"), outcome: poweredOff}, script: true, kept: "Image initramfs.cpio vmlinux"},
		{name: "failing, x86_64", arch: "x86_64", env: &fakeEnv{events: testEvents("fail", "lost"), outcome: poweredOff}, script: true, kept: "vmlinux initramfs.cpio"},
		{name: "no guest verdict", env: &fakeEnv{outcome: machine.Outcome{Shutdown: machine.GuestReset, Exit: machine.Exited(0)}}, script: true, kept: "Image initramfs.cpio vmlinux"},
		{name: "failing, a kernel cached without its vmlinux", env: &fakeEnv{events: testEvents("fail", "lost"), outcome: poweredOff}, noVmlinux: true, script: true, kept: "Image initramfs.cpio"},
		{name: "passing", env: &fakeEnv{events: testEvents("pass", ""), outcome: poweredOff}, script: true},
		{name: "passing with KeepKernel", env: &fakeEnv{events: testEvents("pass", ""), outcome: poweredOff}, keep: true, script: true, kept: "Image initramfs.cpio vmlinux"},
		{name: "never booted", env: &fakeEnv{badSeries: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.arch == "" {
				tc.arch = "arm64"
			}
			env := &keepEnv{fakeEnv: tc.env, dir: t.TempDir(), noVmlinux: tc.noVmlinux}
			c := newArchCell(t, env, Options{KeepKernel: tc.keep}, tc.arch, []string{"pi-giveup"}, []patch.Patch{{Name: "0001-x.patch"}})
			c.execute(context.Background(), nil)
			if got := strings.Join(c.res.Kept, " "); got != tc.kept {
				t.Fatalf("kept %q, want %q (status %s: %s)", got, tc.kept, c.res.Status, c.res.Cause)
			}
			var size int64
			for _, name := range c.res.Kept {
				src := filepath.Join(env.dir, "kernels", "k1", name)
				if name == keptInitramfs {
					src = filepath.Join(env.dir, "images", name)
				}
				a, err1 := os.Stat(src)
				b, err2 := os.Stat(filepath.Join(c.dir, name))
				if err1 != nil || err2 != nil || !os.SameFile(a, b) {
					t.Errorf("%s is not a hard link of %s: %v %v", name, src, err1, err2)
					continue
				}
				size += b.Size()
			}
			if c.res.KeptBytes != size {
				t.Errorf("kept_bytes %d, want %d", c.res.KeptBytes, size)
			}
			defer func() { // the cache pruned: what was kept stays
				os.RemoveAll(env.dir)
				for _, name := range c.res.Kept {
					if b, err := os.ReadFile(filepath.Join(c.dir, name)); err != nil || len(b) == 0 {
						t.Errorf("%s lost with the cache: %v", name, err)
					}
				}
			}()
			st, err := os.Stat(filepath.Join(c.dir, ReproduceScript))
			if !tc.script {
				if err == nil || c.res.Reproduce != "" {
					t.Errorf("a cell that never booted has a %s (%q)", ReproduceScript, c.res.Reproduce)
				}
				return
			}
			if err != nil || st.Mode()&0o100 == 0 || c.res.Reproduce != ReproduceScript {
				t.Fatalf("%s: %v, mode %v, recorded %q", ReproduceScript, err, st.Mode(), c.res.Reproduce)
			}
			b, _ := os.ReadFile(filepath.Join(c.dir, ReproduceScript))
			img := filepath.Base(c.arch.Image)
			for _, want := range []string{`kernel="$here/` + img + `"`, "kernel=" + filepath.Join(env.dir, "kernels", "k1", img), "rig.seed=7"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s lacks %q", ReproduceScript, want)
				}
			}
			saved, err := result.Load(c.rec.dir)
			if err != nil || strings.Join(saved.Cells[0].Kept, " ") != tc.kept {
				t.Errorf("run.json: %v, kept %v", err, saved)
			}
		})
	}
}

// TestReusedBaseReplay: a base served from kept results writes the script
// of the boot those results came from, on this cell's kernel and image;
// an entry kept before entries recorded their machine is booted again.
func TestReusedBaseReplay(t *testing.T) {
	dir := t.TempDir()
	kern, initrd := filepath.Join(dir, "bzImage"), filepath.Join(dir, "initramfs.cpio")
	os.WriteFile(kern, []byte("kernel"), 0o644)
	os.WriteFile(initrd, []byte("cpio"), 0o644)
	entry := filepath.Join(dir, "base.json")
	write := func(e baseEntry) {
		b, _ := json.Marshal(e)
		if err := os.WriteFile(entry, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := baseEntry{Boots: 1, Accel: "tcg", Status: result.Fail, Cause: "test a failed", Tests: []result.Test{{Name: "a", Status: "fail"}}}
	write(old)
	c := newTestCell(t, &fakeEnv{}, Options{}, []string{"pi-giveup"}, []patch.Patch{})
	if c.reuseBase(entry, kern, initrd) {
		t.Fatal("an entry without its machine was reused: its cell could not be replayed")
	}
	booted := machine.Config{Arch: "x86_64", Accel: "tcg", CPUs: 2, MemoryMB: 512, Kernel: "/gone/bzImage", Initramfs: "/gone/initramfs.cpio",
		Cmdline: "rig.seed=99 rig.duration=1s rig.tests=a", RunTimeout: time.Minute}
	old.Machine = &booted
	write(old)
	if !c.reuseBase(entry, kern, initrd) {
		t.Fatal("a settled entry was not reused")
	}
	b, err := os.ReadFile(filepath.Join(c.dir, ReproduceScript))
	if err != nil || c.res.Reproduce != ReproduceScript {
		t.Fatalf("no script: %v", err)
	}
	for _, want := range []string{"rig.seed=99 rig.duration=1s rig.tests=a", "kernel=" + kern, "initrd=" + initrd, "timeout --foreground -k 10 60s"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if strings.Join(c.res.Kept, " ") != "vmlinux initramfs.cpio" { // x86_64's image is vmlinux
		t.Errorf("a failing reused base kept %v", c.res.Kept)
	}
}
