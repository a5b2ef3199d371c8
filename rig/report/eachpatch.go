package report

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rig-kernel/rig/rig/result"
)

// The table of a `rig run --each-patch` (rig/run/eachpatch.go): per arch,
// a row per prefix of the series (the base tree first, with --baseline)
// and a column per stage, test and the oops check, and under it the first
// patch that broke each column.

// Values of a table cell.
const (
	cellPass     = "pass"
	cellFail     = "FAIL"
	cellSkip     = "skip"
	cellError    = "ERROR"
	cellNotTried = "not-tried"
	cellNone     = "-" // not reached, or not run by this prefix
)

// PatchTable is one arch's table of a --each-patch run.
type PatchTable struct {
	Title   string   // "x86_64 tcg [base+x86_64]"
	Columns []string // apply, build, boot, the tests, oops
	Rows    []PatchRow
	// First says, per column that failed, which patch first broke it.
	First []string
}

// PatchRow is one prefix: the series' first Prefix patches (0: the base
// tree, the baseline).
type PatchRow struct {
	Prefix  int
	Name    string // the prefix's last patch
	Subject string
	Cells   []string // one per column
	detail  []string // per column: why it failed (cause, reason, oops)
}

// Label is the row's name on the screen: "base tree" or "4 0004-...",
// without the ".patch" every name ends with.
func (r PatchRow) Label() string {
	if r.Prefix == 0 {
		return "base tree"
	}
	return strconv.Itoa(r.Prefix) + " " + strings.TrimSuffix(r.Name, ".patch")
}

// PatchTables returns the tables of a --each-patch run, one per arch,
// config and accelerator, in the run's order; nil for any other run.
func PatchTables(r *result.Run) []PatchTable {
	var keys []string
	groups := map[string][]result.Cell{}
	for _, c := range r.Cells {
		if c.Prefix == 0 {
			continue
		}
		k := strings.Join(strings.Fields(fmt.Sprintf("%s %s [%s]", c.Arch, c.Accel, c.Config)), " ") // no accel before a boot
		if groups[k] == nil {
			keys = append(keys, k)
			for _, b := range r.Cells { // the base tree first
				if b.Role == "baseline" && b.Arch == c.Arch && b.Config == c.Config {
					groups[k] = append(groups[k], b)
				}
			}
		}
		groups[k] = append(groups[k], c)
	}
	var out []PatchTable
	for _, k := range keys {
		out = append(out, patchTable(k, r.Tests, groups[k]))
	}
	return out
}

// patchTable makes one arch's table; its test columns are the run's tests
// (those it asked for, so that a test no prefix reached still has its
// column), then any other test a cell reported.
func patchTable(title string, tests []string, cells []result.Cell) PatchTable {
	t := PatchTable{Title: title, Columns: []string{"apply", "build", "boot"}}
	seen := map[string]bool{}
	for _, x := range tests {
		if !seen[x] {
			seen[x] = true
			t.Columns = append(t.Columns, x)
		}
	}
	for _, c := range cells {
		for _, x := range c.Tests {
			if !seen[x.Name] {
				seen[x.Name] = true
				t.Columns = append(t.Columns, x.Name)
			}
		}
	}
	t.Columns = append(t.Columns, "oops")
	for _, c := range cells {
		t.Rows = append(t.Rows, patchRow(c, t.Columns))
	}
	t.First = firstFailures(t)
	return t
}

// patchRow reads one prefix's cell into the table's columns.
func patchRow(c result.Cell, columns []string) PatchRow {
	row := PatchRow{Prefix: c.Prefix, Name: c.PatchName, Subject: c.PatchSubject,
		Cells: make([]string, len(columns)), detail: make([]string, len(columns))}
	has := func(stage string) bool {
		for _, s := range c.Stages {
			if s.Name == stage {
				return true
			}
		}
		return false
	}
	for i := range row.Cells {
		row.Cells[i] = cellNone
	}
	// The causes of prefix cells start with their prefix, which the
	// table says already (rig/run/eachpatch.go, namePrefixes).
	cause := strings.TrimPrefix(c.Cause, fmt.Sprintf("after patch %d/%d (%s): ", c.Prefix, c.PrefixOf, c.PatchName))
	set := func(i int, v, why string) { row.Cells[i], row.detail[i] = v, why }
	n := len(columns)
	switch {
	case c.NotTried:
		set(0, cellNotTried, cause)
	case c.Status == result.PatchError:
		set(0, cellFail, cause)
	case has("apply"):
		set(0, cellPass, "")
	}
	switch {
	case c.Status == result.BuildError:
		set(1, cellFail, cause)
	case c.KernelImage != "":
		set(1, cellPass, "")
	}
	switch {
	case c.Status == result.BootError:
		set(2, cellFail, cause)
	case has("tests"): // the guest spoke
		set(2, cellPass, "")
	}
	for _, x := range c.Tests {
		for i := 3; i < n-1; i++ {
			if columns[i] != x.Name {
				continue
			}
			switch x.Status {
			case "pass":
				set(i, cellPass, "")
			case "fail":
				set(i, cellFail, x.Reason)
			case "skip":
				set(i, cellSkip, "")
			default:
				set(i, cellError, x.Reason)
			}
		}
	}
	switch {
	case len(c.Oopses) > 0:
		o := c.Oopses[0]
		set(n-1, cellFail, fmt.Sprintf("kernel %s: %s (%s/console.log:%d)", o.Kind, o.Title, c.ID, o.Line))
	case has("tests"):
		set(n-1, cellPass, "")
	}
	// A cell the rig could not finish says so where it stopped.
	if c.Status == result.InfraError || c.Status == result.Interrupted || c.Status == result.Timeout {
		for i, v := range row.Cells {
			if v == cellNone && (i < 3 || i == n-1) {
				set(i, string(c.Status), cause)
				break
			}
		}
	}
	return row
}

// firstFailures says, for each column that failed on some row, which patch
// broke it first, and after which patches it fails.
func firstFailures(t PatchTable) []string {
	var out []string
	for i, col := range t.Columns {
		var failed []string
		first := -1
		for j, r := range t.Rows {
			if r.Cells[i] == cellFail || r.Cells[i] == cellError {
				if first < 0 {
					first = j
				}
				if r.Prefix > 0 {
					failed = append(failed, strconv.Itoa(r.Prefix))
				}
			}
		}
		if first < 0 {
			continue
		}
		r := t.Rows[first]
		var line string
		switch {
		case r.Prefix == 0:
			line = fmt.Sprintf("%s: fails on the base tree already", col)
		case col == "apply":
			line = fmt.Sprintf("apply: patch %d (%s) does not apply", r.Prefix, patchName(r))
			if rest := len(t.Rows) - first - 1; rest > 0 {
				line += fmt.Sprintf("; the %d after it not tried", rest)
			}
		default:
			line = fmt.Sprintf("%s: first fails after patch %d (%s)", col, r.Prefix, patchName(r))
		}
		if col != "apply" && len(failed) > 1 {
			line += "; fails after " + strings.Join(failed, ", ")
		}
		if d := r.detail[i]; d != "" && col != "apply" {
			line += ": " + d
		}
		out = append(out, result.Clean(line, 500))
	}
	if len(out) == 0 && len(t.Rows) > 0 {
		out = append(out, "no patch broke anything: every prefix passed")
	}
	return out
}

func patchName(r PatchRow) string {
	if r.Subject == "" {
		return r.Name
	}
	return r.Name + `, "` + r.Subject + `"`
}

// PatchTablesText renders the tables for the screen.
func PatchTablesText(r *result.Run) string {
	var b strings.Builder
	for _, t := range PatchTables(r) {
		fmt.Fprintf(&b, "each patch: %s\n", t.Title)
		w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "  after patch\t%s\n", strings.Join(t.Columns, "\t"))
		for _, row := range t.Rows {
			fmt.Fprintf(w, "  %s\t%s\n", result.Clean(row.Label(), 66), strings.Join(row.Cells, "\t"))
		}
		w.Flush()
		for _, l := range t.First {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String()
}

// PatchTablesMarkdown renders the tables for summary.md.
func PatchTablesMarkdown(r *result.Run) string {
	var b strings.Builder
	for _, t := range PatchTables(r) {
		fmt.Fprintf(&b, "\n## Each patch: %s\n\n", md(t.Title))
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = md(c)
		}
		fmt.Fprintf(&b, "| # | patch | subject | %s |\n|---|---|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
		for _, row := range t.Rows {
			num, name := strconv.Itoa(row.Prefix), md(row.Name)
			if row.Prefix == 0 {
				num, name = "0", "base tree"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", num, name, md(row.Subject), strings.Join(row.Cells, " | "))
		}
		b.WriteString("\n")
		for _, l := range t.First {
			fmt.Fprintf(&b, "- %s\n", md(l))
		}
	}
	return b.String()
}

// prefixNote names a --each-patch cell's prefix in its screen header.
func prefixNote(c result.Cell) string {
	switch {
	case c.Prefix == 0:
		return ""
	case c.NotTried:
		return fmt.Sprintf(" patches 1-%d/%d: not tried", c.Prefix, c.PrefixOf)
	}
	return fmt.Sprintf(" after patch %d/%d (%s)", c.Prefix, c.PrefixOf, result.Clean(c.PatchName, 80))
}

// junitSuiteName names a cell's suite: a --each-patch cell's names its
// prefix and patch.
func junitSuiteName(c result.Cell) string {
	if c.Prefix == 0 {
		return c.ID
	}
	return fmt.Sprintf("%s: after patch %d/%d %s", c.ID, c.Prefix, c.PrefixOf, result.Clean(c.PatchName, 200))
}

// patchTableView is a PatchTable for report.html.
type patchTableView struct {
	Title   string
	Columns []string
	Rows    []patchRowView
	First   []string
}

type patchRowView struct {
	Label, Subject string
	Cells          []struct{ Value, Class string }
}

// patchTableViews are the run's patch tables, cleaned for the page.
func patchTableViews(r *result.Run) []patchTableView {
	var out []patchTableView
	for _, t := range PatchTables(r) {
		v := patchTableView{Title: result.Clean(t.Title, maxLine)}
		for _, c := range t.Columns {
			v.Columns = append(v.Columns, result.Clean(c, maxName))
		}
		for _, row := range t.Rows {
			rv := patchRowView{Label: result.Clean(row.Label(), maxName), Subject: result.Clean(row.Subject, maxLine)}
			for _, c := range row.Cells {
				class := map[string]string{cellPass: "pass", cellFail: "fail", cellSkip: "skip", cellError: "error", cellNone: "none"}[c]
				if class == "" {
					class = c // not-tried, infra-error, ...
				}
				rv.Cells = append(rv.Cells, struct{ Value, Class string }{c, statusClass(class)})
			}
			v.Rows = append(v.Rows, rv)
		}
		for _, l := range t.First {
			v.First = append(v.First, result.Clean(l, maxLine))
		}
		out = append(out, v)
	}
	return out
}
