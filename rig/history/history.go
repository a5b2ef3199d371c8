// Package history follows (cell, test) results across nights of runs:
// first failing, last passing, the current streak, flips and flaky rows,
// matched like with like (docs/design.md, "History"). It reads run.json
// files as untrusted input and writes history.json; rig/report draws
// history.html from it.
package history

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// Version is history.json's format version.
const Version = 1

// Limits on untrusted text kept from run.json, in runes.
const (
	maxName   = 120
	maxReason = 300
)

// Rule says which rows are flaky: at least Flips flips in the last Runs
// results of the row.
type Rule struct {
	Flips int `json:"flips"`
	Runs  int `json:"runs"`
}

// DefaultRule: 3 flips in the last 10 results. A regression flips once, a
// regression fixed and broken again twice; a third flip within ten nights
// is no longer a story about the tree.
var DefaultRule = Rule{Flips: 3, Runs: 10}

// ParseRule reads "N/M".
func ParseRule(s string) (Rule, error) {
	a, b, ok := strings.Cut(s, "/")
	n, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || m < 2 || n >= m {
		return Rule{}, fmt.Errorf("flaky rule %q: want N/M, N flips in the last M runs, 1 <= N < M (such as %d/%d)", s, DefaultRule.Flips, DefaultRule.Runs)
	}
	return Rule{Flips: n, Runs: m}, nil
}

func (r Rule) String() string { return fmt.Sprintf("%d/%d", r.Flips, r.Runs) }

// History is history.json: the nights, oldest first, and one row per
// (cell identity, test).
type History struct {
	Version int     `json:"version"`
	Flaky   Rule    `json:"flaky"`
	Nights  []Night `json:"nights"`
	Rows    []Row   `json:"rows"`
}

// Night is one run, as the history saw it. Dir is the run directory as
// it was given; the page links to Dir/report.html.
type Night struct {
	Run     string    `json:"run"`
	Dir     string    `json:"dir"`
	Started time.Time `json:"started"`
	Status  string    `json:"status"`
	Series  string    `json:"series,omitempty"` // base names, joined by ", "
}

// Identity is what a row matches from night to night: a result is
// compared only with results of the same arch, accelerator asked for
// (the cell's recorded request; "auto" stays "auto" whatever it became,
// so a night whose build failed before any boot is in the same row, and
// Mark.Accel says what each night really used), config fragments, series
// role and repeat. Role is "unpatched" (no
// series), "patched" (a series; the series may change from night to
// night), or "baseline" (the base half of a --baseline run); it names the
// series too, "patched example", when one run has two cells that would
// otherwise match, and the cell ID when even that does not tell them apart.
type Identity struct {
	Arch   string `json:"arch"`
	Accel  string `json:"accel"`
	Config string `json:"config"`
	Role   string `json:"role"`
	Repeat int    `json:"repeat"`
}

func (id Identity) String() string {
	return fmt.Sprintf("%s %s %s %s r%d", id.Arch, id.Accel, id.Config, id.Role, id.Repeat)
}

// Mark is a row's result on one night. An empty Status with an empty Cell
// is a night the row did not run in; an empty Status with Cell set is a
// night its cell ran but the test did not (Cell says why: build-error...).
type Mark struct {
	Status string `json:"status,omitempty"` // the test's (or, on a cell row, the cell's counted) status
	Cell   string `json:"cell,omitempty"`   // the cell's counted status
	Accel  string `json:"accel,omitempty"`  // the accelerator the cell really used
	Known  string `json:"known,omitempty"`  // the known issue the failure matched
	CellID string `json:"cell_id,omitempty"`
	Tree   string `json:"tree,omitempty"`   // git tree hash of the tested source
	Series string `json:"series,omitempty"` // the series' base name; "" the base tree
	Reason string `json:"reason,omitempty"` // why it did not pass
}

// Outcome is a mark reduced to what flips: "pass", "fail" or "" (did not
// run, skipped, or the infrastructure failed).
func (m Mark) Outcome() string {
	switch m.Status {
	case "pass":
		return "pass"
	case "fail", "error", string(result.PatchError), string(result.BuildError), string(result.BootError), string(result.Timeout):
		return "fail"
	}
	return ""
}

// At names a night of a row: where something happened, with the tree
// hash and series of that night's cell.
type At struct {
	Night  int    `json:"night"` // index into Nights
	Run    string `json:"run"`
	Tree   string `json:"tree,omitempty"`
	Series string `json:"series,omitempty"`
}

// Flip is a change of outcome between two consecutive results of a row.
type Flip struct {
	At
	From string `json:"from"`
	To   string `json:"to"`
}

// Streak is the row's latest run of one outcome: Runs results long, since
// Since; After is the result before it (nil when the streak is the whole
// history), so Since and After are where it changed.
type Streak struct {
	Outcome string `json:"outcome"`
	Runs    int    `json:"runs"`
	Since   At     `json:"since"`
	After   *At    `json:"after,omitempty"`
}

// Row is one (cell identity, test); Test "" is the cell's own verdict.
type Row struct {
	Identity
	Test         string  `json:"test"`
	Marks        []Mark  `json:"marks"` // one per night
	FirstFailing *At     `json:"first_failing,omitempty"`
	LastPassing  *At     `json:"last_passing,omitempty"`
	Streak       *Streak `json:"streak,omitempty"`
	Flips        []Flip  `json:"flips,omitempty"`
	// RecentFlips counts the flips within the rule's last Runs results.
	RecentFlips int    `json:"recent_flips"`
	Flaky       bool   `json:"flaky,omitempty"`
	Known       string `json:"known,omitempty"` // the latest known issue its failures matched
}

// Build makes the history of runs (in any order; each with the directory
// it came from) under rule.
func Build(runs []Loaded, rule Rule) *History {
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i].Run, runs[j].Run
		if !a.Started.Equal(b.Started) {
			return a.Started.Before(b.Started)
		}
		return a.ID < b.ID
	})
	h := &History{Version: Version, Flaky: rule}
	rows := map[rowKey]*Row{}
	var order []rowKey
	for n, l := range runs {
		r := l.Run
		h.Nights = append(h.Nights, Night{
			Run: clean(r.ID), Dir: l.Dir, Started: r.Started, Status: clean(string(r.Status)), Series: seriesNames(r),
		})
		ids := Identities(r)
		for ci, c := range r.Cells {
			st, cause := judged(c)
			base := Mark{Cell: clean(string(st)), Accel: clean(c.Accel), CellID: clean(c.ID), Tree: clean(c.TreeID), Series: SeriesName(c.Series)}
			put := func(test string, m Mark) {
				k := rowKey{ids[ci], test}
				row := rows[k]
				if row == nil {
					row = &Row{Identity: k.id, Test: test}
					rows[k] = row
					order = append(order, k)
				}
				for len(row.Marks) < n {
					row.Marks = append(row.Marks, Mark{})
				}
				if len(row.Marks) == n {
					row.Marks = append(row.Marks, m)
				} // else: a second cell of one identity in one run; Identities prevents it
			}
			cm := base
			cm.Status, cm.Known = cm.Cell, clean(c.Known)
			cm.Reason = reason(cm, cause)
			put("", cm)
			for _, t := range c.Tests {
				tm := base
				tm.Status, tm.Known = clean(t.Status), clean(t.Known)
				tm.Reason = reason(tm, t.Reason)
				put(clean(t.Name), tm)
			}
		}
	}
	for _, k := range order {
		row := rows[k]
		for len(row.Marks) < len(h.Nights) {
			row.Marks = append(row.Marks, Mark{})
		}
		row.summarize(h.Nights, rule)
		h.Rows = append(h.Rows, *row)
	}
	// Tests that never ran on some night still have their cell's marks.
	for i := range h.Rows {
		row := &h.Rows[i]
		if row.Test == "" {
			continue
		}
		cell := rows[rowKey{row.Identity, ""}]
		for n, m := range row.Marks {
			if m.Cell == "" && cell.Marks[n].Cell != "" {
				cm := cell.Marks[n]
				row.Marks[n] = Mark{Cell: cm.Cell, Accel: cm.Accel, CellID: cm.CellID, Tree: cm.Tree, Series: cm.Series, Reason: cm.Reason}
			}
		}
	}
	sort.SliceStable(h.Rows, func(i, j int) bool {
		a, b := h.Rows[i], h.Rows[j]
		if a.Identity != b.Identity {
			return a.Identity.String() < b.Identity.String()
		}
		return a.Test < b.Test
	})
	return h
}

// judged is the cell's status as judged against its baseline, known or
// not: a known failure is still a failure here (coloured known, and no
// flip when an issue becomes known), where Counts makes it a pass.
func judged(c result.Cell) (result.Status, string) {
	if c.Verdict != "" {
		return c.Verdict, c.VerdictCause
	}
	return c.Status, c.Cause
}

// reason keeps why a result was not a pass; a pass's reason says what
// passed, every night the same, and would be most of history.json.
func reason(m Mark, why string) string {
	if m.Outcome() == "pass" {
		return ""
	}
	return cleanN(why, maxReason)
}

type rowKey struct {
	id   Identity
	test string
}

// summarize fills in the row's first failing, last passing, streak, flips
// and flaky label from its marks.
func (row *Row) summarize(nights []Night, rule Rule) {
	at := func(n int) At {
		m := row.Marks[n]
		return At{Night: n, Run: nights[n].Run, Tree: m.Tree, Series: m.Series}
	}
	var seen []int // nights with an outcome
	for n, m := range row.Marks {
		o := m.Outcome()
		if o == "" {
			continue
		}
		if m.Known != "" {
			row.Known = m.Known
		}
		if o == "fail" && row.FirstFailing == nil {
			a := at(n)
			row.FirstFailing = &a
		}
		if o == "pass" {
			a := at(n)
			row.LastPassing = &a
		}
		if len(seen) > 0 {
			if prev := row.Marks[seen[len(seen)-1]].Outcome(); prev != o {
				row.Flips = append(row.Flips, Flip{At: at(n), From: prev, To: o})
			}
		}
		seen = append(seen, n)
	}
	if len(seen) == 0 {
		return
	}
	last := seen[len(seen)-1]
	s := &Streak{Outcome: row.Marks[last].Outcome()}
	i := len(seen) - 1
	for i >= 0 && row.Marks[seen[i]].Outcome() == s.Outcome {
		i--
	}
	s.Runs = len(seen) - 1 - i
	s.Since = at(seen[i+1])
	if i >= 0 {
		a := at(seen[i])
		s.After = &a
	}
	row.Streak = s
	// Flips within the last rule.Runs results: those landing on one of
	// its last Runs-1 results (the first of the window has no predecessor
	// inside it).
	window := seen
	if len(window) > rule.Runs {
		window = window[len(window)-rule.Runs:]
	}
	for _, f := range row.Flips {
		if f.Night > window[0] {
			row.RecentFlips++
		}
	}
	row.Flaky = rule.Flips > 0 && row.RecentFlips >= rule.Flips
}

// Identities returns the row identity of each cell of r (see Identity).
func Identities(r *result.Run) []Identity {
	ids := make([]Identity, len(r.Cells))
	for i, c := range r.Cells {
		role := "patched"
		switch {
		case c.Role == "baseline":
			role = "baseline"
		case c.Series == "":
			role = "unpatched"
		}
		if c.PrefixOf > 0 {
			role += fmt.Sprintf(" %d/%d", c.Prefix, c.PrefixOf)
		}
		accel := c.Accel
		if c.Inputs != nil && c.Inputs.Accel != "" {
			accel = c.Inputs.Accel
		}
		ids[i] = Identity{Arch: clean(c.Arch), Accel: clean(accel), Config: clean(c.Config), Role: role, Repeat: repeat(c.ID)}
	}
	// Disambiguate: first by series, then by cell ID.
	for _, by := range []func(result.Cell) string{
		func(c result.Cell) string { return SeriesName(c.Series) },
		func(c result.Cell) string { return clean(c.ID) },
	} {
		count := map[Identity]int{}
		for _, id := range ids {
			count[id]++
		}
		for i, c := range r.Cells {
			if count[ids[i]] > 1 {
				if s := by(c); s != "" {
					ids[i].Role += " " + s
				}
			}
		}
	}
	return ids
}

var repeatRE = regexp.MustCompile(`-r([0-9]{1,6})$`)

// repeat is the repeat number a matrix cell ID ends with ("-r2"), 1 when
// it has none.
func repeat(id string) int {
	if m := repeatRE.FindStringSubmatch(id); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

// SeriesName is a series as a row shows it: its path's last element ("" the
// base tree).
func SeriesName(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return clean(s)
}

func seriesNames(r *result.Run) string {
	var out []string
	for _, c := range r.Cells {
		if n := SeriesName(c.Series); n != "" && !contains(out, n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, ", ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func clean(s string) string { return result.Clean(s, maxName) }

func cleanN(s string, n int) string { return result.Clean(s, n) }

// Note is a flaky row of an earlier history that a new run's cell
// belongs to, for that run's summary.
type Note struct {
	CellID  string
	Test    string // "" the cell's verdict
	Tonight string // the test's (or cell's) status in the new run
	Row     Row
	Nights  []Night // the history's, for the flips' runs and dates
	Rule    Rule
}

// FlakyNotes matches r's cells and tests against h's rows (by identity
// and test name) and returns those whose row h labels flaky.
func FlakyNotes(h *History, r *result.Run) []Note {
	flaky := map[rowKey]Row{}
	for _, row := range h.Rows {
		if row.Flaky {
			flaky[rowKey{row.Identity, row.Test}] = row
		}
	}
	var out []Note
	if len(flaky) == 0 {
		return nil
	}
	ids := Identities(r)
	for i, c := range r.Cells {
		st, _ := judged(c)
		if row, ok := flaky[rowKey{ids[i], ""}]; ok {
			out = append(out, Note{CellID: clean(c.ID), Tonight: clean(string(st)), Row: row, Nights: h.Nights, Rule: h.Flaky})
		}
		for _, t := range c.Tests {
			if row, ok := flaky[rowKey{ids[i], clean(t.Name)}]; ok {
				out = append(out, Note{CellID: clean(c.ID), Test: clean(t.Name), Tonight: clean(t.Status), Row: row, Nights: h.Nights, Rule: h.Flaky})
			}
		}
	}
	return out
}
