package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/history"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/result"
)

//go:embed history.html.tmpl
var historySource string

var historyTmpl = template.Must(template.New("history.html").Parse(historySource))

// HistoryFile is the name of the history page in its output directory.
const HistoryFile = "history.html"

// WriteHistoryHTML (re)writes dir/history.html atomically. Each night's
// Dir must be relative to dir (or absolute): squares link to
// Dir/report.html#<the cell's anchor>.
func WriteHistoryHTML(dir string, h *history.History) error {
	return atomicfile.WriteWith(filepath.Join(dir, HistoryFile), 0o644, func(w io.Writer) error {
		return HistoryHTML(w, h)
	})
}

// HistoryHTML renders the history page of h.
func HistoryHTML(w io.Writer, h *history.History) error {
	return historyTmpl.Execute(w, buildHistoryPage(h))
}

type historyPage struct {
	Title     string
	Span      string
	Latest    string
	Rule      string
	Nights    []nightView
	Failing   []attention
	Flaky     []attention
	Known     []attention
	Groups    []group
	Legend    []legendItem
	RowsCount int
	Cols      int // of the grid: test, nights, streak, note
}

type nightView struct {
	Date, Run, Title, Href, Class string
}

type attention struct {
	Cell, Test, Since, Last, Streak, Flips, Known string
	KnownHref                                     string // Known when it is an http(s) link
	night                                         int    // where its streak began
}

type group struct {
	Name string
	Rows []historyRow
	// Listed says a test row of the group is in a list at the top, so
	// its cell verdict need not be.
	Listed bool
}

type historyRow struct {
	Test, Class, Streak, Note, Known string
	Flaky                            bool
	Squares                          []square
}

type square struct {
	Class, Href, Title, Text string
}

func buildHistoryPage(h *history.History) historyPage {
	p := historyPage{Title: fmt.Sprintf("rig history: %d nights", len(h.Nights)), Rule: fmt.Sprintf("at least %d flips in its last %d results", h.Flaky.Flips, h.Flaky.Runs), RowsCount: len(h.Rows), Cols: len(h.Nights) + 3}
	if n := len(h.Nights); n > 0 {
		first, last := h.Nights[0], h.Nights[n-1]
		p.Span = fmt.Sprintf("%s to %s", day(first.Started), day(last.Started))
		p.Latest = fmt.Sprintf("latest night %s (%s): %s", last.Run, day(last.Started), last.Status)
	}
	for i, n := range h.Nights {
		p.Nights = append(p.Nights, nightView{
			Date:  fmt.Sprintf("%d · %s", i+1, n.Started.UTC().Format("01-02 15:04")),
			Run:   n.Run,
			Title: fmt.Sprintf("%s, %s: %s; series: %s", n.Run, n.Started.UTC().Format(time.RFC3339), n.Status, orBase(n.Series)),
			Href:  reportHref(n.Dir, ""),
			Class: statusClass(n.Status),
		})
	}
	for i, k := range []string{"pass", "fail", "known", "flaky", "skip", "not run", "absent"} {
		p.Legend = append(p.Legend, legendItem{k, []string{"sq-pass", "sq-fail", "sq-known", "sq-flaky", "sq-skip", "sq-none", "sq-absent"}[i]})
	}
	var (
		cur      *group
		cells    []attention // each group's cell verdict, in group order
		cellRows []history.Row
		cellLast int // the last night the current group's cell ran
	)
	for _, r := range h.Rows {
		name := r.Identity.String()
		if cur == nil || cur.Name != name {
			p.Groups = append(p.Groups, group{Name: name})
			cur = &p.Groups[len(p.Groups)-1]
		}
		cur.Rows = append(cur.Rows, buildHistoryRow(h, r))
		test := r.Test
		if test == "" {
			test = "(cell verdict)"
		}
		a := attention{Cell: name, Test: test}
		if s := r.Streak; s != nil {
			a.night = s.Since.Night
			a.Since = fmt.Sprintf("%s (%s)", atText(h, s.Since), day(h.Nights[s.Since.Night].Started))
			a.Streak = fmt.Sprintf("%d %s", s.Runs, plural(s.Runs, "run"))
		}
		if r.LastPassing != nil {
			a.Last = atText(h, *r.LastPassing)
		} else {
			a.Last = "never passed here"
		}
		if r.Test == "" {
			cells = append(cells, a) // listed only when none of its tests is
			cellRows = append(cellRows, r)
			cellLast = lastNight(r, func(m history.Mark) bool { return m.Cell != "" })
			continue
		}
		// A test that did not run on its cell's last night (not built,
		// dropped from the plan) is not failing "now": the cell says why.
		if lastNight(r, func(m history.Mark) bool { return m.Outcome() != "" }) < cellLast {
			continue
		}
		if listRow(&p, h, r, a) {
			cur.Listed = true
		}
	}
	for i, g := range p.Groups {
		if !g.Listed && i < len(cells) {
			listRow(&p, h, cellRows[i], cells[i])
		}
	}
	// Newest changes first: what broke last night leads.
	sort.SliceStable(p.Failing, func(i, j int) bool { return p.Failing[i].night > p.Failing[j].night })
	return p
}

// lastNight is the last night whose mark ok accepts, -1 when none does.
func lastNight(r history.Row, ok func(history.Mark) bool) int {
	for n := len(r.Marks) - 1; n >= 0; n-- {
		if ok(r.Marks[n]) {
			return n
		}
	}
	return -1
}

// listRow puts a row that fails now or is flaky into the lists at the top
// of the page and says whether it did.
func listRow(p *historyPage, h *history.History, r history.Row, a attention) bool {
	listed := false
	// Known now: the latest failure matched a known issue (an issue
	// dropped from known-issues.yaml makes the row fail again).
	known := ""
	if n := lastNight(r, func(m history.Mark) bool { return m.Outcome() != "" }); n >= 0 {
		known = r.Marks[n].Known
	}
	a.Known, a.KnownHref = known, webLink(known)
	switch {
	case r.Streak != nil && r.Streak.Outcome == "fail" && known == "" && !r.Flaky:
		p.Failing, listed = append(p.Failing, a), true
	case r.Streak != nil && r.Streak.Outcome == "fail" && known != "":
		p.Known, listed = append(p.Known, a), true
	}
	if r.Flaky {
		a.Flips = flipList(h, r)
		p.Flaky, listed = append(p.Flaky, a), true
	}
	return listed
}

func buildHistoryRow(h *history.History, r history.Row) historyRow {
	hr := historyRow{Test: r.Test, Flaky: r.Flaky, Known: r.Known}
	if hr.Test == "" {
		hr.Test, hr.Class = "(cell verdict)", "cellrow"
	}
	if s := r.Streak; s != nil {
		hr.Streak = fmt.Sprintf("%s ×%d", s.Outcome, s.Runs)
	}
	var note []string
	if r.FirstFailing != nil {
		note = append(note, "first failing "+atText(h, *r.FirstFailing))
	}
	if r.LastPassing != nil {
		note = append(note, "last passing "+atText(h, *r.LastPassing))
	}
	note = append(note, fmt.Sprintf("%d %s (%d in the last %d runs)", len(r.Flips), plural(len(r.Flips), "flip"), r.RecentFlips, h.Flaky.Runs))
	hr.Note = strings.Join(note, "; ")
	anchors := map[string]int{}
	for n, m := range r.Marks {
		sq := square{Class: "sq-none", Title: h.Nights[n].Run + ": not run"}
		cls, text := markClass(m, r.Flaky)
		if cls != "" {
			sq.Class, sq.Text = cls, text
			st := m.Status
			if st == "" {
				st = "not run (cell: " + m.Cell + ")"
			}
			t := fmt.Sprintf("%s, %s: %s; series: %s; tree %s; %s", h.Nights[n].Run, day(h.Nights[n].Started), st, orBase(m.Series), short(m.Tree), m.Accel)
			if m.Known != "" {
				t += "; known: " + m.Known
			}
			if m.Reason != "" {
				t += "; " + m.Reason
			}
			sq.Title = t
			clear(anchors)
			sq.Href = reportHref(h.Nights[n].Dir, anchor(m.CellID, anchors))
		}
		hr.Squares = append(hr.Squares, sq)
	}
	return hr
}

// markClass is a square's colour and letter: a known failure is "known"
// whether or not the row is flaky, a flaky row's failures are "flaky".
func markClass(m history.Mark, flaky bool) (string, string) {
	switch {
	case m.Status == "" && m.Cell == "":
		return "", ""
	case m.Status == "":
		return "sq-absent", "·"
	case m.Outcome() == "pass":
		return "sq-pass", "✓"
	case m.Outcome() == "fail" && m.Known != "":
		return "sq-known", "K"
	case m.Outcome() == "fail" && flaky:
		return "sq-flaky", "~"
	case m.Outcome() == "fail":
		return "sq-fail", "✗"
	}
	return "sq-skip", "–"
}

// reportHref links a night's report.html (and a cell's anchor in it),
// each path element escaped; "" when dir is empty.
func reportHref(dir, frag string) string {
	if dir == "" {
		return ""
	}
	var parts []string
	for _, e := range strings.Split(filepath.ToSlash(dir), "/") {
		parts = append(parts, url.PathEscape(e))
	}
	href := strings.Join(parts, "/") + "/" + HTMLFile
	if filepath.IsAbs(dir) {
		href = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/" + HTMLFile}).String()
	}
	if frag != "" {
		href += "#" + frag
	}
	return href
}

func atText(h *history.History, a history.At) string {
	return fmt.Sprintf("night %d (%s, tree %s)", a.Night+1, orBase(a.Series), short(a.Tree))
}

func flipList(h *history.History, r history.Row) string {
	var fl []string
	for _, f := range r.Flips {
		fl = append(fl, fmt.Sprintf("%s→%s night %d (%s)", f.From, f.To, f.Night+1, orBase(f.Series)))
	}
	return strings.Join(fl, ", ")
}

// webLink is s when it is an http(s) URL, else "" (shown as text only).
func webLink(s string) string {
	if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		return s
	}
	return ""
}

func orBase(series string) string {
	if series == "" {
		return "base tree"
	}
	return series
}

func short(tree string) string {
	if tree == "" {
		return "?"
	}
	if len(tree) > 12 {
		tree = tree[:12]
	}
	return result.Clean(tree, 12)
}

func day(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// FlakyMarkdown is the summary.md section that labels a run's flaky
// (cell, test)s, with each one's flips, from an earlier night's history;
// "" when there are none.
func FlakyMarkdown(historyFile string, notes []history.Note) string {
	if len(notes) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Flaky, by the history in %s\n\n", md(historyFile))
	fmt.Fprintf(&b, "| cell | test | tonight | flips in its last %d runs (flaky from %d) | flips |\n|---|---|---|---|---|\n", notes[0].Rule.Runs, notes[0].Rule.Flips)
	for _, n := range notes {
		test := n.Test
		if test == "" {
			test = "(cell verdict)"
		}
		var fl []string
		for _, f := range n.Row.Flips {
			run, when := f.Run, "?"
			if f.Night >= 0 && f.Night < len(n.Nights) {
				when = day(n.Nights[f.Night].Started)
			}
			fl = append(fl, fmt.Sprintf("%s→%s %s (%s, series %s)", f.From, f.To, md(run), when, md(orBase(f.Series))))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s |\n", md(n.CellID), md(test), md(n.Tonight), n.Row.RecentFlips, strings.Join(fl, "<br>"))
	}
	return b.String()
}
