package report

import (
	"encoding/xml"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/result"
)

// Screen is the one-screen summary printed at the end of a run.
func Screen(r *result.Run, dir string) string {
	var b strings.Builder
	for _, c := range r.Cells {
		role := ""
		if c.Role != "" {
			role = " (" + c.Role + ")"
		}
		role += prefixNote(c)
		fmt.Fprintf(&b, "%s %s [%s]%s %s%s\n", c.Arch, c.Accel, c.Config, role, strings.ToUpper(string(c.Status)), knownNote(c.Known))
		if c.Cause != "" {
			fmt.Fprintf(&b, "  cause: %s\n", result.Clean(c.Cause, 300))
		}
		if c.Verdict != "" && (c.Verdict != c.Status || c.VerdictCause != "") {
			fmt.Fprintf(&b, "  judged against the tree without the series: %s", strings.ToUpper(string(c.Verdict)))
			if c.VerdictCause != "" {
				fmt.Fprintf(&b, ", %s", result.Clean(c.VerdictCause, 300))
			}
			b.WriteString("\n")
		}
		var st []string
		for _, s := range c.Stages {
			x := s.Name + " " + dur(s.Elapsed)
			if s.Cached {
				x += " (cached)"
			}
			st = append(st, x)
		}
		if len(st) > 0 {
			fmt.Fprintf(&b, "  stages: %s\n", strings.Join(st, ", "))
		}
		for _, t := range c.Tests {
			line := fmt.Sprintf("  %-24s %-5s", result.Clean(t.Name, 40), t.Status)
			if t.Label != "" {
				line += " (" + t.Label + ")"
			}
			if t.Known != "" {
				line += " (known: " + result.Clean(t.Known, 200) + ")"
			}
			if t.Reason != "" {
				line += "  " + result.Clean(t.Reason, 160)
			}
			b.WriteString(line + "\n")
			if t.Compare != "" {
				fmt.Fprintf(&b, "  %-24s %s\n", "", result.Clean(t.Compare, 200))
			}
		}
		for _, o := range c.Oopses {
			fmt.Fprintf(&b, "  kernel %s\n", oopsLine(o, 200))
		}
		if c.Reproduce != "" && c.Status != result.Pass {
			fmt.Fprintf(&b, "  reproduce: sh %s\n", shellQuote([]string{filepath.Join(dir, c.ID, c.Reproduce)}))
		}
	}
	b.WriteString(PatchTablesText(r))
	for _, l := range BaselineVerdicts(r) {
		fmt.Fprintf(&b, "series: %s\n", result.Clean(l, 600))
	}
	for _, l := range KnownText(r) {
		fmt.Fprintf(&b, "%s\n", result.Clean(l, 600))
	}
	fmt.Fprintf(&b, "verdict: %s", strings.ToUpper(string(r.Status)))
	if r.Status == result.Pass {
		if pre := PreExisting(r); len(pre) > 0 {
			fmt.Fprintf(&b, " (nothing the series changed fails; %s)", result.Clean(strings.Join(pre, "; "), 400))
		}
	}
	if r.Cause != "" {
		fmt.Fprintf(&b, ": %s", result.Clean(r.Cause, 300))
	}
	fmt.Fprintf(&b, "\nresults: %s\n", dir)
	return result.CleanLines(b.String(), 2000) // ids, statuses, configs and stage names too
}

// PreExisting names, per patched cell judged against its baseline, the
// failures the tree without the series shares ("x86_64: fails without the
// series too (pre-existing): robust-unmap-remap"): they did not fail the
// run, and a reader must still see them.
func PreExisting(r *result.Run) []string {
	var out []string
	for _, c := range r.Cells {
		if c.Role != "baseline" && c.Verdict == result.Pass && c.VerdictCause != "" {
			out = append(out, c.Arch+": "+c.VerdictCause)
		}
	}
	return out
}

// BaselineVerdicts returns, for a run with a baseline, one line per patched
// cell that a reviewer can paste into a reply: what the series changed on
// that arch ("x86_64 [base+x86_64]: robust-unmap-remap fixed (...); 5 other
// tests passing"). Nil for a run without labels.
func BaselineVerdicts(r *result.Run) []string {
	var out []string
	for _, c := range r.Cells {
		if c.Role == "baseline" || c.Prefix < c.PrefixOf { // --each-patch: the whole series only; the table has the rest
			continue
		}
		var changed []string
		passing := 0
		labelled := false
		for _, t := range c.Tests {
			if t.Label == "" {
				continue
			}
			labelled = true
			if t.Label == "passing" {
				passing++
				continue
			}
			s := fmt.Sprintf("%s %s", result.Clean(t.Name, 40), t.Label)
			if t.Compare != "" {
				s += " (" + result.Clean(t.Compare, 200) + ")"
			} else if t.Reason != "" {
				s += " (" + result.Clean(t.Reason, 200) + ")"
			}
			changed = append(changed, s)
		}
		if !labelled {
			continue
		}
		line := fmt.Sprintf("%s [%s]: ", c.Arch, c.Config)
		switch {
		case len(changed) == 0:
			line += fmt.Sprintf("no change: %d tests passing on both", passing)
		default:
			line += strings.Join(changed, "; ")
			if passing > 0 {
				line += fmt.Sprintf("; %d other tests passing", passing)
			}
		}
		out = append(out, line)
	}
	return out
}

// Markdown renders summary.md.
func Markdown(r *result.Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# rig run %s: %s\n\n", md(r.ID), md(string(r.Status)))
	if r.Cause != "" {
		fmt.Fprintf(&b, "**Cause:** %s\n\n", md(r.Cause))
	}
	fmt.Fprintf(&b, "- kernel source: %s\n", md(r.KernelSource))
	if r.Series != "" {
		fmt.Fprintf(&b, "- series: %s\n", md(r.Series))
	}
	fmt.Fprintf(&b, "- started: %s\n", r.Started.UTC().Format(time.RFC3339))
	if !r.Finished.IsZero() {
		fmt.Fprintf(&b, "- wall time: %s\n", dur(r.Finished.Sub(r.Started)))
	}
	if lines := BaselineVerdicts(r); len(lines) > 0 {
		b.WriteString("\n## What the series changed, per arch\n\n")
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", md(l))
		}
	}
	b.WriteString(PatchTablesMarkdown(r))
	b.WriteString(KnownMarkdown(r))
	b.WriteString("\n| cell | status | cause | tests | stages |\n|---|---|---|---|---|\n")
	for _, c := range r.Cells {
		var tests, stages []string
		for _, t := range c.Tests {
			tests = append(tests, fmt.Sprintf("%s: %s%s", md(t.Name), md(t.Status), md(knownNote(t.Known))))
		}
		for _, s := range c.Stages {
			stages = append(stages, fmt.Sprintf("%s %s", md(s.Name), dur(s.Elapsed)))
		}
		status := md(string(c.Status))
		if c.Verdict != "" && c.Verdict != c.Status {
			status += fmt.Sprintf(" (counts as %s: %s)", md(string(c.Verdict)), md(c.VerdictCause))
		}
		status += md(knownNote(c.Known))
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(c.ID), status, md(c.Cause), strings.Join(tests, "<br>"), strings.Join(stages, ", "))
	}
	for _, c := range r.Cells {
		switch {
		case c.Reproduce != "":
			fmt.Fprintf(&b, "\n## %s: reproduce\n\nFrom the run directory (this file's): the same kernel, initramfs, command line and QEMU options, the console on your terminal; exit status 0 pass, 1 a test failed, 2 the guest never finished.\n\n```\nsh %s\n```\n",
				md(c.ID), shellQuote([]string{path.Join(c.ID, c.Reproduce)}))
		case len(c.QEMUArgv) > 0:
			// A record from before reproduce.sh: the argv as the rig ran it.
			fmt.Fprintf(&b, "\n## %s: QEMU command line\n\nAs the rig ran it: paused, on its own sockets.\n\n```\n%s\n```\n", md(c.ID), shellQuote(c.QEMUArgv))
		}
	}
	return b.String()
}

func md(s string) string { return result.MarkdownCell(s, 500) }

// shellQuote renders argv for a human to paste (display only: the rig never
// runs a shell).
func shellQuote(argv []string) string {
	var q []string
	for _, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_=./,:+@", r))
		}) < 0 {
			q = append(q, a)
			continue
		}
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(q, " ")
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Time      float64   `xml:"time,attr"`
	Failure   *junitMsg `xml:"failure,omitempty"`
	Error     *junitMsg `xml:"error,omitempty"`
	Skipped   *junitMsg `xml:"skipped,omitempty"`
	SystemOut string    `xml:"system-out,omitempty"`
}

type junitMsg struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit renders junit.xml: a suite per cell, a testcase per test, plus a
// "kernel" testcase that fails on an oops and a "boot" case for cells that
// never reached the tests. The console tail goes to system-out.
func JUnit(r *result.Run, dir string) ([]byte, error) {
	out := junitSuites{Name: "rig " + result.Clean(r.ID, maxName)}
	for _, c := range r.Cells {
		s := junitSuite{Name: result.Clean(junitSuiteName(c), 300)}
		for _, st := range c.Stages {
			s.Time += st.Elapsed.Seconds()
		}
		tail := cellTail(dir, c.ID, "console.log", 50)
		class := "rig." + result.Clean(c.ID, maxName)
		add := func(jc junitCase) {
			s.Cases = append(s.Cases, jc)
			s.Tests++
			switch {
			case jc.Failure != nil:
				s.Failures++
			case jc.Error != nil:
				s.Errors++
			case jc.Skipped != nil:
				s.Skipped++
			}
		}
		status := c.Status
		if c.NotTried {
			add(junitCase{Name: "apply", Classname: class, Skipped: &junitMsg{Message: result.Clean(c.Cause, 500)}})
			status = ""
		}
		switch status {
		case result.PatchError, result.BuildError, result.BootError, result.Timeout:
			if c.Known != "" {
				add(junitCase{Name: string(c.Status), Classname: class, Skipped: &junitMsg{Message: knownMsg(c.Known, c.Cause)}})
				break
			}
			fallthrough
		case result.InfraError, result.Interrupted:
			add(junitCase{Name: string(c.Status), Classname: class, Failure: &junitMsg{Message: result.Clean(c.Cause, 500), Text: result.Clean(c.Cause, 2000)}, SystemOut: tail})
		}
		for _, t := range c.Tests {
			jc := junitCase{Name: result.Clean(t.Name, 100), Classname: class, Time: t.Seconds}
			msg := result.Clean(t.Reason, 500)
			switch {
			case t.Known != "" && (t.Status == "fail" || t.Status == "error"):
				jc.Skipped = &junitMsg{Message: knownMsg(t.Known, t.Reason)}
			case t.Status == "fail" && c.Role == "baseline":
				// The tree without the series: context for the verdict, not part of it.
				jc.Skipped = &junitMsg{Message: "fails without the series (baseline): " + msg}
			case t.Status == "fail" && t.Label == "still-failing" && c.Verdict == result.Pass:
				jc.Skipped = &junitMsg{Message: "still-failing: fails without the series too: " + msg}
			case t.Status == "fail":
				jc.Failure = &junitMsg{Message: msg, Text: evidence(t)}
				jc.SystemOut = tail
			case t.Status == "error":
				jc.Error = &junitMsg{Message: msg, Text: evidence(t)}
				jc.SystemOut = tail
			case t.Status == "skip":
				jc.Skipped = &junitMsg{Message: msg}
			}
			add(jc)
		}
		if len(c.Tests) > 0 || len(c.Oopses) > 0 {
			jc := junitCase{Name: "kernel-oops", Classname: class}
			if len(c.Oopses) > 0 {
				var lines, text []string
				for _, o := range c.Oopses {
					lines = append(lines, oopsLine(o, 300))
					text = append(text, lines[len(lines)-1])
					for _, f := range stackLines(o) {
						text = append(text, "  "+f)
					}
				}
				if c.Known != "" {
					jc.Skipped = &junitMsg{Message: knownMsg(c.Known, lines[0])}
				} else if c.Role == "baseline" || c.Verdict == result.Pass {
					jc.Skipped = &junitMsg{Message: "seen without the series too: " + lines[0]}
				} else {
					jc.Failure = &junitMsg{Message: lines[0], Text: strings.Join(text, "\n")}
					jc.SystemOut = tail
				}
			}
			add(jc)
		}
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func evidence(t result.Test) string {
	var l []string
	for k, v := range t.Evidence {
		l = append(l, result.Clean(k, 60)+": "+result.Clean(v, 300))
	}
	return strings.Join(l, "\n")
}

// cellTail returns the last n lines of the log name of cell in the run
// directory dir (the working directory for ""), cleaned. The directory may
// come from another machine: the log must be a regular file inside the
// cell's directory (no symlink out of it, no FIFO), else there is no tail.
func cellTail(dir, cell, name string, n int) string {
	if dir == "" {
		dir = "."
	}
	f, err := safefile.OpenUnder(dir, cell, name)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, _ := f.Stat()
	const max = 64 << 10
	off := int64(0)
	if st != nil && st.Size() > max {
		off = st.Size() - max
	}
	buf := make([]byte, max)
	k, _ := f.ReadAt(buf, off)
	lines := strings.Split(strings.TrimRight(string(buf[:k]), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i := range lines {
		lines[i] = result.Clean(lines[i], 400)
	}
	return strings.Join(lines, "\n")
}

// CellTail is cellTail for other reports (kcidb.json's log excerpts).
func CellTail(dir, cell, name string, n int) string { return cellTail(dir, cell, name, n) }

// WriteAll writes every report of a finished run beside its run.json:
// summary.md, junit.xml, report.html and kcidb.json (o as for WriteKCIDB).
// A single run, a matrix shard and a merged run all get these.
func WriteAll(dir string, r *result.Run, o KCIDBOptions) error {
	if err := WriteReports(dir, r); err != nil {
		return err
	}
	if err := WriteHTML(dir, r); err != nil {
		return err
	}
	return WriteKCIDB(dir, r, o)
}

// WriteReports writes summary.md and junit.xml beside run.json.
func WriteReports(dir string, r *result.Run) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, "summary.md"), []byte(Markdown(r)), 0o644); err != nil {
		return err
	}
	j, err := JUnit(r, dir)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "junit.xml"), j, 0o644)
}
