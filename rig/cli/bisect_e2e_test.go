package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/bisect"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// execute runs the CLI in-process and returns the exit code and output.
func execute(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := Execute(ctx, args, &stdout, &stderr)
	t.Logf("rig %s: exit %d in %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), stdout.String(), lastN(stderr.String(), 30))
	return code, stdout.String(), stderr.String()
}

// TestBisectStepExitCodes: what the rig cannot decide never reaches git
// as "bad": usage and infrastructure problems exit >= 128, which aborts
// `git bisect run`. (No kernel is built.)
func TestBisectStepExitCodes(t *testing.T) {
	results := t.TempDir()
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"bisect-step", "--no-such-flag"}, StepUsage},
		{[]string{"bisect-step", "--bad-if", "cause=x"}, StepUsage},
		{[]string{"bisect-step", "--bad-if", "test=no-such-test"}, StepUsage},
		{[]string{"bisect-step", "--tests", "no-such-test"}, StepUsage},
		{[]string{"bisect-step", "--arch", "x86_64", "--kernel-src", filepath.Join(results, "missing"), "--results", results}, StepUsage},
		// The test runs in the rig's own checkout: no kernel tree here, so
		// the step must not judge the default tree instead.
		{[]string{"bisect-step", "--arch", "x86_64", "--results", results}, StepWrongTree},
		{[]string{"bisect"}, ExitUsage},
		{[]string{"bisect", "--series", filepath.Join(results, "missing")}, ExitUsage},
	} {
		if code, _, stderr := execute(t, time.Minute, c.args...); code != c.want {
			t.Errorf("rig %s: exit %d, want %d; stderr %s", strings.Join(c.args, " "), code, c.want, stderr)
		} else if c.want >= 128 && c.want != StepUsage && !strings.Contains(stderr, "aborting the bisection") {
			t.Errorf("rig %s: no clear abort message: %s", strings.Join(c.args, " "), stderr)
		}
	}
}

// TestE2EBisectSeries: the bisect-5 series (patch 4 breaks the robust
// lock of a dying task) is bisected to exactly patch 4, with each step an
// incremental build in the same slot.
func TestE2EBisectSeries(t *testing.T) {
	root, results := e2e(t)
	start := time.Now()
	code, stdout, _ := execute(t, 60*time.Minute, "bisect", "--arch", "x86_64", "--series", filepath.Join(root, "patches/bisect-5"),
		"--tests", "robust-kill-in-lock", "--duration", "2s", "--results", results)
	wall := time.Since(start)
	m := regexp.MustCompile(`(?m)^results: (.*)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("exit %d, no results line", code)
	}
	dir := m[1]
	res, err := bisect.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || res.Outcome != bisect.Found || res.Culprit != 4 || !strings.HasPrefix(res.Patch.Name, "0004-futex-skip-a-pending-robust-entry") {
		t.Fatalf("exit %d, outcome %s, culprit %d %+v", code, res.Outcome, res.Culprit, res.Patch)
	}
	if res.Title != "test=robust-kill-in-lock" || !strings.Contains(res.Evidence, "robust-kill-in-lock") {
		t.Errorf("title %q evidence %q", res.Title, res.Evidence)
	}
	for _, want := range []string{"culprit: 0004-futex-skip", "subject: futex: skip a pending robust entry on exit", "evidence: test robust-kill-in-lock failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q", want)
		}
	}
	mustFile(t, filepath.Join(dir, "bisect.log"), "first bad patch: 4/5")
	// Every run's own directory, and the rebuild it cost (apply + config
	// + build stages, from its run.json).
	for _, s := range res.Steps {
		for _, r := range s.Runs {
			rr, err := result.Load(r.Dir)
			if err != nil {
				t.Fatalf("step %d run %d: %v", s.K, r.Attempt, err)
			}
			var parts []string
			total := 0.0
			for _, name := range []string{"apply", "config", "build", "boot", "tests"} {
				if st, ok := stage(rr.Cells[0], name); ok {
					parts = append(parts, fmt.Sprintf("%s %.1fs", name, st.Elapsed.Seconds()))
					if name == "apply" || name == "config" || name == "build" {
						total += st.Elapsed.Seconds()
					}
					if name == "build" && st.Cached {
						parts[len(parts)-1] += " (cached)"
					}
				}
			}
			t.Logf("step %d/%d run %d: %s; %s; rebuild %.1fs", s.K, len(res.Patches), r.Attempt, rr.Cells[0].Status, strings.Join(parts, ", "), total)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "bisect.log"))
	t.Logf("bisect.log:\n%s", b)
	t.Logf("bisection of %d patches: %s wall, %d steps", len(res.Patches), wall.Round(time.Second), len(res.Steps))
}

// TestE2EGitBisectRun: `git bisect run rig bisect-step` on a small git
// repository of the default tree with the bisect-5 patches as commits
// lands on the 4th commit. It runs as the README shows it: from inside the
// checkout, with no --kernel-src, no RIG_ROOT and no --results, the rig
// binary built from the clone and living elsewhere. The repository is made at a fixed place in the
// cache so that its build slot (keyed by the repository's path) is reused
// by the next run of this test: every step is an incremental build.
func TestE2EGitBisectRun(t *testing.T) {
	root, _ := e2e(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cacheDir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := source.Default(ctx, cacheDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := cache.TestFixtures.Path(cacheDir, "bisect-git")
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(repo), 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Rig Example", "GIT_AUTHOR_EMAIL=rig@example.org",
			"GIT_COMMITTER_NAME=Rig Example", "GIT_COMMITTER_EMAIL=rig@example.org", "GIT_COMMITTER_DATE=2026-11-25T00:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(filepath.Dir(repo), "clone", "--shared", "-q", tree.GitDir, repo)
	patches, _ := filepath.Glob(filepath.Join(root, "patches/bisect-5/*.patch"))
	git(repo, append([]string{"am", "-q"}, patches...)...)
	culprit := git(repo, "rev-parse", "HEAD~1")

	bin := buildRig(t, root)

	git(repo, "bisect", "start", "HEAD", "HEAD~5")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "git", "bisect", "run", bin, "bisect-step", "--arch", "x86_64", "--tests", "robust-kill-in-lock")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CI=true")
	for _, kv := range cmd.Env {
		if strings.HasPrefix(kv, "RIG_ROOT=") {
			t.Fatalf("the test must run without %s, as a user does", kv)
		}
	}
	out, err := cmd.CombinedOutput()
	t.Logf("git bisect run: %v in %s\n%s", err, time.Since(start).Round(time.Second), lastN(string(out), 80))
	if err != nil {
		t.Fatalf("git bisect run failed: %v", err)
	}
	if !strings.Contains(string(out), culprit+" is the first bad commit") {
		t.Fatalf("git bisect did not land on %s (futex: skip a pending robust entry on exit)", culprit)
	}
	// Every step named the commit it tested, and only commits of the
	// bisected checkout were tested.
	tested := regexp.MustCompile(`rig bisect-step: testing commit ([0-9a-f]{12}) .* of (\S+)`).FindAllStringSubmatch(string(out), -1)
	if len(tested) < 2 {
		t.Fatalf("steps did not print the commit they tested (%d lines)", len(tested))
	}
	for _, m := range tested {
		if !samePathT(m[2], repo) {
			t.Errorf("a step tested %s, not the bisected checkout %s", m[2], repo)
		}
		if !strings.HasPrefix(git(repo, "rev-parse", m[1]), m[1]) {
			t.Errorf("a step tested %s, which is no commit of the checkout", m[1])
		}
	}
	t.Logf("bisect log:\n%s", git(repo, "bisect", "log"))
	git(repo, "bisect", "reset")

	// Plain `rig run` inside the checkout tests the checkout: its tip holds
	// the bad commit, so the test fails (Debian's tree would pass it).
	run := exec.CommandContext(ctx, bin, "run", "--arch", "x86_64", "--tests", "robust-kill-in-lock")
	run.Dir = repo
	run.Env = append(os.Environ(), "CI=true")
	out, err = run.CombinedOutput()
	t.Logf("rig run in the checkout: %v\n%s", err, lastN(string(out), 20))
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitFail {
		t.Errorf("rig run in the checkout at the bad tip: %v, want exit %d", err, ExitFail)
	}
	if !strings.Contains(string(out), "kernel tree: "+repo) || !strings.Contains(string(out), "test robust-kill-in-lock failed") {
		t.Errorf("rig run in the checkout did not test the checkout (or did not fail):\n%s", lastN(string(out), 20))
	}
	// The checkout goes (1.7 GB); its build slot stays for the next run.
	if err := os.RemoveAll(repo); err != nil {
		t.Error(err)
	}
}

func samePathT(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}
