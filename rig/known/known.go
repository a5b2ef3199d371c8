// Package known reads known-issues.yaml, the failures a maintainer expects
// (a test or a kernel report title, in cells matching a glob, with a link
// and an optional expiry), and marks the failures of a run that match them
// (docs/design.md, "Known issues").
package known

import (
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// MaxSize bounds a known-issues file: it is input from a repository, not
// data, and a few hundred entries fit in far less.
const MaxSize = 1 << 20

// Entry is one known issue.
type Entry struct {
	Test  string // regexp matching a whole test name; "" when Title is set
	Title string // regexp found in a kernel report title or a cell's cause
	Cell  string // glob (path.Match) on the cell ID; "*" when not given
	Link  string // absolute http(s) URL of the report, bug or thread
	// Expires is the first day (UTC) the entry no longer holds; zero: never.
	Expires time.Time
	Comment string
	Line    int // line of the entry in the file

	test, title *regexp.Regexp
}

// List is a parsed known-issues file.
type List struct {
	File    string
	Entries []Entry
}

// Error is a bad known-issues file: it names the file and the line. The
// CLI maps it to exit code 2, like a bad plan.
type Error struct {
	File string
	Line int // 0: the file as a whole
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("known issues %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("known issues %s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ExpiredError is an entry past its expiry date: the issue should have
// been fixed by then, so the file needs a decision (fix it, extend the
// date, or drop the entry) before failures are excused again.
type ExpiredError struct {
	File  string
	Entry Entry
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("known issues %s:%d: entry %s (%s) expired on %s: fix the issue, move its \"expires\" date, or remove the entry",
		e.File, e.Entry.Line, e.Entry.Name(), e.Entry.Link, e.Entry.Expires.Format(time.DateOnly))
}

// Name is how the entry is named in messages: "test robust-unmap-remap in
// *", "title \"WARNING in x\" in arm64-*".
func (e Entry) Name() string {
	what := "test " + e.Test
	if e.Title != "" {
		what = fmt.Sprintf("title %q", e.Title)
	}
	return what + " in " + e.Cell
}

var keys = []string{"test", "title", "cell", "link", "expires", "comment"}

// Load reads and checks a known-issues file: a regular file of at most
// MaxSize bytes, YAML without anchors or aliases. now decides expiry: an
// entry whose date has come is an *ExpiredError; anything malformed is an
// *Error.
func Load(file string, now time.Time) (*List, error) {
	f, err := safefile.Open(file) // a FIFO is refused, not waited on
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{File: file, Err: fmt.Errorf("not a regular file (%s)", st.Mode())}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	if len(b) > MaxSize {
		return nil, &Error{File: file, Err: fmt.Errorf("larger than %d bytes", MaxSize)}
	}
	return Parse(file, b, now)
}

// Parse is Load on bytes already read; file names them in errors.
func Parse(file string, data []byte, now time.Time) (*List, error) {
	bad := func(line int, format string, a ...any) error {
		return &Error{File: file, Line: line, Err: fmt.Errorf(format, a...)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: file, Err: err} // yaml's message has the line
	}
	if n := aliased(&doc); n != nil {
		return nil, bad(n.Line, "anchors and aliases are not allowed")
	}
	l := &List{File: file}
	if len(doc.Content) == 0 {
		return l, nil // an empty file: nothing is known
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return l, nil
	}
	if root.Kind != yaml.SequenceNode {
		return nil, bad(root.Line, "want a list of entries (- test: REGEXP, link: URL, ...)")
	}
	for _, n := range root.Content {
		e, err := entry(n)
		if err != nil {
			return nil, &Error{File: file, Line: err.line, Err: err}
		}
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			return nil, &ExpiredError{File: file, Entry: e}
		}
		l.Entries = append(l.Entries, e)
	}
	return l, nil
}

// aliased returns the first anchor or alias in the tree, nil when none:
// entries are few and plain, and an alias is how a small file expands
// into a huge one.
func aliased(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n
	}
	for _, c := range n.Content {
		if a := aliased(c); a != nil {
			return a
		}
	}
	return nil
}

type entryError struct {
	line int
	err  error
}

func (e *entryError) Error() string { return e.err.Error() }
func (e *entryError) Unwrap() error { return e.err }

func entry(n *yaml.Node) (Entry, *entryError) {
	bad := func(line int, format string, a ...any) (Entry, *entryError) {
		return Entry{}, &entryError{line: line, err: fmt.Errorf(format, a...)}
	}
	if n.Kind != yaml.MappingNode {
		return bad(n.Line, "an entry must be a mapping of %s", strings.Join(keys, ", "))
	}
	e := Entry{Cell: "*", Line: n.Line}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return bad(k.Line, "%s given twice", k.Value)
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return bad(v.Line, "%s: want a string", k.Value)
		}
		s := v.Value
		var err error
		switch k.Value {
		case "test":
			e.Test = s
			if _, err = regexp.Compile(s); err == nil {
				e.test, err = regexp.Compile(`^(?:` + s + `)$`)
			}
		case "title":
			e.Title = s
			e.title, err = regexp.Compile(s)
		case "cell":
			e.Cell = s
			_, err = path.Match(s, "")
		case "link":
			e.Link = s
			u, perr := url.Parse(s)
			if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				err = fmt.Errorf("%q: want an absolute http(s) URL", s)
			}
		case "expires":
			e.Expires, err = time.Parse(time.DateOnly, s)
			if err != nil {
				err = fmt.Errorf("%q: want a date YYYY-MM-DD", s)
			}
		case "comment":
			e.Comment = s
		default:
			return bad(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(keys, ", "))
		}
		if err != nil {
			return bad(v.Line, "%s: %v", k.Value, err)
		}
	}
	switch {
	case e.Test == "" && e.Title == "":
		return bad(n.Line, "an entry needs test (a test name regexp) or title (a kernel report title regexp)")
	case e.Test != "" && e.Title != "":
		return bad(n.Line, "an entry has test or title, not both: make two entries")
	case e.Link == "":
		return bad(n.Line, "an entry needs link (where the issue is tracked)")
	}
	return e, nil
}
