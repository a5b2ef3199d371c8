package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/bisect"
	"github.com/rig-kernel/rig/rig/result"
)

// hostile is one case of the adversarial suite: a command line a hostile
// or careless user (or a file from another machine) gives the rig, and
// what the rig must answer. No case builds or boots a kernel: each fails
// (or passes) before that, so the suite runs under -short.
type hostile struct {
	name string
	// args builds the command line; dir is the case's scratch directory.
	// "$RESULTS" in it stands for dir/results, which must not be created.
	args func(t *testing.T, dir string) []string
	code int
	// stderr, stdout: substrings that must be there; "$DIR" is dir.
	stderr, stdout []string
	// never: what neither stream may hold (secrets, raw escapes).
	never []string
	// ctx, if set, replaces the case's context (a cancelled one: Ctrl-C).
	ctx func() context.Context
	// check runs after the command, for what is on disk.
	check func(t *testing.T, dir string)
}

// The secret a hostile input holds; no error may quote it.
const secret = "CI_TOKEN=s3cr3t-d0-not-print"

// Characters that must never reach a terminal or a report raw.
var rawControls = []string{"\x1b[", "\u202e", "\u200b", "\u009b", "\x07"}

// advRun is a run.json's content for the suite's report cases: two
// passing cells, each with two passing tests.
func advRun(id string) *result.Run {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cell := func(id string) result.Cell {
		return result.Cell{ID: id, Arch: "x86_64", Accel: "tcg", Config: "base+x86_64", Status: result.Pass,
			Tests:  []result.Test{{Name: "robust-owner-death", Status: "pass"}, {Name: "robust-kill-in-lock", Status: "pass"}},
			Stages: []result.Stage{{Name: "boot", Start: now, Elapsed: time.Second}}}
	}
	return &result.Run{ID: id, Started: now, Finished: now.Add(time.Minute), Status: result.Pass,
		Cells: []result.Cell{cell("x86_64-tcg"), cell("arm64-tcg")}}
}

// saveRun writes a run directory dir/name from advRun changed by edit.
func saveRun(t *testing.T, dir, name string, edit func(r *result.Run)) string {
	t.Helper()
	d := filepath.Join(dir, name)
	r := advRun(name)
	if edit != nil {
		edit(r)
	}
	for _, c := range r.Cells {
		if c.ID != "" && !strings.ContainsAny(c.ID, "/\x00") {
			os.MkdirAll(filepath.Join(d, c.ID), 0o755)
		}
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := result.Save(d, r); err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeTree makes a directory that passes the kernel-tree check (no
// kernel is built from it: every case using it fails before the build).
func fakeTree(t *testing.T, dir string) string {
	t.Helper()
	d := filepath.Join(dir, "linux")
	for _, f := range []string{"Makefile", "Kconfig", "kernel/futex/core.c", "arch/x86/Kconfig"} {
		write(t, filepath.Join(d, f), "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
	}
	return d
}

// diffCase is `rig report diff OLD NEW` where NEW is OLD changed by edit.
func diffCase(edit func(r *result.Run), extra ...string) func(*testing.T, string) []string {
	return func(t *testing.T, dir string) []string {
		return append(append([]string{"report", "diff"}, extra...), saveRun(t, dir, "old", nil), saveRun(t, dir, "new", edit))
	}
}

// runArgs is `rig run` with a missing tree as a safety net: a case whose
// check is gone fails on the tree, never builds.
func runArgs(extra ...string) func(*testing.T, string) []string {
	return func(t *testing.T, dir string) []string {
		return append([]string{"run", "--results", "$RESULTS", "--kernel-src", filepath.Join(dir, "no-tree")}, extra...)
	}
}

// treeArgs is `rig run` on a fakeTree, one arch, for inputs checked after
// the tree (config fragments, series). A case whose check is gone fails
// at once in the tree's make, in the case's own cache.
func treeArgs(t *testing.T, dir string, extra ...string) []string {
	return append([]string{"run", "--results", "$RESULTS", "--arch", "x86_64", "--accel", "tcg", "--kernel-src", fakeTree(t, dir)}, extra...)
}

// configCase is `rig run --config` with the fragment made by frag.
func configCase(frag func(t *testing.T, dir string) string) func(*testing.T, string) []string {
	return func(t *testing.T, dir string) []string { return treeArgs(t, dir, "--config", frag(t, dir)) }
}

func fixed(path string) func(*testing.T, string) string {
	return func(*testing.T, string) string { return path }
}

func lit(args ...string) func(*testing.T, string) []string {
	return func(*testing.T, string) []string { return args }
}

func cell(r *result.Run, id string) *result.Cell {
	for i := range r.Cells {
		if r.Cells[i].ID == id {
			return &r.Cells[i]
		}
	}
	panic("no cell " + id)
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func hostileCases() []hostile {
	return []hostile{
		// Class 5: secrets in errors.
		{name: "config is the environment", args: configCase(fixed("/proc/self/environ")), code: ExitUsage,
			stderr: []string{"/proc/self/environ:1: not a config fragment"}, never: []string{secret, "PATH="}},
		{name: "config is a text file with a secret", args: configCase(func(t *testing.T, dir string) string {
			return write(t, filepath.Join(dir, "env.config"), "# tokens\n"+secret+"\n")
		}), code: ExitUsage, stderr: []string{"env.config:2: not a config fragment"}, never: []string{"s3cr3t"}},
		{name: "config fragment with a long bad line", args: configCase(func(t *testing.T, dir string) string {
			return write(t, filepath.Join(dir, "x.config"), "CONFIG_FUTEX=y\n"+strings.Repeat("A", 200)+secret+"\n")
		}), code: ExitUsage, stderr: []string{"x.config:2: not a config line", "AAAA..."}, never: []string{"s3cr3t", strings.Repeat("A", 60)}},
		{name: "config is a device", args: configCase(fixed("/dev/null")), code: ExitUsage, stderr: []string{"/dev/null is not a regular file"}},
		{name: "config is a directory", args: configCase(func(t *testing.T, dir string) string { return dir + "/" }), code: ExitUsage, stderr: []string{"is not a regular file"}},
		{name: "config directive with a secret", args: configCase(func(t *testing.T, dir string) string {
			return write(t, filepath.Join(dir, "d.config"), "CONFIG_FUTEX=y\n# rig: memory="+strings.Repeat("9", 80)+secret+"\n")
		}), code: ExitUsage, stderr: []string{"d.config:2", "memory="}, never: []string{"s3cr3t"}},
		{name: "plan is the environment", args: lit("matrix", "--list", "/proc/self/environ"), code: ExitUsage,
			stderr: []string{"plan /proc/self/environ"}, never: []string{secret, "PATH="}},
		{name: "run.json with a secret", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "r", "run.json"), secret+"\n")
			return []string{"report", "html", filepath.Join(dir, "r")}
		}, code: ExitUsage, stderr: []string{"run.json"}, never: []string{"s3cr3t"}},
		{name: "series is the environment", args: func(t *testing.T, dir string) []string {
			return treeArgs(t, dir, "--series", "/proc/self/environ")
		}, code: ExitUsage, stderr: []string{"/proc/self/environ: no diff in it"}, never: []string{"s3cr3t", "PATH="}},

		// Class 6: report diff must not let a regression through.
		{name: "diff: same run", args: diffCase(nil), code: ExitPass, stdout: []string{"verdict: no new failures"}},
		{name: "diff: NEW has no cells", args: diffCase(func(r *result.Run) { r.Cells = nil }), code: ExitFail,
			stdout: []string{"NEW has no cells", "CANNOT TELL"}, never: []string{"no new failures"}},
		{name: "diff: pass to skip", args: diffCase(func(r *result.Run) { cell(r, "arm64-tcg").Tests[1].Status = "skip" }), code: ExitFail,
			stdout: []string{"arm64-tcg robust-kill-in-lock: pass -> skip"}, never: []string{"no new failures"}},
		{name: "diff: failing cell renamed", args: diffCase(func(r *result.Run) {
			c := cell(r, "arm64-tcg")
			c.ID, c.Status, c.Tests[0].Status = "arm64-tcg-renamed", result.Fail, "fail"
		}), code: ExitFail, stdout: []string{"cell arm64-tcg (pass in OLD) is missing from NEW", "REGRESSED"}},
		{name: "diff: duplicate failing cell", args: diffCase(func(r *result.Run) {
			dup := *cell(r, "arm64-tcg")
			dup.Status, dup.Tests = result.Fail, []result.Test{{Name: "robust-owner-death", Status: "fail"}}
			r.Cells = append(r.Cells, dup)
		}), code: ExitFail, stdout: []string{"NEW has cell id arm64-tcg twice"}},
		{name: "diff: failures appear after a patch-error", args: func(t *testing.T, dir string) []string {
			old := saveRun(t, dir, "old", func(r *result.Run) {
				for i := range r.Cells {
					r.Cells[i].Status, r.Cells[i].Tests = result.PatchError, nil
				}
			})
			cur := saveRun(t, dir, "new", func(r *result.Run) {
				c := cell(r, "x86_64-tcg")
				c.Status, c.Tests[0].Status, c.Tests[1].Status = result.Fail, "fail", "fail"
			})
			return []string{"report", "diff", old, cur}
		}, code: ExitFail, stdout: []string{"x86_64-tcg robust-owner-death: fail", "verdict: REGRESSED"}, never: []string{"no new failures"}},
		{name: "diff: test gone", args: diffCase(func(r *result.Run) { cell(r, "x86_64-tcg").Tests = cell(r, "x86_64-tcg").Tests[:1] }), code: ExitFail,
			stdout: []string{"robust-kill-in-lock (pass in OLD) is missing from NEW"}},
		{name: "diff: pass to infra-error", args: diffCase(func(r *result.Run) {
			c := cell(r, "x86_64-tcg")
			c.Status, c.Tests = result.InfraError, nil
		}), code: ExitFail, stdout: []string{"pass -> infra-error: its tests did not run"}},
		{name: "diff: interrupted NEW", args: diffCase(func(r *result.Run) {
			r.Status = result.Interrupted
			c := cell(r, "x86_64-tcg")
			c.Status, c.Tests = result.Interrupted, c.Tests[:1]
		}), code: ExitFail, stdout: []string{"pass -> interrupted"}},
		{name: "diff: duplicate test name", args: diffCase(func(r *result.Run) {
			c := cell(r, "x86_64-tcg")
			c.Tests = append(c.Tests, result.Test{Name: "robust-owner-death", Status: "fail"})
		}), code: ExitFail, stdout: []string{"has test robust-owner-death twice"}},
		{name: "diff: unknown status with an escape", args: diffCase(func(r *result.Run) {
			cell(r, "x86_64-tcg").Tests[0].Status = "PASS\x1b[32m"
		}), code: ExitFail, stdout: []string{"unknown status PASS?[32m"}, never: rawControls},
		// result.Load refuses a cell ID that is not a plain name, "" too:
		// a damaged run.json, bad input like any other.
		{name: "diff: cell with no id", args: diffCase(func(r *result.Run) { r.Cells[0].ID = "" }), code: ExitUsage, stderr: []string{`cell 1: id "" is not a plain file name`}},
		{name: "diff --json: no cells", args: diffCase(func(r *result.Run) { r.Cells = nil }, "--json"), code: ExitFail,
			stdout: []string{`"failed": true`, `"regressed": false`, "NEW has no cells"}},
		{name: "diff: skip to fail", args: func(t *testing.T, dir string) []string {
			old := saveRun(t, dir, "old", func(r *result.Run) { cell(r, "x86_64-tcg").Tests[0].Status = "skip" })
			cur := saveRun(t, dir, "new", func(r *result.Run) { cell(r, "x86_64-tcg").Tests[0].Status = "fail" })
			return []string{"report", "diff", old, cur}
		}, code: ExitFail, stdout: []string{"skip -> fail", "REGRESSED"}},
		{name: "diff: fix only", args: func(t *testing.T, dir string) []string {
			old := saveRun(t, dir, "old", func(r *result.Run) {
				c := cell(r, "x86_64-tcg")
				c.Status, c.Tests[0].Status = result.Fail, "fail"
			})
			return []string{"report", "diff", old, saveRun(t, dir, "new", nil)}
		}, code: ExitPass, stdout: []string{"fixes (1)", "no new failures"}},
		{name: "diff: damaged OLD", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "old", "run.json"), `{"id": "x", "cells": [`)
			return []string{"report", "diff", filepath.Join(dir, "old"), saveRun(t, dir, "new", nil)}
		}, code: ExitUsage, stderr: []string{"OLD"}},
		{name: "diff: NEW is a file", args: func(t *testing.T, dir string) []string {
			return []string{"report", "diff", saveRun(t, dir, "old", nil), write(t, filepath.Join(dir, "file"), "x")}
		}, code: ExitUsage, stderr: []string{"NEW", "not a directory"}},

		// Class 7: values that silently meant something else.
		{name: "empty --kernel-src", args: lit("run", "--results", "$RESULTS", "--kernel-src", ""), code: ExitUsage, stderr: []string{`--kernel-src "": empty value`}},
		{name: "--tests of commas", args: runArgs("--tests", ","), code: ExitUsage, stderr: []string{`"," names nothing`}},
		{name: "empty --tests", args: runArgs("--tests", ""), code: ExitUsage, stderr: []string{`"" names nothing`}},
		{name: "empty --arch", args: runArgs("--arch", ""), code: ExitUsage, stderr: []string{"-arch", "names nothing"}},
		{name: "empty --accel", args: runArgs("--accel", ""), code: ExitUsage, stderr: []string{"-accel", "names nothing"}},
		{name: "duplicate --arch", args: runArgs("--arch", "x86_64,x86_64"), code: ExitUsage, stderr: []string{`"x86_64" given twice`}},
		{name: "duplicate --arch by alias", args: runArgs("--arch", "x86_64,amd64"), code: ExitUsage, stderr: []string{"amd64 and x86_64 are the same architecture"}},
		{name: "duplicate --arch over two flags", args: runArgs("--arch", "arm64", "--arch", "arm64"), code: ExitUsage, stderr: []string{`"arm64" given twice`}},
		{name: "duplicate --accel", args: runArgs("--accel", "tcg,tcg"), code: ExitUsage, stderr: []string{`"tcg" given twice`}},
		{name: "duplicate --tests", args: runArgs("--tests", "robust-owner-death,robust-owner-death"), code: ExitUsage, stderr: []string{"given twice"}},
		{name: "negative -j", args: runArgs("-j", "-5"), code: ExitUsage, stderr: []string{"rig run: -j -5: must not be negative"}},
		{name: "negative --cpus", args: runArgs("--cpus", "-1"), code: ExitUsage, stderr: []string{"--cpus -1: must not be negative"}},
		{name: "negative --boot-timeout", args: runArgs("--boot-timeout", "-5s"), code: ExitUsage, stderr: []string{"--boot-timeout", "must not be negative"}},
		{name: "negative --run-timeout", args: runArgs("--run-timeout", "-1ns"), code: ExitUsage, stderr: []string{"--run-timeout", "must not be negative"}},
		{name: "huge --run-timeout", args: runArgs("--run-timeout", "100000h"), code: ExitUsage, stderr: []string{"--run-timeout", "the most any duration may be"}},
		{name: "overflowing --duration", args: runArgs("--duration", "9999999999h"), code: ExitUsage, stderr: []string{"-duration"}},
		{name: "huge --duration", args: runArgs("--duration", "2000000h"), code: ExitUsage, stderr: []string{"the most any duration may be"}},
		{name: "empty --series", args: runArgs("--series", ""), code: ExitUsage, stderr: []string{`--series "": empty value`}},
		{name: "empty --results", args: runArgs("--results", ""), code: ExitUsage, stderr: []string{`--results "": empty value`}},
		{name: "empty --qemu-arg", args: runArgs("--qemu-arg", ""), code: ExitUsage, stderr: []string{"--qemu-arg", "empty value"}},
		{name: "empty --config", args: runArgs("--config", ""), code: ExitUsage, stderr: []string{"-config", "names nothing"}},
		{name: "negative --min-kills", args: runArgs("--min-kills", "-1"), code: ExitUsage, stderr: []string{"--min-kills -1: must not be negative"}},
		{name: "negative seed is a seed", args: runArgs("--seed", "-5"), code: ExitUsage, stderr: []string{"no-tree: does not exist"}, never: []string{"-seed"}},
		{name: "boot: empty --arch", args: lit("boot", "--arch", ""), code: ExitUsage, stderr: []string{`--arch "": empty value`}},
		{name: "boot: empty --kernel", args: lit("boot", "--kernel", ""), code: ExitUsage, stderr: []string{`--kernel "": empty value`}},
		{name: "matrix: negative -j after the plan", args: lit("matrix", "plan.yaml", "-j", "-1"), code: ExitUsage, stderr: []string{"-j -1: must not be negative"}},
		{name: "matrix: negative --make-j", args: lit("matrix", "--make-j", "-2", "plan.yaml"), code: ExitUsage, stderr: []string{"--make-j -2: must not be negative"}},
		{name: "bisect-step: empty --tests", args: lit("bisect-step", "--tests", ""), code: StepUsage, stderr: []string{"names nothing"}},
		{name: "bisect: negative --repeat", args: lit("bisect", "--series", "x", "--repeat", "-3"), code: ExitUsage, stderr: []string{"--repeat", "must not be negative"}},
		{name: "cache prune: negative age", args: lit("cache", "prune", "--older-than", "-1h"), code: ExitUsage, stderr: []string{"--older-than -1h0m0s: must not be negative"}},
		{name: "bench: negative -n", args: lit("bench", "-n", "-1"), code: ExitUsage, stderr: []string{"rig bench: -n -1: must not be negative"}},
		{name: "kcidb: empty --origin", args: func(t *testing.T, dir string) []string {
			return []string{"report", "kcidb", "--origin", "", saveRun(t, dir, "r", nil)}
		}, code: ExitUsage, stderr: []string{"--origin", "empty value"}},

		// Class 8: terminal and report injection.
		{name: "kcidb: javascript base URL", args: func(t *testing.T, dir string) []string {
			return []string{"report", "kcidb", "--base-url", "javascript://x/%0aalert(1)", saveRun(t, dir, "r", nil)}
		}, code: ExitUsage, stderr: []string{"want an absolute http:// or https:// URL"}},
		{name: "kcidb: file base URL", args: func(t *testing.T, dir string) []string {
			return []string{"report", "kcidb", "--base-url", "file:///etc/", saveRun(t, dir, "r", nil)}
		}, code: ExitUsage, stderr: []string{"http:// or https://"}},
		{name: "diff: escapes and bidi in ids and causes", args: diffCase(func(r *result.Run) {
			c := cell(r, "x86_64-tcg")
			c.Status, c.Cause, c.Tests[0].Status = result.Fail, "\x1b]0;pwned\x07\u202eevil\u200b", "fail"
			c.Tests[0].Reason = "\u009b2J"
			r.Cells = append(r.Cells, result.Cell{ID: "new\x1b[2J\u202e", Status: result.Fail, Cause: "x\u2028y"})
		}), code: ExitFail, stdout: []string{`\u202eevil\u200b`, `\u2028`}, never: rawControls},
		{name: "merge: shard fields reach the screen cleaned", args: func(t *testing.T, dir string) []string {
			s := saveRun(t, dir, "shard", func(r *result.Run) {
				c := &r.Cells[0]
				c.Status, c.Cause, c.Config, c.Arch = result.Fail, "cause\x1b[31m", "cfg\u202e", "x86\u200b"
				c.Tests[0].Status = "fail\x1b[2J"
				c.Stages[0].Name = "boot\x07"
			})
			return []string{"report", "merge", filepath.Join(dir, "out"), s}
		}, code: ExitPass, stdout: []string{`cfg\u202e`, `x86\u200b`}, never: rawControls},
		{name: "merge: a newline in a status adds no row to summary.md", args: func(t *testing.T, dir string) []string {
			s := saveRun(t, dir, "shard", func(r *result.Run) {
				r.Cells[0].Status = "fail\n| injected | row | | | |"
				r.Cells[0].Tests[0].Status = "pass\n| t |"
			})
			return []string{"report", "merge", filepath.Join(dir, "out"), s}
		}, code: ExitPass, check: func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, "out", "summary.md"))
			if err != nil || bytes.Contains(b, []byte("\n| injected")) || bytes.Contains(b, []byte("\n| t |")) {
				t.Errorf("summary.md (%v):\n%s", err, b)
			}
		}},
		{name: "cache: entry names with escapes", args: func(t *testing.T, dir string) []string {
			os.MkdirAll(filepath.Join(os.Getenv("RIG_CACHE"), "evil\x1b[2J\u202e"), 0o755)
			return []string{"cache"}
		}, code: ExitPass, never: rawControls},
		{name: "report html: bidi and escapes in every field", args: func(t *testing.T, dir string) []string {
			return []string{"report", "html", saveRun(t, dir, "r", func(r *result.Run) {
				r.Cells[0].Cause, r.Cells[0].Config, r.Cells[0].Tests[0].Name = "\x1b[2J", "\u202e", "t\u200b"
			})}
		}, code: ExitPass, never: rawControls, check: func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "r", "report.html"))
			for _, c := range rawControls {
				if bytes.Contains(b, []byte(c)) {
					t.Errorf("report.html holds %q raw", c)
				}
			}
		}},

		// Class 9: smaller inconsistencies.
		{name: "setup --check interrupted", args: lit("setup", "--check"), ctx: cancelled, code: ExitInterrupted,
			stderr: []string{"interrupted"}, never: []string{" ok"}},
		{name: "cache lists without creating the cache", args: lit("cache"), code: ExitPass, check: func(t *testing.T, dir string) {
			if _, err := os.Stat(os.Getenv("RIG_CACHE")); err == nil {
				t.Error("rig cache created the cache directory")
			}
		}},
		{name: "CRLF mbox", args: func(t *testing.T, dir string) []string {
			p := write(t, filepath.Join(dir, "crlf.mbox"), strings.ReplaceAll(conflictPatch, "\n", "\r\n"))
			return treeArgs(t, dir, "--series", p)
		}, code: ExitUsage, stderr: []string{"crlf.mbox: CRLF line endings", "dos2unix"}},
		{name: "git checkout with no commits", args: func(t *testing.T, dir string) []string {
			tree := fakeTree(t, dir)
			if out, err := exec.Command("git", "init", "-q", tree).CombinedOutput(); err != nil {
				t.Skipf("git init: %v %s", err, out)
			}
			return []string{"run", "--results", "$RESULTS", "--arch", "x86_64", "--accel", "tcg", "--kernel-src", tree}
		}, code: ExitUsage, stderr: []string{"git checkout without a commit at HEAD"}},
		{name: "merge: damaged run.json", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "shard", "run.json"), `{"cells": [{"id": `)
			return []string{"report", "merge", filepath.Join(dir, "out"), filepath.Join(dir, "shard")}
		}, code: ExitUsage, stderr: []string{"run.json cannot be read"}},
		{name: "merge: missing shard", args: func(t *testing.T, dir string) []string {
			return []string{"report", "merge", filepath.Join(dir, "out"), filepath.Join(dir, "nope")}
		}, code: ExitUsage, stderr: []string{"not a run directory"}},
		{name: "html: damaged run.json", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "r", "run.json"), "{")
			return []string{"report", "html", filepath.Join(dir, "r")}
		}, code: ExitUsage},
		{name: "html: run.json of null", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "r", "run.json"), "null\n")
			return []string{"report", "html", filepath.Join(dir, "r")}
		}, code: ExitUsage, stderr: []string{"not a run record"}, check: func(t *testing.T, dir string) {
			if _, err := os.Stat(filepath.Join(dir, "r", "report.html")); err == nil {
				t.Error("report.html written for a run.json of null")
			}
		}},
		{name: "diff: run.json of {}", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "r", "run.json"), "{}\n")
			return []string{"report", "diff", filepath.Join(dir, "r"), filepath.Join(dir, "r")}
		}, code: ExitUsage, stderr: []string{"not a run record"}, never: []string{"no new failures"}},
		{name: "kcidb: run.json of another program", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "r", "run.json"), `{"cells": null, "name": "npm"}`)
			return []string{"report", "kcidb", filepath.Join(dir, "r")}
		}, code: ExitUsage, stderr: []string{"not a run record"}},
		{name: "merge: run.json of null", args: func(t *testing.T, dir string) []string {
			write(t, filepath.Join(dir, "shard", "run.json"), "null")
			return []string{"report", "merge", filepath.Join(dir, "out"), filepath.Join(dir, "shard")}
		}, code: ExitUsage, stderr: []string{"not a run record"}},
		{name: "matrix: shard 0 of 4", args: lit("matrix", "--list", "--shard", "0/4", "testdata/matrix-small.yaml"), code: ExitUsage, stderr: []string{`--shard "0/4"`}},
		{name: "matrix: empty --shard", args: lit("matrix", "--list", "--shard", "", "testdata/matrix-small.yaml"), code: ExitUsage, stderr: []string{`--shard "": empty value`}},
		{name: "rerun: not a run directory", args: func(t *testing.T, dir string) []string {
			return []string{"rerun", dir}
		}, code: ExitUsage, stderr: []string{"run.json"}},
		{name: "rerun: empty --cell", args: lit("rerun", "--cell", "", "x"), code: ExitUsage, stderr: []string{`--cell "": empty value`}},
		{name: "--qemu-arg replacing the kernel", args: func(t *testing.T, dir string) []string {
			return treeArgs(t, dir, "--qemu-arg", "-kernel", "--qemu-arg", "/etc/passwd")
		}, code: ExitUsage, stderr: []string{"the rig sets -kernel itself"}},
		{name: "--qemu-arg replacing the memory", args: func(t *testing.T, dir string) []string {
			return treeArgs(t, dir, "--qemu-arg", "-m=64G")
		}, code: ExitUsage, stderr: []string{"use --memory"}},
		{name: "--append setting the guest's tests", args: func(t *testing.T, dir string) []string {
			return treeArgs(t, dir, "--append", "quiet rig.tests=all")
		}, code: ExitUsage, stderr: []string{"rig.tests=all is the guest's option"}},
		{name: "plan: empty arches", args: func(t *testing.T, dir string) []string {
			return []string{"matrix", "--list", write(t, filepath.Join(dir, "p.yaml"), "arches: []\ntests: [robust-owner-death]\n")}
		}, code: ExitUsage, stderr: []string{"arches: an empty list would mean the default"}},
		{name: "plan: duration of centuries", args: func(t *testing.T, dir string) []string {
			return []string{"matrix", "--list", write(t, filepath.Join(dir, "p.yaml"), "arches: [x86_64]\nduration: 2000000h\n")}
		}, code: ExitUsage, stderr: []string{"the most a duration may be"}},
		{name: "plan: one arch by two names", args: func(t *testing.T, dir string) []string {
			return []string{"matrix", "--list", write(t, filepath.Join(dir, "p.yaml"), "arches: [x86_64, amd64]\n")}
		}, code: ExitUsage, stderr: []string{"listed twice"}},
		{name: "-h of a leaf", args: lit("run", "-h"), code: ExitPass, stdout: []string{"usage: rig run"}},
		{name: "--help of a report command", args: lit("report", "diff", "--help"), code: ExitPass, stdout: []string{"usage: rig report diff"}},
		{name: "-h of bisect-step", args: lit("bisect-step", "-h"), code: ExitPass, stdout: []string{"usage: rig bisect-step"}},
		{name: "-h after a plan", args: lit("matrix", "plan.yaml", "-h"), code: ExitPass, stdout: []string{"usage: rig matrix"}},
		{name: "-h of a group", args: lit("cache", "-h"), code: ExitPass, stdout: []string{"rig cache prune"}},
		{name: "help text has no backquoted value names", args: lit("boot", "-h"), code: ExitPass, never: []string{"-kernel rig run", "-tests rig tests"}},
		{name: "unknown flag", args: lit("report", "html", "--frob"), code: ExitUsage, stderr: []string{"-frob", "usage: rig report html"}},
		{name: "command in the wrong case", args: lit("Report", "diff"), code: ExitUsage, stderr: []string{`unknown command "Report"`}},
		{name: "NUL in an argument", args: runArgs("--tests", "robust-owner-death\x00rm"), code: ExitUsage, stderr: []string{"unknown test"}},
		{name: "escape in an unknown command", args: lit("run\x1b[2J"), code: ExitUsage, never: []string{"\x1b["}},
		{name: "escape in an unknown test", args: runArgs("--tests", "t\x1b[2J\u202e"), code: ExitUsage, stderr: []string{"unknown test"}, never: rawControls},
	}
}

// TestAdversarial runs the suite: each case's exit code, messages, what
// they must never hold, and that no results directory was created by a
// case that failed on its input.
func TestAdversarial(t *testing.T) {
	cases := hostileCases()
	if len(cases) < 60 {
		t.Errorf("the suite has %d cases, want at least 60", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Errorf("case %q twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("RIG_CACHE", filepath.Join(dir, "cache"))
			t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
			results := filepath.Join(dir, "results")
			args := tc.args(t, dir)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "$RESULTS", results)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			var stdout, stderr bytes.Buffer
			code := Execute(ctx, args, &stdout, &stderr)
			out, errs := stdout.String(), stderr.String()
			if code != tc.code {
				t.Errorf("rig %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, tc.code, out, errs)
			}
			for _, w := range tc.stderr {
				if w = strings.ReplaceAll(w, "$DIR", dir); !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, w := range tc.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(out+errs, n) {
					t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", n, out, errs)
				}
			}
			if code == ExitUsage || code == StepUsage {
				if _, err := os.Stat(results); err == nil {
					t.Errorf("a usage error left %s behind", results)
				}
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}

// The suite's JSON output cases parse: --json is for machines.
func TestAdversarialDiffJSON(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := diffCase(func(r *result.Run) { r.Cells = r.Cells[:1] }, "--json")(t, dir)
	code := Execute(context.Background(), args, &stdout, &stderr)
	var d struct {
		Failed bool     `json:"failed"`
		Doubts []string `json:"doubts"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil || code != ExitFail || !d.Failed || len(d.Doubts) == 0 {
		t.Errorf("exit %d, %v: %s", code, err, stdout.String())
	}
}

// What bisect and rerun print holds patch subjects, kernel report titles
// and run.json fields: none reaches the terminal raw.
func TestUntrustedTextPrintedClean(t *testing.T) {
	evil := "subj\x1b]0;pwned\x07\u202eevil\u200b"
	var b bytes.Buffer
	printBisect(&b, &bisect.Result{Outcome: bisect.Found, Patch: &bisect.PatchInfo{Name: evil, Subject: evil},
		Title: evil, Evidence: evil, Rule: evil, RepeatWhy: evil, Steps: []bisect.Step{{K: 1, Why: evil}}, Summary: evil}, "dir")
	orig, cur := advRun("old"), advRun("new")
	orig.ID, cur.Cells[0].ID, orig.Cells[0].ID, cur.Cells[0].Status = evil, evil, evil, result.Status(evil)
	b.WriteString(compareVerdicts(orig, cur, ""))
	bisectErr(errors.New(evil), &b, false)
	for _, c := range rawControls {
		if strings.Contains(b.String(), c) {
			t.Errorf("printed %q raw:\n%s", c, b.String())
		}
	}
	if !strings.Contains(b.String(), `\u202eevil`) {
		t.Errorf("the bidi override is not shown:\n%s", b.String())
	}
}
