// Package report renders a result.Run, never changing it: the screen
// summary, summary.md, junit.xml, report.html, kcidb.json (KCIDB v4) and
// the diff of two runs. Text from the kernel under test is untrusted:
// cleaned with result.Clean and, in HTML, escaped by html/template.
package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/result"
)

//go:embed report.html.tmpl
var pageSource string

var pageTmpl = template.Must(template.New("report.html").Parse(pageSource))

// HTMLFile is the name of the HTML report in a run directory.
const HTMLFile = "report.html"

// HTML renders the report of r. Links to cell logs are relative to the run
// directory (<cell-id>/console.log) and are written whether or not the
// files exist; WriteHTML checks them.
func HTML(w io.Writer, r *result.Run) error {
	return pageTmpl.Execute(w, buildPage(r, ""))
}

// WriteHTML (re)writes dir/report.html atomically. Links to log files that
// are not in dir are left out, so every link in the page resolves.
func WriteHTML(dir string, r *result.Run) error {
	p := buildPage(r, dir)
	return atomicfile.WriteWith(filepath.Join(dir, HTMLFile), 0o644, func(w io.Writer) error {
		return pageTmpl.Execute(w, p)
	})
}

// Limits for untrusted text, in runes.
const (
	maxLine   = 500
	maxName   = 120
	maxReason = 2000
)

// knownStatus lists the statuses with a colour; anything else (a newer
// guest, a hand-edited run.json) renders as "unknown" rather than reaching
// a class attribute.
var knownStatus = map[string]bool{
	"pass": true, "fail": true, "skip": true, "error": true,
	"patch-error": true, "build-error": true, "boot-error": true, "timeout": true,
	"infra-error": true, "interrupted": true,
}

func statusClass(s string) string {
	if knownStatus[s] {
		return "st-" + s
	}
	return "st-unknown"
}

type page struct {
	ID, Status, Class, Cause string
	Series                   []string         // result.BaselineVerdicts: one line per arch
	Patches                  []patchTableView // --each-patch: one table per arch
	Meta                     []kv
	Tests                    []string // table columns
	Rows                     []row
	Legend                   []legendItem
}

type kv struct{ K, V string }

type legendItem struct{ Status, Class string }

type link struct {
	Name, Href string
}

type row struct {
	ID, Anchor, Desc, Status, Class, Cause string
	Links                                  []link
	Missing                                []string // log files absent from the run directory
	Cells                                  []tcell
	Tests                                  []testView
	Oopses                                 []oopsView
	Timeline                               *timeline
	Repro                                  []kv
}

// oopsView is a kernel report: its line and its stack, a frame a line.
type oopsView struct {
	Line  string
	Stack []string
}

type tcell struct {
	Present                          bool
	Status, Class, Label, LabelClass string
	Title                            string
}

type testView struct {
	Name, Status, Class, Label, LabelClass, Reason, Compare string
	Extra                                                   []kv
}

func buildPage(r *result.Run, dir string) page {
	p := page{
		ID:     result.Clean(r.ID, maxName),
		Status: string(r.Status),
		Class:  statusClass(string(r.Status)),
		Cause:  result.Clean(r.Cause, maxLine),
	}
	for _, l := range BaselineVerdicts(r) {
		p.Series = append(p.Series, result.Clean(l, maxLine))
	}
	p.Patches = patchTableViews(r)
	add := func(k, v string) {
		if v != "" {
			p.Meta = append(p.Meta, kv{k, result.Clean(v, maxLine)})
		}
	}
	add("kernel source", r.KernelSource)
	add("series", r.Series)
	add("configs", strings.Join(r.Configs, ", "))
	if !r.Started.IsZero() {
		add("started", r.Started.UTC().Format(time.RFC3339))
	}
	if !r.Finished.IsZero() && !r.Started.IsZero() {
		add("wall time", dur(r.Finished.Sub(r.Started)))
	}
	if r.Seed != 0 {
		add("seed", fmt.Sprint(r.Seed))
	}
	add("command", strings.Join(r.Command, " "))
	h := r.Host
	var host []string
	for _, s := range []string{h.Hostname, h.Kernel, h.GoVersion, h.GCC} {
		if s != "" {
			host = append(host, s)
		}
	}
	if h.CPUs > 0 {
		host = append(host, fmt.Sprintf("%d CPUs", h.CPUs))
	}
	add("host", strings.Join(host, "; "))
	add("rig commit", h.RigCommit)

	for _, s := range []string{"pass", "fail", "skip", "error", "patch-error", "build-error", "boot-error", "timeout", "infra-error", "interrupted"} {
		p.Legend = append(p.Legend, legendItem{s, statusClass(s)})
	}

	// Columns: every test name, in the order the cells first report them.
	seen := map[string]bool{}
	for _, c := range r.Cells {
		for _, t := range c.Tests {
			if !seen[t.Name] {
				seen[t.Name] = true
				p.Tests = append(p.Tests, t.Name)
			}
		}
	}
	anchors := map[string]int{}
	for _, c := range r.Cells {
		p.Rows = append(p.Rows, buildRow(c, p.Tests, dir, anchors))
	}
	for i, n := range p.Tests {
		p.Tests[i] = result.Clean(n, maxName)
	}
	return p
}

func buildRow(c result.Cell, columns []string, dir string, anchors map[string]int) row {
	rw := row{
		ID:     result.Clean(c.ID, maxName),
		Anchor: anchor(c.ID, anchors),
		Status: string(c.Status),
		Class:  statusClass(string(c.Status)),
		Cause:  result.Clean(c.Cause+knownNote(c.Known), maxLine),
	}
	var desc []string
	for _, s := range []string{c.Arch, c.Accel, c.Config} {
		if s != "" {
			desc = append(desc, s)
		}
	}
	if c.Role != "" {
		desc = append(desc, "("+c.Role+")")
	}
	if n := strings.TrimSpace(prefixNote(c)); n != "" {
		desc = append(desc, n)
	}
	rw.Desc = result.Clean(strings.Join(desc, " "), maxLine)
	for _, name := range []string{"console.log", "dmesg.txt", "build.log", "kernel.config", "events.jsonl"} {
		if dir != "" && c.ID != "" {
			if !safefile.RegularUnder(dir, c.ID, name) {
				if name == "console.log" || name == "dmesg.txt" {
					rw.Missing = append(rw.Missing, name)
				}
				continue
			}
		} else if name != "console.log" && name != "dmesg.txt" {
			continue // without a directory, link only the two logs every booted cell has
		}
		rw.Links = append(rw.Links, link{name, cellHref(c.ID, name)})
	}
	byName := map[string]result.Test{}
	for _, t := range c.Tests {
		if _, dup := byName[t.Name]; !dup {
			byName[t.Name] = t
		}
	}
	for _, n := range columns {
		t, ok := byName[n]
		if !ok {
			rw.Cells = append(rw.Cells, tcell{})
			continue
		}
		title := result.Clean(t.Reason+knownNote(t.Known), maxLine)
		label := t.Label
		if label == "" && t.Known != "" {
			label = "known"
		}
		rw.Cells = append(rw.Cells, tcell{
			Present:    true,
			Status:     result.Clean(t.Status, 20),
			Class:      statusClass(t.Status),
			Label:      result.Clean(label, 30),
			LabelClass: labelClass(label),
			Title:      title,
		})
	}
	for _, t := range c.Tests {
		tv := testView{
			Name:       result.Clean(t.Name, maxName),
			Status:     result.Clean(t.Status, 20),
			Class:      statusClass(t.Status),
			Label:      result.Clean(t.Label, 30),
			LabelClass: labelClass(t.Label),
			Reason:     result.Clean(t.Reason, maxReason),
			Compare:    result.Clean(t.Compare, maxLine),
		}
		if t.Known != "" {
			tv.Extra = append(tv.Extra, kv{"known issue", result.Clean(t.Known, maxLine)})
		}
		if t.Seed != 0 {
			tv.Extra = append(tv.Extra, kv{"seed", fmt.Sprint(t.Seed)})
		}
		if t.Seconds > 0 {
			tv.Extra = append(tv.Extra, kv{"time", fmt.Sprintf("%.1fs", t.Seconds)})
		}
		keys := make([]string, 0, len(t.Evidence))
		for k := range t.Evidence {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			tv.Extra = append(tv.Extra, kv{result.Clean(k, 60), result.Clean(t.Evidence[k], maxLine)})
		}
		rw.Tests = append(rw.Tests, tv)
	}
	for _, o := range c.Oopses {
		rw.Oopses = append(rw.Oopses, oopsView{Line: oopsLine(o, maxLine), Stack: stackLines(o)})
	}
	rw.Timeline = buildTimeline(c.Stages)
	add := func(k, v string) {
		if v != "" {
			rw.Repro = append(rw.Repro, kv{k, result.Clean(v, 4000)})
		}
	}
	if c.Reproduce != "" {
		add("replay (from the run directory)", "sh "+shellQuote([]string{path.Join(c.ID, c.Reproduce)}))
	}
	if len(c.Kept) > 0 {
		add("kept with the results", fmt.Sprintf("%s (%d KiB)", strings.Join(c.Kept, ", "), c.KeptBytes>>10))
	}
	add("kernel release", c.KernelRelease)
	add("tree id", c.TreeID)
	add("QEMU", c.QEMUVersion)
	add("kernel cmdline", c.Cmdline)
	if c.Seed != 0 {
		add("seed", fmt.Sprint(c.Seed))
	}
	add("QEMU argv", strings.Join(c.QEMUArgv, " "))
	return rw
}

// labelClass colours the baseline labels (run.Label's vocabulary).
func labelClass(l string) string {
	switch l {
	case "fixed", "regressed", "still-failing", "passing":
		return "lb-" + l
	}
	return "lb-other"
}

// cellHref is a link relative to the run directory. The "./" prefix keeps
// an id that looks like a URL scheme ("javascript:...") a path.
func cellHref(id, name string) string {
	return "./" + url.PathEscape(id) + "/" + name
}

// anchor makes a unique fragment id from a cell id.
func anchor(id string, used map[string]int) string {
	a := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
	if len(a) > 80 {
		a = a[:80]
	}
	a = "cell-" + a
	used[a]++
	if n := used[a]; n > 1 {
		a = fmt.Sprintf("%s-%d", a, n)
	}
	return a
}

func dur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
