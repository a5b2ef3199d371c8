package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// badInput is one entry of the bad-input catalogue.
type badInput struct {
	name string
	// args builds the command line; dir is a scratch directory for inputs,
	// results the --results directory (it must stay empty on exit 2).
	args func(t *testing.T, dir, results string) []string
	code int      // ExitUsage, or ExitFail / ExitInfra for a named error
	want []string // substrings of stderr (exit 2) or of the run's cause; "$DIR" is dir
	// status is the run's verdict for a named error (not usage).
	status result.Status
	// tree: the input gets past the usage checks to the source stage, with
	// the real default tree (skipped with -short).
	tree bool
}

func write(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const binaryPatch = `From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: A U Thor <a@example.org>
Date: Mon, 1 Jan 2024 00:00:00 +0000
Subject: [PATCH] add a blob

---
 blob.bin | Bin 0 -> 12 bytes
 1 file changed, 0 insertions(+), 0 deletions(-)
 create mode 100644 blob.bin

diff --git a/blob.bin b/blob.bin
new file mode 100644
index 0000000000000000000000000000000000000000..ffffffffffffffffffffffffffffffffffffffff
GIT binary patch
literal 12
TcmZ?wbhEHbwQjnr?bogC2@V<

literal 0
HcmV?d00001

--
2.39.2
`

// A patch whose hunk does not match the tree: Makefile has no such line.
const conflictPatch = `From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: A U Thor <a@example.org>
Date: Mon, 1 Jan 2024 00:00:00 +0000
Subject: [PATCH] change a line that is not there

---
 Makefile | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/Makefile b/Makefile
--- a/Makefile
+++ b/Makefile
@@ -1,3 +1,3 @@
 this line
-is not in the
+kernel's
 Makefile
--
2.39.2
`

func badInputs() []badInput {
	run := func(extra ...string) func(*testing.T, string, string) []string {
		return func(t *testing.T, dir, results string) []string {
			return append([]string{"run", "--arch", "x86_64", "--accel", "tcg", "--results", results}, extra...)
		}
	}
	withDir := func(f func(t *testing.T, dir string) []string) func(*testing.T, string, string) []string {
		return func(t *testing.T, dir, results string) []string {
			return append([]string{"run", "--arch", "x86_64", "--accel", "tcg", "--results", results}, f(t, dir)...)
		}
	}
	return []badInput{
		{name: "no command", args: func(*testing.T, string, string) []string { return nil }, code: ExitUsage, want: []string{"usage: rig"}},
		{name: "unknown command", args: func(*testing.T, string, string) []string { return []string{"frobnicate"} }, code: ExitUsage, want: []string{`unknown command "frobnicate"`}},
		{name: "unknown flag", args: run("--frobnicate"), code: ExitUsage, want: []string{"flag provided but not defined: -frobnicate"}},
		{name: "stray argument", args: run("series.patch"), code: ExitUsage, want: []string{`unexpected argument "series.patch"`}},
		{name: "unknown arch", args: run("--arch", "sparc"), code: ExitUsage, want: []string{`unknown arch "sparc"`}},
		{name: "unknown accel", args: run("--accel", "hvf"), code: ExitUsage, want: []string{`--accel "hvf"`}},
		{name: "unknown test", args: run("--tests", "robust-owner-death,no-such-test"), code: ExitUsage, want: []string{`unknown test "no-such-test"`}},
		{name: "bad duration", args: run("--duration", "soon"), code: ExitUsage, want: []string{`invalid value "soon" for flag -duration`}},
		{name: "negative duration", args: run("--duration", "-1s"), code: ExitUsage, want: []string{"--duration -1s: must not be negative"}},
		{name: "bad seed", args: run("--seed", "abc"), code: ExitUsage, want: []string{`invalid value "abc" for flag -seed`}},
		{name: "negative cpus", args: run("--cpus", "-2"), code: ExitUsage, want: []string{"--cpus -2", "must not be negative"}},
		{name: "negative memory", args: run("--memory", "-512"), code: ExitUsage, want: []string{"--memory -512", "must not be negative"}},
		{name: "unknown config fragment", args: run("--config", "nosuch"), code: ExitUsage, want: []string{"nosuch"}},
		{name: "fragment with a non-config line", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--config", write(t, filepath.Join(dir, "bad.config"), "CONFIG_FUTEX=y\nthis is not a config line\n")}
		}), code: ExitUsage, want: []string{"bad.config", "this is not a config line"}},
		{name: "each patch without a series", args: run("--each-patch"), code: ExitUsage, want: []string{"--each-patch needs --series"}},
		{name: "missing series", args: run("--series", "/nonexistent/series"), code: ExitUsage, want: []string{"/nonexistent/series"}},
		{name: "empty series dir", args: withDir(func(t *testing.T, dir string) []string {
			d := filepath.Join(dir, "series")
			os.MkdirAll(d, 0o755)
			return []string{"--series", d}
		}), code: ExitUsage, want: []string{"$DIR/series", "empty series"}},
		{name: "mbox with no patches", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--series", write(t, filepath.Join(dir, "talk.mbox"),
				"From alice Mon Jan  1 00:00:00 2024\nSubject: hello\n\nno diff here\n\nFrom bob Mon Jan  1 00:01:00 2024\nSubject: Re: hello\n\nnor here\n")}
		}), code: ExitUsage, want: []string{"talk.mbox", "no patches in mbox"}},
		{name: "quilt series naming a missing patch", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--series", write(t, filepath.Join(dir, "q", "series"), "0001-gone.patch\n")}
		}), code: ExitUsage, want: []string{"0001-gone.patch"}},
		{name: "quilt series escaping its directory", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--series", write(t, filepath.Join(dir, "q", "series"), "../../etc/passwd\n")}
		}), code: ExitUsage, want: []string{"../../etc/passwd", "outside the series directory"}},
		{name: "missing kernel tree", args: run("--kernel-src", "/nonexistent/linux"), code: ExitUsage,
			want: []string{"kernel tree /nonexistent/linux: does not exist"}},
		{name: "tree that is not a kernel", args: withDir(func(t *testing.T, dir string) []string {
			d := filepath.Join(dir, "notlinux")
			write(t, filepath.Join(d, "README"), "not a kernel\n")
			return []string{"--kernel-src", d}
		}), code: ExitUsage, want: []string{"kernel tree $DIR/notlinux: is not a Linux kernel tree (no Makefile)"}},
		{name: "kvm for a foreign arch", args: run("--arch", "arm64", "--accel", "kvm"), code: ExitUsage, want: []string{"KVM runs arm64 guests only on a arm64 host"}},
		{name: "boot: missing kernel image", args: func(t *testing.T, dir, results string) []string {
			return []string{"boot", "--results", results, "--kernel", "/nonexistent/bzImage"}
		}, code: ExitUsage, want: []string{"/nonexistent/bzImage"}},
		{name: "boot: missing initramfs", args: func(t *testing.T, dir, results string) []string {
			return []string{"boot", "--results", results, "--kernel", "/proc/self/exe", "--initramfs", "/nonexistent/initrd.cpio"}
		}, code: ExitUsage, want: []string{"/nonexistent/initrd.cpio"}},
		{name: "matrix: unreadable plan", args: func(t *testing.T, dir, results string) []string {
			return []string{"matrix", "--results", results, "/nonexistent/plan.yaml"}
		}, code: ExitUsage, want: []string{"/nonexistent/plan.yaml"}},
		{name: "matrix: plan is a directory", args: func(t *testing.T, dir, results string) []string {
			return []string{"matrix", "--results", results, dir}
		}, code: ExitUsage, want: []string{"$DIR"}},
		{name: "matrix: garbage plan", args: func(t *testing.T, dir, results string) []string {
			return []string{"matrix", "--results", results, write(t, filepath.Join(dir, "plan.yaml"), "\x00\xff{{{ not: [a plan\n")}
		}, code: ExitUsage, want: []string{"plan.yaml"}},
		{name: "matrix: bad shard", args: func(t *testing.T, dir, results string) []string {
			return []string{"matrix", "--results", results, "--shard", "3/2", "plan.yaml"}
		}, code: ExitUsage, want: []string{`shard "3/2"`}},
		{name: "matrix: shard not a fraction", args: func(t *testing.T, dir, results string) []string {
			return []string{"matrix", "--results", results, "--shard", "half", "plan.yaml"}
		}, code: ExitUsage, want: []string{`shard "half"`}},
		{name: "matrix: no plan", args: func(t *testing.T, dir, results string) []string {
			return []string{"matrix", "--results", results}
		}, code: ExitUsage, want: []string{"want exactly one plan file"}},
		{name: "report diff of non-run dirs", args: func(t *testing.T, dir, results string) []string {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			os.MkdirAll(a, 0o755)
			os.MkdirAll(b, 0o755)
			return []string{"report", "diff", a, b}
		}, code: ExitUsage, want: []string{"$DIR/a"}},
		{name: "report diff missing NEW", args: func(t *testing.T, dir, results string) []string {
			return []string{"report", "diff", dir}
		}, code: ExitUsage, want: []string{"missing NEW"}},
		{name: "report: unknown command", args: func(t *testing.T, dir, results string) []string {
			return []string{"report", "pdf", dir}
		}, code: ExitUsage, want: []string{`unknown command "pdf"`}},
		{name: "report merge of a non-run dir", args: func(t *testing.T, dir, results string) []string {
			os.MkdirAll(filepath.Join(dir, "shard1"), 0o755)
			return []string{"report", "merge", filepath.Join(results, "merged"), filepath.Join(dir, "shard1")}
		}, code: ExitUsage, want: []string{"$DIR/shard1"}},

		{name: "known issues: bad regexp", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--known", write(t, filepath.Join(dir, "k.yaml"), "- link: https://x.org/1\n  test: 'a(b'\n")}
		}), code: ExitUsage, want: []string{"$DIR/k.yaml:2", "error parsing regexp"}},
		{name: "known issues: expired entry", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--known", write(t, filepath.Join(dir, "k.yaml"), "- test: robust-unmap-remap\n  link: https://x.org/1\n  expires: 2020-01-01\n")}
		}), code: ExitUsage, want: []string{"$DIR/k.yaml:1", "robust-unmap-remap", "expired on 2020-01-01"}},
		{name: "known issues: a directory", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--known", dir}
		}), code: ExitUsage, want: []string{"$DIR", "not a regular file"}},
		{name: "matrix: plan's known issues expired", args: func(t *testing.T, dir, results string) []string {
			write(t, filepath.Join(dir, "k.yaml"), "- test: robust-unmap-remap\n  link: https://x.org/1\n  expires: 2020-01-01\n")
			return []string{"matrix", "--results", results, write(t, filepath.Join(dir, "plan.yaml"), "arches: [x86_64]\nknown_issues: k.yaml\n")}
		}, code: ExitUsage, want: []string{"$DIR/k.yaml:1", "expired on 2020-01-01"}},
		{name: "matrix: --known over the plan's", args: func(t *testing.T, dir, results string) []string {
			write(t, filepath.Join(dir, "k.yaml"), "- test: robust-unmap-remap\n  link: https://x.org/1\n")
			bad := write(t, filepath.Join(dir, "bad.yaml"), "- test: robust-unmap-remap\n  link: https://x.org/1\n  tests: x\n")
			return []string{"matrix", "--list", "--known", bad, write(t, filepath.Join(dir, "plan.yaml"), "arches: [x86_64]\nknown_issues: k.yaml\n")}
		}, code: ExitUsage, want: []string{"$DIR/bad.yaml:3", `unknown key "tests"`}},
		{name: "report merge: bad known issues", args: func(t *testing.T, dir, results string) []string {
			return []string{"report", "merge", "--known", write(t, filepath.Join(dir, "k.yaml"), "test: a\n"), filepath.Join(results, "merged"), dir}
		}, code: ExitUsage, want: []string{"$DIR/k.yaml:1", "want a list"}},

		// Inputs only the tree can judge: a named patch error after the
		// source stage, no build.
		{name: "malformed patch", args: withDir(func(t *testing.T, dir string) []string {
			// In a series directory: the apply stage finds it. Named on its
			// own, a file with no diff is refused before any work
			// (TestAdversarial).
			write(t, filepath.Join(dir, "s", "0001-garbage.patch"), "this is not a patch\n\x00\x01\x02\n")
			return []string{"--series", filepath.Join(dir, "s")}
		}), code: ExitFail, status: result.PatchError, want: []string{"0001-garbage.patch"}, tree: true},
		{name: "binary patch", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--series", write(t, filepath.Join(dir, "s", "0001-add-a-blob.patch"), binaryPatch)}
		}), code: ExitFail, status: result.PatchError, want: []string{"0001-add-a-blob.patch"}, tree: true},
		{name: "patch that does not apply", args: withDir(func(t *testing.T, dir string) []string {
			return []string{"--series", write(t, filepath.Join(dir, "s", "0001-conflict.patch"), conflictPatch)}
		}), code: ExitFail, status: result.PatchError, want: []string{"0001-conflict.patch", "Makefile"}, tree: true},
	}
}

// TestBadInputs is the bad-input catalogue: every entry ends with exit 2
// and a message naming the input, before any run directory exists; or,
// for what only the tree can judge, with a named verdict in a run record.
func TestBadInputs(t *testing.T) {
	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tree && testing.Short() {
				t.Skip("needs the default kernel tree (-short)")
			}
			dir, results := t.TempDir(), t.TempDir()
			args := tc.args(t, dir, results)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := Execute(ctx, args, &stdout, &stderr)
			took := time.Since(start)
			msg := stderr.String()
			if code != tc.code {
				t.Fatalf("rig %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, tc.code, stdout.String(), lastN(msg, 30))
			}
			ents, _ := os.ReadDir(results)
			if tc.code == ExitUsage {
				if len(ents) != 0 {
					t.Errorf("usage error left %d entries in --results (first %s)", len(ents), ents[0].Name())
				}
			} else {
				var runDir string
				for _, l := range strings.Split(stdout.String(), "\n") {
					if d, ok := strings.CutPrefix(l, "results: "); ok {
						runDir = d
					}
				}
				r, err := result.Load(runDir)
				if err != nil {
					t.Fatalf("no run record: %v\n%s", err, stdout.String())
				}
				if r.Status != tc.status {
					t.Errorf("status %s, want %s (cause %q)", r.Status, tc.status, r.Cause)
				}
				msg = r.Cause
				for _, c := range r.Cells {
					msg += "\n" + c.Cause
				}
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "$DIR", dir)
				if !strings.Contains(msg, w) {
					t.Errorf("rig %q: message does not name %q:\n%s", args, w, lastN(msg, 20))
				}
			}
			if strings.ContainsAny(msg, "\x00\x1b") {
				t.Errorf("raw control bytes reach the terminal: %q", msg)
			}
			t.Logf("exit %d in %v: %s", code, took.Round(time.Millisecond), firstLineOf(strings.TrimSpace(msg)))
		})
	}
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
