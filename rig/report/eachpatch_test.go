package report_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// eachPatchRun is a --each-patch run of a five-patch series with
// --baseline: on x86_64 patch 4 breaks robust-kill-in-lock and patch 5
// adds a WARNING; on arm64 patch 2 breaks the build and patch 3 does not
// apply, so 4 and 5 are not tried.
func eachPatchRun() *result.Run {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	names := []string{"0001-futex-explain.patch", "0002-futex-note.patch", "0003-futex-say.patch", "0004-futex-skip-a-pending-robust-entry.patch", "0005-futex-pr_debug.patch"}
	subjects := []string{"futex: explain", "futex: note", "futex: say", "futex: skip a pending robust entry on exit", "futex: pr_debug"}
	full := []result.Stage{{Name: "source", Start: t0, Elapsed: time.Second}, {Name: "apply", Start: t0, Elapsed: time.Second},
		{Name: "build", Start: t0, Elapsed: 12 * time.Second}, {Name: "pack", Start: t0}, {Name: "boot", Start: t0, Elapsed: 3 * time.Second},
		{Name: "tests", Start: t0, Elapsed: 6 * time.Second}, {Name: "poweroff", Start: t0}}
	tests := func(kill string) []result.Test {
		reason := ""
		if kill == "fail" {
			reason = "no OWNER_DIED on the word: 0x00000ff3"
		}
		return []result.Test{{Name: "robust-owner-death", Status: "pass", Seconds: 2}, {Name: "robust-kill-in-lock", Status: kill, Reason: reason, Seconds: 3},
			{Name: "kselftest-futex", Status: "skip", Reason: "not built"}}
	}
	cells := []result.Cell{{ID: "x86_64-baseline", Arch: "x86_64", Accel: "tcg", Config: "base+x86_64", Role: "baseline", Status: result.Pass,
		Tests: tests("pass"), Stages: full, KernelImage: "bzImage"}}
	for k := 1; k <= 5; k++ {
		c := result.Cell{ID: fmt.Sprintf("x86_64-p%d", k), Arch: "x86_64", Accel: "tcg", Config: "base+x86_64", Series: "patches/bisect-5",
			Prefix: k, PrefixOf: 5, PatchName: names[k-1], PatchSubject: subjects[k-1], Status: result.Pass, Tests: tests("pass"), Stages: full, KernelImage: "bzImage"}
		if k >= 4 {
			c.Status, c.Tests = result.Fail, tests("fail")
			c.Tests[1].Label = "regressed"
			c.Cause = fmt.Sprintf("after patch %d/5 (%s): test robust-kill-in-lock failed: no OWNER_DIED on the word: 0x00000ff3", k, names[k-1])
		}
		if k == 5 {
			c.Oopses = []result.Oops{{Kind: "WARNING", Title: "WARNING: CPU: 0 PID: 61 at kernel/futex/core.c:1101 exit_robust_list+0x3a/0x1c0", Line: 210}}
		}
		cells = append(cells, c)
	}
	cells = append(cells, result.Cell{ID: "arm64-baseline", Arch: "arm64", Accel: "tcg", Config: "base+arm64", Role: "baseline", Status: result.Pass,
		Tests: tests("pass"), Stages: full, KernelImage: "Image"})
	for k := 1; k <= 5; k++ {
		c := result.Cell{ID: fmt.Sprintf("arm64-p%d", k), Arch: "arm64", Accel: "tcg", Config: "base+arm64", Series: "patches/bisect-5",
			Prefix: k, PrefixOf: 5, PatchName: names[k-1], PatchSubject: subjects[k-1], Status: result.Pass, Tests: tests("pass"), Stages: full, KernelImage: "Image"}
		switch {
		case k == 2:
			c.Status, c.Tests, c.KernelImage, c.Stages = result.BuildError, nil, "", full[:3]
			c.Cause = "after patch 2/5 (0002-futex-note.patch): kernel/futex/core.c:12:1: error: expected ';' before '}' token"
		case k == 3:
			c.Status, c.Tests, c.KernelImage, c.Stages = result.PatchError, nil, "", full[:2]
			c.Cause = "0003-futex-say.patch: kernel/futex/pi.c: hunk #1 (@@ -1,3 +1,3 @@) does not apply at line 1"
		case k > 3:
			c.Status, c.Tests, c.KernelImage, c.Stages, c.NotTried = result.PatchError, nil, "", nil, true
			c.Cause = "not tried: patch 3 (0003-futex-say.patch) does not apply"
		}
		cells = append(cells, c)
	}
	return &result.Run{ID: "20261207-090000-ep0001", Command: []string{"rig", "run", "--each-patch", "--baseline", "--series", "patches/bisect-5"},
		Started: t0, Finished: t0.Add(9 * time.Minute), Status: result.PatchError, Cause: cells[9].Cause,
		KernelSource: "debian:linux-source-6.12", Series: "patches/bisect-5", Seed: 7, Cells: cells}
}

// The each-patch table on the screen, in summary.md and as JUnit suites
// per patch, against golden files (`-update` rewrites them).
func TestGoldenEachPatch(t *testing.T) {
	r := eachPatchRun()
	junit, err := report.JUnit(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{
		"eachpatch-screen.txt": []byte(report.Screen(r, "results/"+r.ID)),
		"eachpatch-summary.md": []byte(report.Markdown(r)),
		"eachpatch-junit.xml":  junit,
	} {
		checkGolden(t, name, got)
	}
}

// With --baseline, the series line is the whole series' (the table has
// every prefix's).
func TestEachPatchSeriesLine(t *testing.T) {
	lines := report.BaselineVerdicts(eachPatchRun())
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "x86_64 [base+x86_64]: robust-kill-in-lock regressed") {
		t.Errorf("series lines %q, want one, for x86_64's whole series", lines)
	}
}

// The table names exactly the patch that first broke each column.
func TestPatchTables(t *testing.T) {
	tables := report.PatchTables(eachPatchRun())
	if len(tables) != 2 {
		t.Fatalf("%d tables, want one per arch", len(tables))
	}
	x86 := tables[0]
	if got := x86.Columns; strings.Join(got, ",") != "apply,build,boot,robust-owner-death,robust-kill-in-lock,kselftest-futex,oops" {
		t.Errorf("columns %q", got)
	}
	var kill []string
	for _, r := range x86.Rows {
		kill = append(kill, fmt.Sprintf("%d:%s", r.Prefix, r.Cells[4]))
	}
	if got := strings.Join(kill, " "); got != "0:pass 1:pass 2:pass 3:pass 4:FAIL 5:FAIL" {
		t.Errorf("robust-kill-in-lock by prefix: %s", got)
	}
	for _, want := range []string{
		`robust-kill-in-lock: first fails after patch 4 (0004-futex-skip-a-pending-robust-entry.patch, "futex: skip a pending robust entry on exit"); fails after 4, 5`,
		"oops: first fails after patch 5 (",
	} {
		if !strings.Contains(strings.Join(x86.First, "\n"), want) {
			t.Errorf("x86_64 does not say %q: %q", want, x86.First)
		}
	}
	arm := tables[1]
	if got := arm.Rows[4].Cells[0] + " " + arm.Rows[5].Cells[1]; got != "not-tried -" {
		t.Errorf("arm64 patch 4 apply, patch 5 build: %q", got)
	}
	for _, want := range []string{"apply: patch 3 (0003-futex-say.patch", "the 2 after it not tried", "build: first fails after patch 2 ("} {
		if !strings.Contains(strings.Join(arm.First, "\n"), want) {
			t.Errorf("arm64 does not say %q: %q", want, arm.First)
		}
	}
	if report.PatchTables(renderRun()) != nil {
		t.Error("a run without --each-patch has a patch table")
	}
}

// report.html shows the same table, the first-fails lines under it.
func TestHTMLEachPatch(t *testing.T) {
	var b strings.Builder
	if err := report.HTML(&b, eachPatchRun()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"<h2>Each patch: x86_64 tcg [base&#43;x86_64]</h2>",
		`<th scope="row">4 0004-futex-skip-a-pending-robust-entry</th><td class="subject">futex: skip a pending robust entry on exit</td>`,
		`<td class="test st-fail">FAIL</td>`,
		`<td class="test st-unknown">not-tried</td>`,
		`<li class="first-fails">robust-kill-in-lock: first fails after patch 4 (0004-futex-skip-a-pending-robust-entry.patch, &#34;futex: skip a pending robust entry on exit&#34;)`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
}

// In kcidb.json each prefix is a checkout of its own, with the patchset
// of its first patches; the builds of both arches point at theirs.
func TestKCIDBEachPatch(t *testing.T) {
	var files []report.PatchFile
	for k := 1; k <= 5; k++ {
		files = append(files, report.PatchFile{Name: fmt.Sprintf("%04d.patch", k), Data: []byte(fmt.Sprint("patch ", k))})
	}
	b, err := report.KCIDB(eachPatchRun(), report.KCIDBOptions{Patches: files})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Checkouts []struct {
			ID           string         `json:"id"`
			PatchsetHash string         `json:"patchset_hash"`
			Misc         map[string]any `json:"misc"`
		} `json:"checkouts"`
		Builds []struct {
			ID         string `json:"id"`
			CheckoutID string `json:"checkout_id"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Checkouts) != 6 {
		t.Fatalf("%d checkouts, want the base tree and five prefixes", len(d.Checkouts))
	}
	for k := 1; k <= 5; k++ {
		co := d.Checkouts[k]
		if want := report.PatchsetHash(files[:k]); co.PatchsetHash != want || co.Misc["prefix"] != float64(k) {
			t.Errorf("checkout %s: patchset %s prefix %v, want the first %d patches' %s", co.ID, co.PatchsetHash, co.Misc["prefix"], k, want)
		}
	}
	byCheckout := map[string]int{}
	for _, b := range d.Builds {
		byCheckout[b.CheckoutID]++
	}
	// x86_64 built base and 1-5, arm64 base, 1 and 2 (3 did not apply).
	if n := byCheckout[d.Checkouts[2].ID]; n != 2 || byCheckout[d.Checkouts[4].ID] != 1 || byCheckout[d.Checkouts[0].ID] != 2 {
		t.Errorf("builds per checkout %v", byCheckout)
	}
}
