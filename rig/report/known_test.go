package report_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// knownRun is renderRun with its failing test and its kernel report matched
// by known issues (as rig/known.Apply leaves it) and one entry unmatched.
func knownRun() *result.Run {
	r := renderRun()
	c := &r.Cells[0]
	c.Tests[1].Known = "https://x.org/race"
	c.Known = "https://x.org/race"
	r.Status, r.Cause = result.Pass, ""
	r.KnownIssues = &result.KnownIssues{File: "patches/known-issues.yaml", Entries: 2,
		Unmatched: []string{"patches/known-issues.yaml:9: title \"gone\" in * (https://x.org/gone)"}}
	return r
}

// A known failure is a known failure everywhere: summary.md and the screen
// say so and list the probably fixed entry, junit.xml skips it with the
// link, kcidb.json keeps the FAIL and ties it to an issue by an incident,
// valid against the KCIDB schema.
func TestKnownRendered(t *testing.T) {
	r := knownRun()
	md := report.Markdown(r)
	for _, want := range []string{"## Known issues", "Every failure of this run is a known issue: the run passes (exit 0)",
		"robust-unlock: fail (known: https://x.org/race)", "**Probably fixed**", "known-issues.yaml:9"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	scr := report.Screen(r, "/tmp/r")
	for _, want := range []string{"every failure is known", "probably fixed (matched nothing)", "(known: https://x.org/race)"} {
		if !strings.Contains(scr, want) {
			t.Errorf("screen lacks %q:\n%s", want, scr)
		}
	}
	var h strings.Builder
	if err := report.HTML(&h, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), "<dt>known issue</dt><dd>https://x.org/race</dd>") || !strings.Contains(h.String(), "word corrupted (known: https://x.org/race)") {
		t.Errorf("report.html shows no known issue: %s", h.String())
	}
	j, err := report.JUnit(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), "<failure") || strings.Count(string(j), `<skipped message="known issue https://x.org/race: `) != 2 {
		t.Errorf("junit.xml: want the test and the kernel report skipped as known, no failure:\n%s", j)
	}

	b, err := report.KCIDB(r, report.KCIDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range checkKCIDB(b) {
		t.Error(e)
	}
	var d struct {
		Tests []struct {
			ID, Path, Status string
			Misc             map[string]any
		}
		Issues []struct {
			ID        string
			ReportURL string `json:"report_url"`
		}
		Incidents []struct {
			IssueID string `json:"issue_id"`
			TestID  string `json:"test_id"`
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Issues) != 1 || d.Issues[0].ReportURL != "https://x.org/race" {
		t.Fatalf("issues: %+v", d.Issues)
	}
	linked := map[string]bool{}
	for _, in := range d.Incidents {
		if in.IssueID != d.Issues[0].ID {
			t.Errorf("incident of %s names issue %s", in.TestID, in.IssueID)
		}
		linked[in.TestID] = true
	}
	for _, tc := range d.Tests {
		if tc.Status == "FAIL" && (!linked[tc.ID] || tc.Misc["known"] != "https://x.org/race") {
			t.Errorf("FAIL test %s: incident %v, misc %v", tc.Path, linked[tc.ID], tc.Misc)
		}
	}
	if len(d.Incidents) != 3 { // rig, rig.robust-unlock, rig.kernel-oops
		t.Errorf("%d incidents, want 3: %+v", len(d.Incidents), d.Incidents)
	}
	r.Cells[0].Known, r.Cells[0].Tests[1].Known = "", ""
	if b, _ := report.KCIDB(r, report.KCIDBOptions{}); strings.Contains(string(b), `"incidents"`) {
		t.Error("a run without known failures has incidents")
	}
}
