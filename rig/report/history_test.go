package report_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/history"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// hostileNights are two runs whose every string is an attack on the page.
func hostileNights(t *testing.T) []history.Loaded {
	var out []history.Loaded
	for i, st := range []string{"pass", "fail"} {
		r := &result.Run{
			ID: `n"><script>document.body.dataset.pwned=1</script>`, Status: result.Fail,
			Started: time.Date(2026, 12, 1+i, 2, 0, 0, 0, time.UTC),
			Cells: []result.Cell{{
				ID: "../../../etc/passwd<img src=x onerror=alert(1)>", Arch: "x86_64<b>", Accel: "tcg", Config: `base"onmouseover="x`,
				Series: "/p/<script>alert(1)</script>", TreeID: "<i>tree</i>", Status: result.Fail, Known: "javascript:alert(1)",
				Tests: []result.Test{{Name: "<img src=x onerror=alert(2)>", Status: st, Known: "javascript:alert(3)", Reason: "</td></tr><script>alert(4)</script>"}},
			}},
		}
		out = append(out, history.Loaded{Run: r, Dir: "../night " + string(rune('a'+i)) + "/<x>?#"})
	}
	return out
}

// TestHistoryHTMLEscapes: names, reasons and links from run.json stay
// text; links stay relative and inside the night's report; a known link
// that is not http(s) does not become one.
func TestHistoryHTMLEscapes(t *testing.T) {
	out := t.TempDir()
	if err := report.WriteHistoryHTML(out, history.Build(hostileNights(t), history.DefaultRule)); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(out, report.HistoryFile)
	dom := parseDOM(t, chromium(t, page, "--dump-dom"))
	if n := len(dom.find("script", "")) + len(dom.find("img", "")) + len(dom.find("b", "")) + len(dom.find("i", "")); n > 0 {
		t.Errorf("%d element(s) made from run.json text", n)
	}
	if _, ok := dom.find("body", "")[0].Attr["data-pwned"]; ok {
		t.Error("an injected script ran")
	}
	links := dom.find("a", "")
	if len(links) == 0 {
		t.Fatal("no links")
	}
	for _, a := range links {
		href := a.Attr["href"]
		u, err := url.Parse(href)
		if err != nil || u.Scheme == "javascript" {
			t.Errorf("link %q: %v", href, err)
			continue
		}
		if u.Scheme != "" || strings.HasPrefix(href, "/") || strings.HasPrefix(href, "#") {
			t.Errorf("link %q is not relative to the page", href)
			continue
		}
		// Squares and night headers: <night dir>/report.html[#cell-...],
		// the cell's ID reduced to an anchor.
		p, frag, _ := strings.Cut(href, "#")
		if dec, _ := url.PathUnescape(p); !strings.HasSuffix(dec, "/<x>?#/report.html") {
			t.Errorf("link %q does not name the night's report.html", href)
		}
		if frag != "" && strings.Trim(frag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			t.Errorf("link %q: anchor %q is not a sanitized cell id", href, frag)
		}
	}
	if s := dom.find("a", "sq"); len(s) != 4 {
		t.Errorf("%d linked squares, want 4 (cell and test, two nights)", len(s))
	}
}

// TestHistoryListsNow: a cell that failed to build on the last night is
// listed as failing now by its verdict, not by its tests' older failures.
func TestHistoryListsNow(t *testing.T) {
	var runs []history.Loaded
	for i, st := range []result.Status{result.Fail, result.BuildError} {
		c := result.Cell{ID: "x86_64-tcg-base-s-r1", Arch: "x86_64", Accel: "tcg", Config: "base", Series: "/p/s", Status: st, Cause: "cause " + string(st)}
		if st == result.Fail {
			c.Tests = []result.Test{{Name: "robust-owner-death", Status: "fail"}}
		}
		runs = append(runs, history.Loaded{Dir: "n", Run: &result.Run{ID: "n" + string(rune('1'+i)), Started: time.Date(2026, 12, 1+i, 0, 0, 0, 0, time.UTC), Cells: []result.Cell{c}}})
	}
	if list := failingList(t, runs); !strings.Contains(list, "(cell verdict)") || strings.Contains(list, "robust-owner-death") {
		t.Errorf("failing now lists %q; want the cell's build error only", list)
	}
	// A failure known on night 1 and no longer on night 2 (its entry left
	// known-issues.yaml) fails now.
	for i, k := range []string{"https://example.org/1", ""} {
		runs[i].Run.Cells[0].Status, runs[i].Run.Cells[0].Known = result.Fail, k
	}
	if list := failingList(t, runs); !strings.Contains(list, "(cell verdict)") {
		t.Errorf("failing now lists %q; want the cell no longer known", list)
	}
}

// failingList is the "failing now" table of the history of runs.
func failingList(t *testing.T, runs []history.Loaded) string {
	var b strings.Builder
	if err := report.HistoryHTML(&b, history.Build(runs, history.DefaultRule)); err != nil {
		t.Fatal(err)
	}
	_, list, _ := strings.Cut(b.String(), `id="failing-list"`)
	list, _, _ = strings.Cut(list, "</table>")
	return list
}

// TestHistoryInChromium renders the history of the real nightly fixture
// (testdata/nightly of rig/history, made by its make.sh) and checks the
// page Chromium built.
func TestHistoryInChromium(t *testing.T) {
	runsDir, err := filepath.Abs("../history/testdata/nightly/runs")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := history.Load([]string{runsDir})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for i := range runs {
		rel, err := filepath.Rel(out, runs[i].Dir)
		if err != nil {
			t.Fatal(err)
		}
		runs[i].Dir = rel
	}
	h := history.Build(runs, history.DefaultRule)
	if err := report.WriteHistoryHTML(out, h); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(out, report.HistoryFile)
	dom := parseDOM(t, chromium(t, page, "--dump-dom"))
	checkFixturePage(t, out, h, dom)

	// A screenshot for a human to look at; RIG_HISTORY_SCREENSHOT keeps it.
	shot := filepath.Join(t.TempDir(), "history.png")
	if keep := os.Getenv("RIG_HISTORY_SCREENSHOT"); keep != "" {
		shot = keep
	}
	chromium(t, page, "--screenshot="+shot, "--window-size=1400,1000", "--hide-scrollbars")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}

// checkFixturePage checks the page of the nightly fixture (see
// TestFixtureHistory in rig/history for the same facts in history.json).
func checkFixturePage(t *testing.T, out string, h *history.History, dom *node) {
	grid := dom.byID("history-grid")
	if grid == nil {
		t.Fatal("no table#history-grid")
	}
	var groups []string
	for _, th := range grid.find("th", "group") {
		groups = append(groups, th.text())
	}
	if want := "arm64 tcg base+arm64 patched r1|arm64 tcg base+arm64 unpatched r1|x86_64 tcg base+x86_64 patched r1|x86_64 tcg base+x86_64 unpatched r1"; strings.Join(groups, "|") != want {
		t.Errorf("row groups %q, want %q", groups, want)
	}
	rows := grid.find("tr", "row")
	if len(rows) != 20 {
		t.Fatalf("%d rows, want 20", len(rows))
	}
	// Squares, night by night: . not run, P pass, F fail, K known, ~ a
	// flaky row's failure. From the nights' run.json files.
	type want struct {
		group   int // index into groups
		test    string
		squares string
		tags    string // flaky, known
		streak  string
	}
	for _, w := range []want{
		{2, "robust-owner-death", "..PP.PP.PP.PFFFF.", "", "fail ×4"},
		{0, "robust-owner-death", "..PP.PP.PP.PFFFF.", "", "fail ×4"},
		{2, "random-coin", "..~P.~P.~~.~PPPP.", "flaky", "pass ×4"},
		{3, "robust-unmap-remap", "FF..F..F..F.....K", "known", "fail ×6"},
		{2, "robust-unmap-remap", "..FF.FF.FF.FFFKK.", "known", "fail ×11"},
		{3, "(cell verdict)", "FF..F..F..F.....K", "known", "fail ×6"},
		{1, "pi-handover", "PP..P..P..P.....P", "", "pass ×6"},
	} {
		row := rows[w.group*5+testIndex(w.test)]
		name := row.find("td", "test")[0]
		if got := strings.TrimSuffix(strings.TrimSuffix(name.text(), "known"), "flaky"); got != w.test {
			t.Errorf("group %s row %d is %q, want %q", groups[w.group], testIndex(w.test), got, w.test)
			continue
		}
		var sq, tags []string
		for _, td := range row.find("td", "") {
			for _, k := range td.Kids {
				if k.hasClass("sq") {
					sq = append(sq, map[string]string{"sq-none": ".", "sq-pass": "P", "sq-fail": "F", "sq-known": "K", "sq-flaky": "~", "sq-skip": "-", "sq-absent": "a"}[strings.Fields(k.Attr["class"])[1]])
				}
			}
		}
		for _, tg := range name.find("span", "tag") {
			tags = append(tags, tg.text())
		}
		if strings.Join(sq, "") != w.squares || strings.Join(tags, ",") != w.tags {
			t.Errorf("%s %s: squares %s tags %q, want %s %q", groups[w.group], w.test, strings.Join(sq, ""), tags, w.squares, w.tags)
		}
		if s := row.find("td", "streak")[0].text(); s != w.streak {
			t.Errorf("%s %s: streak %q, want %q", groups[w.group], w.test, s, w.streak)
		}
	}
	// Where the regression began: night 13, the break-owner-death series,
	// its tree hash.
	owner := rows[2*5+testIndex("robust-owner-death")]
	tree := h.Rows[2*5+testIndex("robust-owner-death")].FirstFailing.Tree
	if note := owner.find("td", "note")[0].text(); len(tree) < 12 || !strings.Contains(note, "first failing night 13 (break-owner-death, tree "+tree[:12]+")") ||
		!strings.Contains(note, "last passing night 12 (example") {
		t.Errorf("robust-owner-death note %q, want first failing night 13 at tree %s, last passing night 12", note, tree)
	}

	// The lists a maintainer reads first; failing since night 13 before
	// failing since night 11.
	listed := func(id string) []string {
		var out []string
		if tb := dom.byID(id); tb != nil {
			for _, tr := range tb.find("tr", "") {
				if tds := tr.find("td", ""); len(tds) > 1 {
					out = append(out, tds[0].text()+" "+tds[1].text())
				}
			}
		}
		return out
	}
	if got := strings.Join(listed("failing-list"), "|"); got != "arm64 tcg base+arm64 patched r1 robust-owner-death|x86_64 tcg base+x86_64 patched r1 robust-owner-death|arm64 tcg base+arm64 unpatched r1 random-coin" {
		t.Errorf("failing now, newest first: %s", got)
	}
	if got := listed("flaky-list"); len(got) != 2 || !strings.HasSuffix(got[0], "random-coin") || !strings.HasSuffix(got[1], "random-coin") {
		t.Errorf("flaky list: %q", got)
	}
	if got := listed("known-list"); len(got) != 4 {
		t.Errorf("known list: %q, want robust-unmap-remap of the 4 cells", got)
	}
	if fl := dom.byID("flaky-list").text(); !strings.Contains(fl, "fail→pass night 4 (example)") {
		t.Errorf("flaky list has no flip list: %s", fl)
	}
	for _, a := range dom.byID("known-list").find("a", "") {
		if a.Attr["href"] != "https://lkml.iu.edu/hypermail/linux/kernel/2606.0/05634.html" {
			t.Errorf("known link %q", a.Attr["href"])
		}
	}

	// Every square links its night's report.html, relative to the page,
	// at the cell's anchor, which that report has.
	squares := grid.find("a", "sq")
	// The unpatched cells ran on 6 nights, the patched ones on 11.
	if len(squares) != 2*5*6+2*5*11 {
		t.Errorf("%d linked squares, want one per row and night it ran (%d)", len(squares), 2*5*6+2*5*11)
	}
	for _, a := range squares {
		href := a.Attr["href"]
		p, frag, _ := strings.Cut(href, "#")
		file, err := url.PathUnescape(p)
		if err != nil || strings.HasPrefix(file, "/") || frag == "" {
			t.Fatalf("square link %q is not relative with an anchor", href)
		}
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatalf("square link %q: %v", href, err)
		}
		if !strings.Contains(string(b), `id="`+frag+`"`) {
			t.Errorf("square link %q: %s has no element with that id", href, file)
		}
	}
}

// testIndex is a test's row within its cell's group (sorted, the cell's
// verdict first).
func testIndex(test string) int {
	return map[string]int{"(cell verdict)": 0, "pi-handover": 1, "random-coin": 2, "robust-owner-death": 3, "robust-unmap-remap": 4}[test]
}
