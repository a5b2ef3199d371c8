package cli

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EEachPatch: `rig run --each-patch` on bisect-5 (patch 4 breaks the
// robust lock of a dying task) tests the five prefixes in order in one
// build slot and says exactly that patch 4 broke robust-kill-in-lock: 1-3
// pass, 4 and 5 fail, exit 1, on the screen, in summary.md and in
// junit.xml's suite per patch. x86_64 only: both arches would double the
// time and say nothing more about the expansion.
func TestE2EEachPatch(t *testing.T) {
	root, results := e2e(t)
	start := time.Now()
	code, r, dir, _ := rig(t, "run", "--each-patch", "--arch", "x86_64", "--series", filepath.Join(root, "patches/bisect-5"),
		"--tests", "robust-kill-in-lock", "--duration", "5s", "--results", results)
	if r == nil {
		t.Fatalf("no run record; exit %d", code)
	}
	t.Logf("five prefixes: %s wall", time.Since(start).Round(time.Second))
	if code != 1 || r.Status != result.Fail || !strings.HasPrefix(r.Cause, "after patch 4/5 (0004-futex-skip-a-pending-robust-entry") {
		t.Errorf("exit %d, status %s, cause %q: want exit 1 naming patch 4", code, r.Status, r.Cause)
	}
	if len(r.Cells) != 5 {
		t.Fatalf("%d cells, want one per prefix", len(r.Cells))
	}
	for k, c := range r.Cells {
		k++
		want := "pass"
		if k >= 4 {
			want = "fail"
		}
		got := "(not run)"
		if len(c.Tests) == 1 && c.Tests[0].Name == "robust-kill-in-lock" {
			got = c.Tests[0].Status
		}
		if c.ID != fmt.Sprintf("x86_64-p%d", k) || c.Prefix != k || c.PrefixOf != 5 || len(c.Patches) != k || got != want {
			t.Errorf("cell %s: prefix %d/%d, %d patches, robust-kill-in-lock %s; want x86_64-p%d with %d patches, %s", c.ID, c.Prefix, c.PrefixOf, len(c.Patches), got, k, k, want)
		}
		b, _ := stage(c, "build")
		t.Logf("%s %s: %s, build %.1fs cached %v", c.ID, c.PatchName, c.Status, b.Elapsed.Seconds(), b.Cached)
	}
	first := "robust-kill-in-lock: first fails after patch 4 (0004-futex-skip-a-pending-robust-entry-on-exit-rig-bisect.patch"
	summary, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	for _, want := range []string{"## Each patch: x86_64", first, "| 3 | 0003-", "| 4 | 0004-futex-skip-a-pending-robust-entry-on-exit-rig-bisect.patch |"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary.md does not say %q:\n%s", want, summary)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Suites) != 5 {
		t.Fatalf("%d junit suites, want one per patch", len(j.Suites))
	}
	for k, s := range j.Suites {
		k++
		failing := 0
		if k >= 4 {
			failing = 1
		}
		if pre := fmt.Sprintf("x86_64-p%d: after patch %d/5 %04d-futex-", k, k, k); !strings.HasPrefix(s.Name, pre) || s.Failures != failing {
			t.Errorf("junit suite %q with %d failing, want %q... with %d", s.Name, s.Failures, pre, failing)
		}
	}
}

// TestE2EEachPatchNotTried: a series whose first patch does not apply
// (broken-apply's) followed by one that would: prefix 1 is the patch
// error, prefix 2 is not tried, and nothing is built or booted.
func TestE2EEachPatchNotTried(t *testing.T) {
	root, results := e2e(t)
	series := t.TempDir()
	for i, src := range []string{"patches/broken-apply/0001-futex-comment-fixes-in-handle_futex_death-against-a-.patch",
		"patches/bisect-5/0001-futex-explain-the-robust-unlock-path-in-futex_wake.patch"} {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(series, fmt.Sprintf("%04d-%s", i+1, filepath.Base(src)[5:])), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, r, dir, _ := rig(t, "run", "--each-patch", "--arch", "x86_64", "--series", series, "--tests", "robust-kill-in-lock", "--results", results)
	if r == nil || len(r.Cells) != 2 {
		t.Fatalf("exit %d, run %+v", code, r)
	}
	p1, p2 := r.Cells[0], r.Cells[1]
	if code != 1 || p1.Status != result.PatchError || p1.NotTried || !p2.NotTried || p2.Cause != "not tried: patch 1 (0001-futex-comment-fixes-in-handle_futex_death-against-a-.patch) does not apply" {
		t.Errorf("exit %d; p1 %s (not tried %v); p2 %s %q (not tried %v)", code, p1.Status, p1.NotTried, p2.Status, p2.Cause, p2.NotTried)
	}
	if _, built := stage(p1, "build"); built || len(p2.Stages) != 0 {
		t.Errorf("something was built: p1 %+v, p2 %+v", p1.Stages, p2.Stages)
	}
	mustFile(t, filepath.Join(dir, "summary.md"), "| 2 | 0002-futex-explain-the-robust-unlock-path-in-futex_wake.patch | futex: explain the robust unlock path in futex_wake() | not-tried | - | - | - | - |")
}
