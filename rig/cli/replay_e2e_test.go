package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/result"
)

// reproduce runs a cell's reproduce.sh as a user would, with sh from the
// directory it is in (env added to the rig's), and returns its exit
// status and output.
func reproduce(t *testing.T, cellDir string, env ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "reproduce.sh")
	cmd.Dir = cellDir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("sh reproduce.sh in %s: %v", cellDir, err)
	}
	t.Logf("sh %s/reproduce.sh: exit %d in %s\nstderr:\n%s", cellDir, code, time.Since(start).Round(time.Millisecond), lastN(stderr.String(), 10))
	return code, stdout.String(), stderr.String()
}

// scriptVerdict is the exit status a cell's reproduce.sh must give for the
// cell's verdict: 1 when a test failed or erred, 0 when it passed.
func scriptVerdict(t *testing.T, c result.Cell) int {
	t.Helper()
	for _, tr := range c.Tests {
		if tr.Status == "fail" || tr.Status == "error" {
			return 1
		}
	}
	if c.Status != result.Pass {
		t.Fatalf("cell %s is %s (%s) with no failing test: not a cell this test expects", c.ID, c.Status, c.Cause)
	}
	return 0
}

// TestE2EReproduce: a real run with a failing cell per arch (6.12 has the
// unmap/remap race) and one with a passing cell, no build (the default
// config's kernels are cached). Each cell's reproduce.sh, run with sh and
// no rig, boots the kernel again, shows the console, and exits with the
// cell's verdict; a failing cell's script works from a copy of its
// directory, because it keeps what it booted.
func TestE2EReproduce(t *testing.T) {
	_, results := e2e(t)
	code, failRun, failDir, _ := rig(t, "run", "--arch", "x86_64,arm64", "--results", results, "--tests", "robust-unmap-remap", "--duration", "3s")
	if failRun == nil || code != ExitFail || len(failRun.Cells) != 2 {
		t.Fatalf("the base tree's unmap/remap run: exit %d, run %+v", code, failRun)
	}
	code, passRun, passDir, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--tests", "robust-owner-death", "--duration", "2s")
	if passRun == nil || code != ExitPass {
		t.Fatalf("the owner-death run: exit %d, run %+v", code, passRun)
	}
	mustFile(t, filepath.Join(failDir, "summary.md"), "\nsh x86_64/reproduce.sh\n")
	mustFile(t, filepath.Join(failDir, "summary.md"), "\nsh arm64/reproduce.sh\n")

	type job struct {
		c   result.Cell
		dir string
	}
	var jobs []job
	for _, c := range failRun.Cells {
		jobs = append(jobs, job{c, filepath.Join(failDir, c.ID)})
	}
	jobs = append(jobs, job{passRun.Cells[0], filepath.Join(passDir, passRun.Cells[0].ID)})
	for _, j := range jobs {
		c, dir := j.c, j.dir
		want := scriptVerdict(t, c)
		a, err := arch.Lookup(c.Arch)
		if err != nil {
			t.Fatal(err)
		}
		image := filepath.Base(a.Image)
		if c.Reproduce != "reproduce.sh" {
			t.Errorf("%s: run.json names no reproduce.sh (%q)", c.ID, c.Reproduce)
		}
		if want != 0 {
			// What it booted is kept beside it, so the cache can go.
			if !slices.Contains(c.Kept, image) || !slices.Contains(c.Kept, "initramfs.cpio") || c.KeptBytes == 0 {
				t.Errorf("%s did not pass and kept %v (%d bytes)", c.ID, c.Kept, c.KeptBytes)
			}
			for _, f := range append(c.Kept, "kernel.config") {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", c.ID, err)
				}
			}
			t.Logf("%s keeps %v: %d bytes", c.ID, c.Kept, c.KeptBytes)
			copied := filepath.Join(t.TempDir(), c.ID)
			if out, err := exec.Command("cp", "-r", dir, copied).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			dir = copied
		} else if len(c.Kept) != 0 {
			t.Errorf("%s passed and kept %v without --keep-kernel", c.ID, c.Kept)
		}
		got, stdout, stderr := reproduce(t, dir)
		if got != want {
			t.Errorf("%s (%s: %s): reproduce.sh exited %d, want %d\nstderr: %s", c.ID, c.Status, c.Cause, got, want, stderr)
		}
		if !strings.Contains(stdout, "Linux version 6.12") || !strings.Contains(stdout, "rig-guest") {
			t.Errorf("%s: the console is not on the script's stdout:\n%s", c.ID, lastN(stdout, 20))
		}
		if want == 1 && !strings.Contains(stderr, `"test":"robust-unmap-remap","status":"fail"`) {
			t.Errorf("%s: the script does not name the failing test: %s", c.ID, stderr)
		}
	}
}

// TestE2ERerunCell: `rig rerun RUN --cell ID` repeats one cell with the
// recorded tree, seed, tests and duration (the kernel comes from the
// cache: same tree, same config), and prints the recorded verdict beside
// the new one; a run whose tree moved is refused before anything runs.
func TestE2ERerunCell(t *testing.T) {
	_, results := e2e(t)
	code, orig, dir, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--tests", "robust-owner-death,robust-unmap-remap",
		"--duration", "2s", "--seed", "4242")
	if orig == nil || code != ExitFail {
		t.Fatalf("exit %d, run %+v", code, orig)
	}
	was := orig.Cells[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code = Execute(ctx, []string{"rerun", dir, "--cell", was.ID, "--results", results}, &stdout, &stderr)
	t.Logf("rig rerun: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), lastN(stderr.String(), 30))
	if code != ExitFail {
		t.Fatalf("rerun exit %d, the recorded run's was %d", code, ExitFail)
	}
	newDir := ""
	for _, l := range strings.Split(stdout.String(), "\n") {
		if d, ok := strings.CutPrefix(l, "results: "); ok {
			newDir = d
		}
	}
	r, err := result.Load(newDir)
	if err != nil || len(r.Cells) != 1 {
		t.Fatalf("new run %q: %v %+v", newDir, err, r)
	}
	if newDir == dir || r.ID == orig.ID {
		t.Errorf("the rerun wrote into the recorded run %s", dir)
	}
	c := r.Cells[0]
	if c.Seed != 4242 || c.Cmdline != was.Cmdline || c.TreeID != was.TreeID || c.Base.Commit != was.Base.Commit || c.Accel != was.Accel {
		t.Errorf("not the same cell:\n was seed %d tree %s commit %s accel %s cmdline %q\n now seed %d tree %s commit %s accel %s cmdline %q",
			was.Seed, was.TreeID, was.Base.Commit, was.Accel, was.Cmdline, c.Seed, c.TreeID, c.Base.Commit, c.Accel, c.Cmdline)
	}
	if b, ok := stage(c, "build"); !ok || !b.Cached {
		t.Errorf("the rerun rebuilt the kernel: %+v", c.Stages)
	}
	if len(r.Command) < 2 || r.Command[1] != "rerun" {
		t.Errorf("run.json's command %q", r.Command)
	}
	if want := "  " + was.ID + ": was FAIL (" + was.Cause[:20]; !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), "now FAIL (") {
		t.Errorf("stdout does not put the recorded verdict beside the new one (%q):\n%s", want, stdout.String())
	}

	// The tree moved: refused, naming it, before anything runs.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.MkdirAll(moved, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "run.json"))
	var rec result.Run
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Cells[0].Inputs.Tree = "/nonexistent/linux"
	if err := result.Save(moved, &rec); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code = Execute(ctx, []string{"rerun", moved, "--results", results}, &stdout, &stderr)
	if code != ExitUsage || !strings.Contains(stderr.String(), "/nonexistent/linux, is not there any more") {
		t.Errorf("a moved tree: exit %d, stderr %s", code, stderr.String())
	}
}

// TestE2ERerunRun: `rig rerun RUN` repeats a whole run with a series: the
// patched cell and its baseline, on the same trees (the series applied
// where it was), with the same seed, each beside its recorded verdict.
func TestE2ERerunRun(t *testing.T) {
	root, results := e2e(t)
	code, orig, dir, _ := rig(t, "run", "--arch", "x86_64", "--series", filepath.Join(root, "patches/example"), "--results", results,
		"--tests", "robust-owner-death", "--duration", "2s")
	if orig == nil || code != ExitPass || len(orig.Cells) != 2 {
		t.Fatalf("exit %d, run %+v", code, orig)
	}
	code, r, _, _ := rig(t, "rerun", dir, "--results", results)
	if r == nil || code != ExitPass || len(r.Cells) != 2 {
		t.Fatalf("rerun: exit %d, run %+v", code, r)
	}
	newDir := filepath.Join(results, r.ID)
	for i, c := range r.Cells {
		was := orig.Cells[i]
		if c.ID != was.ID || c.Role != was.Role || c.TreeID != was.TreeID || len(c.Patches) != len(was.Patches) {
			t.Errorf("cell %d: was %s (%s) tree %s, %d patches; now %s (%s) tree %s, %d patches",
				i, was.ID, was.Role, was.TreeID, len(was.Patches), c.ID, c.Role, c.TreeID, len(c.Patches))
		}
		// A booted cell's script has the run's seed. A baseline served from
		// kept results has the seed of the boot those results came from:
		// the original's when both were served by the same entry. The
		// rerun asks for the accelerator the run really used (tcg), the
		// run may have asked for auto, and kept results are keyed by what
		// was asked: then the rerun's entry is another one, or none.
		seed := fmt.Sprintf("rig.seed=%d ", orig.Seed)
		if note := baseNote(c); note != "" {
			if note == baseNote(was) {
				seed = seedWord(t, filepath.Join(dir, was.ID, "reproduce.sh"))
			} else {
				seed = seedWord(t, filepath.Join(newDir, c.ID, "reproduce.sh")) // another entry's boot
			}
		}
		mustFile(t, filepath.Join(newDir, c.ID, "reproduce.sh"), seed)
	}
	if r.Series != orig.Series || r.Cells[1].Base.Commit != orig.Cells[1].Base.Commit {
		t.Errorf("series %q at %s, the recorded run's %q at %s", r.Series, r.Cells[1].Base.Commit, orig.Series, orig.Cells[1].Base.Commit)
	}
}

// TestE2EReplayExtras: what a run adds (an --exec'd program, --append,
// --qemu-arg) is in its reproduce.sh, since the script comes from the
// rig's own argv builder: the program, replayed without the rig, prints a
// command line with the --append words; and `rig rerun --cell` runs with
// all of them again.
func TestE2EReplayExtras(t *testing.T) {
	_, results := e2e(t)
	prog := cc(t, "x86_64", t.TempDir(), "cmdline", printCmdline)
	code, orig, dir, _ := rig(t, "run", "--arch", "x86_64", "--results", results, "--tests", "robust-owner-death", "--duration", "2s",
		"--exec", prog, "--append", "e2e.replay_marker=7", "--qemu-arg", "-d", "--qemu-arg", "guest_errors")
	if orig == nil || code != ExitPass {
		t.Fatalf("exit %d, run %+v", code, orig)
	}
	was := orig.Cells[0]
	cd := filepath.Join(dir, was.ID)
	mustFile(t, filepath.Join(cd, "reproduce.sh"), "e2e.replay_marker=7'")
	mustFile(t, filepath.Join(cd, "reproduce.sh"), "\t-d guest_errors\n")
	events := filepath.Join(t.TempDir(), "events.jsonl")
	if got, _, stderr := reproduce(t, cd, "RIG_EVENTS="+events); got != 0 {
		t.Errorf("reproduce.sh exited %d, the cell passed: %s", got, stderr)
	}
	mustFile(t, events, `"test":"cmdline","status":"pass"`)
	mustFile(t, events, "e2e.replay_marker=7")

	code, r, _, _ := rig(t, "rerun", dir, "--cell", was.ID, "--results", results)
	if r == nil || code != ExitPass {
		t.Fatalf("rerun: exit %d, run %+v", code, r)
	}
	c := r.Cells[0]
	if c.Cmdline != was.Cmdline || !slices.Equal(r.QEMUArgs, orig.QEMUArgs) || len(r.Exec) != 1 || r.Exec[0].SHA256 != orig.Exec[0].SHA256 {
		t.Errorf("the rerun lost what the run added: cmdline %q (was %q), qemu args %q, exec %+v", c.Cmdline, was.Cmdline, r.QEMUArgs, r.Exec)
	}
	if !slices.ContainsFunc(c.Tests, func(tr result.Test) bool { return tr.Name == "cmdline" && tr.Status == "pass" }) {
		t.Errorf("the rerun did not run the program: %+v", c.Tests)
	}
}

// seedWord is the "rig.seed=N " word of a reproduce.sh.
// baseNote is the note of a baseline's boot stage when its results came
// from kept base results ("base results of 1 boots (x86_64-<key>.json)"),
// "" when it booted.
func baseNote(c result.Cell) string {
	for _, s := range c.Stages {
		if s.Name == "boot" && s.Cached {
			return s.Note
		}
	}
	return ""
}

func seedWord(t *testing.T, script string) string {
	t.Helper()
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`rig\.seed=[0-9]+ `).Find(b)
	if m == nil {
		t.Fatalf("%s: no rig.seed= word", script)
	}
	return string(m)
}
