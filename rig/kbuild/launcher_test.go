package kbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// compileVia assembles p.S (which .incbins pay.bin) through launcher, with
// ccache in the rig's depend mode, and returns what the object embeds.
func compileVia(t *testing.T, dir, ccdir string, launcher ...string) string {
	t.Helper()
	args := append(append([]string{}, launcher...), "gcc", "-Wp,-MMD,.p.o.d", "-c", "p.S", "-o", "p.o")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(CCacheEnv, "CCACHE_DIR="+ccdir, "CCACHE_LOGFILE="+filepath.Join(dir, "ccache.log"))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	out, err := exec.Command("objcopy", "-O", "binary", "--only-section=.rodata", filepath.Join(dir, "p.o"), "/dev/stdout").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// The mechanism behind the stale bzImage: an assembler file that .incbins a
// binary keeps its text when the binary changes. Through the launcher the
// object always embeds the current binary; ordinary sources still hit.
func TestLauncherNeverServesAStaleIncbin(t *testing.T) {
	for _, tool := range []string{"ccache", "gcc", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("no " + tool)
		}
	}
	t.Setenv("RIG_CACHE", t.TempDir())
	launcher, err := Launcher()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Launcher(); err != nil || again != launcher {
		t.Fatalf("second Launcher() = %q, %v", again, err)
	}
	dir, ccdir := t.TempDir(), t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p.S", ".section .rodata\n.incbin \"pay.bin\"\n")
	write("pay.bin", "OLD1")
	if got := compileVia(t, dir, ccdir, launcher); got != "OLD1" {
		t.Fatalf("first compile embeds %q", got)
	}
	write("pay.bin", "NEW2")
	if got := compileVia(t, dir, ccdir, launcher); got != "NEW2" {
		t.Fatalf("through the launcher, the object embeds %q after the payload changed to NEW2", got)
	}
	// What ccache alone does here (4.7 in depend mode serves OLD1; newer
	// ones detect .incbin): logged, since it depends on the ccache version.
	write("pay.bin", "OLD1")
	compileVia(t, dir, ccdir, "ccache")
	write("pay.bin", "NEW2")
	t.Logf("plain ccache in depend mode after the payload changed: the object embeds %q", compileVia(t, dir, ccdir, "ccache"))

	// An ordinary source still goes through ccache: the second compile hits.
	write("c.c", "int f(void) { return 42; }\n")
	for i := 0; i < 2; i++ {
		os.Remove(filepath.Join(dir, "ccache.log"))
		cmd := exec.Command(launcher, "gcc", "-Wp,-MMD,.c.o.d", "-c", "c.c", "-o", "c.o")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append(CCacheEnv, "CCACHE_DIR="+ccdir, "CCACHE_LOGFILE="+filepath.Join(dir, "ccache.log"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "ccache.log"))
	if !strings.Contains(string(log), "direct_cache_hit") {
		t.Fatalf("an ordinary source did not hit ccache through the launcher:\n%s", log)
	}
}
