package report_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// node is an element (or, with Name "#text", a text node) of a parsed page.
type node struct {
	Name string
	Attr map[string]string
	Text string
	Kids []*node
}

// parseDOM reads the DOM Chromium serialized. There is no HTML parser in
// the standard library; encoding/xml in its lenient mode, with HTML's void
// elements and entities, reads Chromium's well-formed serialization.
func parseDOM(t *testing.T, b []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &node{Name: "#document"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parsing the dumped DOM: %v", err)
		}
		top := stack[len(stack)-1]
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{Name: strings.ToLower(tk.Name.Local), Attr: map[string]string{}}
			for _, a := range tk.Attr {
				n.Attr[a.Name.Local] = a.Value
			}
			top.Kids = append(top.Kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			top.Kids = append(top.Kids, &node{Name: "#text", Text: string(tk)})
		}
	}
	return root
}

func (n *node) text() string {
	if n.Name == "#text" {
		return n.Text
	}
	var b strings.Builder
	for _, k := range n.Kids {
		b.WriteString(k.text())
	}
	return b.String()
}

func (n *node) hasClass(c string) bool {
	for _, f := range strings.Fields(n.Attr["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

// find returns the descendants named name (and with class class, if any).
func (n *node) find(name, class string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		for _, k := range m.Kids {
			if k.Name == name && (class == "" || k.hasClass(class)) {
				out = append(out, k)
			}
			walk(k)
		}
	}
	walk(n)
	return out
}

func (n *node) byID(id string) *node {
	var found *node
	var walk func(*node)
	walk = func(m *node) {
		for _, k := range m.Kids {
			if found == nil && k.Attr["id"] == id {
				found = k
			}
			walk(k)
		}
	}
	walk(n)
	return found
}

// chromium runs headless Chromium on a file with the given output flags.
func chromium(t *testing.T, page string, flags ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH: install it (apt-get install -y chromium; `rig setup` does) to check report.html in a real browser")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}, flags...)
	args = append(args, (&url.URL{Scheme: "file", Path: page}).String())
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", flags, err, lastLines(stderr.String(), 20))
	}
	return stdout.Bytes()
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestHTMLInChromium renders the fixture run, lets Chromium load it, and
// checks the page Chromium built: the matrix rows and classes, one SVG bar
// per stage, log links that resolve to files of the run directory, and
// hostile text that stayed text.
func TestHTMLInChromium(t *testing.T) {
	r, dir := fixtureRun(t)
	if err := report.WriteHTML(dir, r); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, report.HTMLFile)
	dom := parseDOM(t, chromium(t, page, "--dump-dom"))

	// Nothing from the kernel became markup, and nothing ran.
	if s := dom.find("script", ""); len(s) > 0 {
		t.Errorf("page has %d <script> element(s): untrusted text became markup", len(s))
	}
	if im := dom.find("img", ""); len(im) > 0 {
		t.Errorf("page has %d <img> element(s): untrusted text became markup", len(im))
	}
	body := dom.find("body", "")
	if len(body) != 1 {
		t.Fatalf("want one <body>, got %d", len(body))
	}
	if v, ok := body[0].Attr["data-pwned"]; ok {
		t.Errorf("injected script ran (data-pwned=%q)", v)
	}
	if title := dom.find("title", ""); len(title) == 0 || strings.Contains(title[0].text(), "pwned") {
		t.Errorf("document title changed by injected script")
	}

	// The matrix: a row per cell, the status in its class, a column per test.
	matrix := dom.byID("matrix")
	if matrix == nil {
		t.Fatal("no table#matrix")
	}
	var tests []string
	for _, th := range matrix.find("th", "test-name") {
		tests = append(tests, th.text())
	}
	if want := []string{"robust-unmap-remap", "kill-in-lock", "pi-owner", "kselftest:futex_requeue_pi", "robust-natural"}; strings.Join(tests, ",") != strings.Join(want, ",") {
		t.Errorf("test columns = %q, want %q", tests, want)
	}
	rows := matrix.find("tr", "cell-row")
	if len(rows) != len(r.Cells) {
		t.Fatalf("matrix has %d rows, want %d", len(rows), len(r.Cells))
	}
	seenStatus := map[string]bool{}
	seenTestStatus := map[string]bool{}
	for i, row := range rows {
		c := r.Cells[i]
		if row.Attr["data-cell"] != c.ID {
			t.Errorf("row %d is %q, want %q", i, row.Attr["data-cell"], c.ID)
		}
		st := row.find("td", "status")
		if len(st) != 1 || strings.TrimSpace(st[0].text()) != string(c.Status) || !st[0].hasClass("st-"+string(c.Status)) {
			t.Errorf("%s: status cell %+v, want %q with class st-%s", c.ID, st, c.Status, c.Status)
			continue
		}
		seenStatus[string(c.Status)] = true
		tds := row.find("td", "test")
		if len(tds) != len(tests) {
			t.Fatalf("%s: %d test cells, want %d", c.ID, len(tds), len(tests))
		}
		byName := map[string]result.Test{}
		for _, tt := range c.Tests {
			byName[tt.Name] = tt
		}
		for j, td := range tds {
			tt, ok := byName[tests[j]]
			if !ok {
				if !td.hasClass("st-none") {
					t.Errorf("%s/%s: not run, but the cell is %q", c.ID, tests[j], td.Attr["class"])
				}
				continue
			}
			seenTestStatus[tt.Status] = true
			if !td.hasClass("st-"+tt.Status) || !strings.HasPrefix(td.text(), tt.Status) {
				t.Errorf("%s/%s: cell %q class %q, want status %q", c.ID, tests[j], td.text(), td.Attr["class"], tt.Status)
			}
			if tt.Label != "" && !strings.Contains(td.text(), tt.Label) {
				t.Errorf("%s/%s: label %q missing from %q", c.ID, tests[j], tt.Label, td.text())
			}
		}
		cause := row.find("td", "cause")
		if len(cause) != 1 || cause[0].text() != result.Clean(c.Cause, 500) {
			t.Errorf("%s: cause cell %q, want %q", c.ID, cause[0].text(), c.Cause)
		}
		// Log links resolve inside the run directory; cells without a
		// console have no link to one.
		var consoles int
		for _, a := range row.find("a", "log") {
			p, err := url.PathUnescape(a.Attr["href"])
			if err != nil || strings.Contains(p, "..") || filepath.IsAbs(p) {
				t.Errorf("%s: bad log link %q", c.ID, a.Attr["href"])
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				t.Errorf("%s: link %q does not resolve: %v", c.ID, a.Attr["href"], err)
			}
			if filepath.Base(p) == "console.log" {
				consoles++
				if filepath.Clean(p) != filepath.Join(c.ID, "console.log") {
					t.Errorf("%s: console link %q", c.ID, p)
				}
			}
		}
		_, haveConsole := os.Stat(filepath.Join(dir, c.ID, "console.log"))
		if (haveConsole == nil) != (consoles == 1) {
			t.Errorf("%s: %d console.log links, file exists: %v", c.ID, consoles, haveConsole == nil)
		}
	}
	for _, s := range []string{"pass", "fail", "patch-error", "build-error", "boot-error", "timeout", "infra-error", "interrupted"} {
		if !seenStatus[s] {
			t.Errorf("no cell shown as %s", s)
		}
	}
	for _, s := range []string{"pass", "fail", "skip", "error"} {
		if !seenTestStatus[s] {
			t.Errorf("no test shown as %s", s)
		}
	}

	// The hostile cause and reason are on the page, as text.
	evil := matrix.find("tr", "cell-row")[1].find("td", "cause")[0].text()
	if !strings.Contains(evil, "<script>document.title='pwned'") {
		t.Errorf("hostile cause not shown as text: %q", evil)
	}
	all := dom.text()
	for _, want := range []string{`<img src=x onerror=`, "hits: patched 0/2000, baseline 37/2000", "WARNING: WARNING: at kernel/futex/core.c:42", "regressed", "fixed"} {
		if !strings.Contains(all, want) {
			t.Errorf("page text lacks %q", want)
		}
	}

	// One timeline per cell with stages, one bar (and label) per stage.
	sections := dom.find("section", "cell")
	if len(sections) != len(r.Cells) {
		t.Fatalf("%d cell sections, want %d", len(sections), len(r.Cells))
	}
	for i, sec := range sections {
		c := r.Cells[i]
		svgs := sec.find("svg", "timeline")
		if len(svgs) != 1 {
			t.Errorf("%s: %d timelines, want 1", c.ID, len(svgs))
			continue
		}
		bars := svgs[0].find("rect", "bar")
		if len(bars) != len(c.Stages) {
			t.Errorf("%s: %d bars, want %d (one per stage)", c.ID, len(bars), len(c.Stages))
		}
		names := svgs[0].find("text", "name")
		for j, s := range c.Stages {
			if j < len(names) && names[j].text() != s.Name {
				t.Errorf("%s: bar %d labelled %q, want %q", c.ID, j, names[j].text(), s.Name)
			}
			if j < len(bars) {
				if w := bars[j].Attr["width"]; w == "" || w == "0" {
					t.Errorf("%s: bar %s has width %q", c.ID, s.Name, w)
				}
				if s.Cached && !bars[j].hasClass("cached") {
					t.Errorf("%s: cached stage %s not marked", c.ID, s.Name)
				}
			}
		}
		if durs := svgs[0].find("text", "dur"); len(durs) != len(c.Stages) {
			t.Errorf("%s: %d duration labels, want %d", c.ID, len(durs), len(c.Stages))
		}
	}

	// A screenshot for a human to look at; RIG_REPORT_SCREENSHOT keeps it.
	shot := filepath.Join(t.TempDir(), "report.png")
	if keep := os.Getenv("RIG_REPORT_SCREENSHOT"); keep != "" {
		shot = keep
	}
	chromium(t, page, "--screenshot="+shot, "--window-size=1200,800", "--hide-scrollbars")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v (size %d)", shot, err, sizeOf(st))
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

// TestHTMLEscapes checks the markup itself (no browser needed): hostile
// text is escaped, links are relative, and the page needs nothing external.
func TestHTMLEscapes(t *testing.T) {
	r, _ := fixtureRun(t)
	var b bytes.Buffer
	if err := report.HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, bad := range []string{"<script", "<img", "http://", "https://", "@import", "url("} {
		if bad == "http://" && strings.Count(s, bad) == strings.Count(s, `xmlns="http://www.w3.org/2000/svg"`) {
			continue // the SVG namespace is a name, not a fetch
		}
		if strings.Contains(s, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	if !strings.Contains(s, "&lt;script&gt;document.title=") {
		t.Error("hostile cause not escaped as text")
	}
	if !strings.Contains(s, `href="./x86_64-kvm-base/console.log"`) || !strings.Contains(s, `href="./x86_64-kvm-base/dmesg.txt"`) {
		t.Error("no relative console.log/dmesg.txt links")
	}
	if !strings.Contains(s, "<dd>sh x86_64-kvm-base/reproduce.sh</dd>") || !strings.Contains(s, "<dd>bzImage, initramfs.cpio (4096 KiB)</dd>") {
		t.Error("the cell's replay line or kept files are not shown")
	}
}

// TestWriteHTMLReplaces rewrites report.html in place, leaving no
// temporary files.
func TestWriteHTMLReplaces(t *testing.T) {
	r, dir := fixtureRun(t)
	for i := 0; i < 2; i++ {
		if err := report.WriteHTML(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("leftover %s", e.Name())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	if err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Fatalf("report.html: %v %.40q", err, b)
	}
}

// TestHTMLOddRuns: an empty run and a cell id shaped like a URL scheme.
func TestHTMLOddRuns(t *testing.T) {
	var b bytes.Buffer
	if err := report.HTML(&b, &result.Run{ID: "empty", Status: result.InfraError}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	r := &result.Run{ID: "odd", Cells: []result.Cell{{ID: "javascript:alert(1)", Status: "weird\"status", Stages: []result.Stage{{Name: "build"}}}}}
	if err := report.HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if strings.Contains(s, `href="javascript:`) {
		t.Error("cell id became a javascript: link")
	}
	if !strings.Contains(s, `class="status st-unknown"`) {
		t.Error("unknown status should render as st-unknown")
	}
}
