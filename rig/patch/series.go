package patch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// Patch is one patch of a series.
type Patch struct {
	Name    string // file name, or "mbox-file#N" for the N-th mail of an mbox
	Subject string // from the "Subject:" header ([PATCH n/m] prefix stripped) or the first line
	Data    []byte // the whole patch text
	Strip   int    // -p level (1 by default; quilt series may say -p0)
}

// ReadSeries reads a series from path: a directory of *.patch files (sorted
// by name, which is git format-patch order; a directory that holds a quilt
// "series" file uses that instead), a quilt "series" file itself, an mbox
// (several mails, "From " separator lines; mails without a diff, such as a
// cover letter, are skipped), or a single .patch/.diff file.
func ReadSeries(path string) ([]Patch, error) {
	ps, _, err := ReadSeriesStated(path)
	return ps, err
}

// Stated is what a series says about the tree it was written for: the
// lines `git format-patch --base` and b4 write after the last patch's diff
// or at the end of the cover letter.
type Stated struct {
	Base          string   // "base-commit: <sha>"; "" when not stated
	Prerequisites []string // "prerequisite-patch-id: <id>": patches that must be applied before the series
	By            string   // the patch or cover letter that states the base
}

// ReadSeriesStated is ReadSeries that also returns what the series states
// about its base (cover letters included). Two different base-commit
// lines are an error: the series does not say which tree it is for.
func ReadSeriesStated(path string) ([]Patch, Stated, error) {
	var st Stated
	ps, err := readSeriesInto(path, &st)
	return ps, st, err
}

// ParseMbox reads an mbox held in memory (git format-patch --stdout of a
// range): one patch per mail that holds a diff, named name#N.
func ParseMbox(name string, data []byte) ([]Patch, Stated, error) {
	var st Stated
	ps, err := parseFile(data, name, name, 1, true, &st)
	return ps, st, err
}

func readSeriesInto(path string, st *Stated) ([]Patch, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("patch series %s: %w (expected a directory of .patch files, a quilt series file, an mbox or a .patch file)", path, err)
	}
	if fi.IsDir() {
		return readDir(path, st)
	}
	if filepath.Base(path) == "series" {
		return readQuilt(path)
	}
	return readFile("", path, filepath.Base(path), 1, true, st)
}

func readDir(dir string, st *Stated) ([]Patch, error) {
	series := filepath.Join(dir, "series")
	if fi, err := os.Stat(series); err == nil && !fi.IsDir() {
		return readQuilt(series)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		return nil, fmt.Errorf("patch series %s: %w", dir, err)
	}
	sort.Strings(names)
	var out []Patch
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.IsDir() {
			continue
		}
		ps, err := readFile(dir, n, filepath.Base(n), 1, false, st)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("patch series %s: empty series: no *.patch files and no quilt series file in the directory", dir)
	}
	return out, nil
}

// readQuilt reads a quilt series file: one patch name per line, relative to
// the file's directory, optionally followed by -pN; "#" starts a comment.
func readQuilt(series string) ([]Patch, error) {
	data, err := safefile.ReadFile(series, MaxPatchBytes)
	if err != nil {
		return nil, fmt.Errorf("quilt series %s: %w", series, err)
	}
	dir := filepath.Dir(series)
	var out []Patch
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		where := fmt.Sprintf("quilt series %s:%d", series, i+1)
		name, strip := f[0], 1
		for k := 1; k < len(f); k++ {
			opt := f[k]
			switch {
			case opt == "-p" && k+1 < len(f):
				k++
				opt = "-p" + f[k]
				fallthrough
			case strings.HasPrefix(opt, "-p"):
				n, err := strconv.Atoi(opt[2:])
				if err != nil || n < 0 {
					return nil, fmt.Errorf("%s: bad option %q for %s (expected -pN)", where, opt, name)
				}
				strip = n
			default:
				return nil, fmt.Errorf("%s: unsupported option %q for %s (only -pN is supported)", where, opt, name)
			}
		}
		if filepath.IsAbs(name) || hasDotDot(name) {
			return nil, fmt.Errorf("%s: patch %s is outside the series directory", where, name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: series names a missing patch %s: %w", where, name, err)
		}
		ps, err := readFile(dir, p, name, strip, false, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("quilt series %s: empty series: no patch names in the file", series)
	}
	return out, nil
}

func hasDotDot(name string) bool {
	for _, c := range strings.Split(filepath.ToSlash(name), "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

// MaxPatchBytes bounds a patch, mbox or quilt series file read.
const MaxPatchBytes = 64 << 20

// readFile reads one file: an mbox of several mails becomes one patch per
// mail that holds a diff; anything else is one patch. strict (the file
// was named on its own) makes an mbox without any diff an error. A file
// of a series directory dir ("" for a file named on its own) must be in
// it: a symlink out of the directory is refused, not read. Only regular
// files of at most MaxPatchBytes are read.
func readFile(dir, path, name string, strip int, strict bool, st *Stated) ([]Patch, error) {
	var data []byte
	var err error
	if dir == "" {
		data, err = safefile.ReadFile(path, MaxPatchBytes)
	} else if rel, rerr := filepath.Rel(dir, path); rerr != nil {
		err = rerr
	} else {
		data, err = safefile.ReadIn(dir, rel, MaxPatchBytes)
	}
	switch {
	case safefile.Escapes(err):
		return nil, fmt.Errorf("patch %s: a symlink leading outside the series directory %s: refused (copy the patch into the series instead)", path, dir)
	case errors.Is(err, fs.ErrNotExist), safefile.IsRefused(err):
		return nil, fmt.Errorf("patch %s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("patch %s: unreadable: %w", path, err)
	}
	return parseFile(data, path, name, strip, strict, st)
}

// parseFile is readFile's work on the file's data; st, if not nil,
// collects what the mails state about the base.
func parseFile(data []byte, path, name string, strip int, strict bool, st *Stated) ([]Patch, error) {
	if crlf.Match(data) {
		return nil, fmt.Errorf("patch %s: CRLF line endings (its diff headers end in \\r\\n, as a mail saved on Windows does): convert it to LF, e.g. with dos2unix, and try again", path)
	}
	if !isMbox(data) {
		if strict && !hasDiff(data) {
			// Named on its own, it is not a patch; refused before any
			// work, not found by the apply stage of every cell.
			return nil, fmt.Errorf("patch %s: no diff in it: not a patch", path)
		}
		if err := st.add(data, name); err != nil {
			return nil, err
		}
		return []Patch{{Name: name, Subject: subjectOf(data), Data: data, Strip: strip}}, nil
	}
	mails := splitMbox(data)
	var out []Patch
	for i, m := range mails {
		m = decodeMail(m)
		n := name
		if len(mails) > 1 {
			n = fmt.Sprintf("%s#%d", name, i+1)
		}
		if err := st.add(m, n); err != nil {
			return nil, err
		}
		if !hasDiff(m) {
			continue
		}
		out = append(out, Patch{Name: n, Subject: subjectOf(m), Data: m, Strip: strip})
	}
	if len(out) == 0 {
		if !strict && len(mails) == 1 && isCover(data) {
			// git format-patch --cover-letter's 0000-cover-letter.patch:
			// the series' text, not a patch.
			return nil, nil
		}
		if !strict && len(mails) == 1 {
			// A lone mail without a diff: let Apply report it in order.
			return []Patch{{Name: name, Subject: subjectOf(data), Data: data, Strip: strip}}, nil
		}
		return nil, fmt.Errorf("mbox %s: no patches in mbox: none of its %d mail(s) holds a diff", path, len(mails))
	}
	return out, nil
}

// crlf matches a diff header line ending in CR: git writes none (a file
// name with a CR in it is quoted), so the whole file was converted.
var crlf = regexp.MustCompile(`(?m)^(diff --git |\+\+\+ b/).*\r$`)

// fromLine is an mbox separator: "From <sender> <date with a time>".
var fromLine = regexp.MustCompile(`^From \S+ .*\b[0-9]{1,2}:[0-9]{2}`)

func isMbox(data []byte) bool {
	data = bytes.TrimLeft(data, "\r\n")
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return fromLine.Match(line)
}

// splitMbox splits at "From " lines that follow an empty line (or start
// the file). Inside a diff such a line would start with a space, '+' or '-'.
func splitMbox(data []byte) [][]byte {
	data = bytes.TrimLeft(data, "\r\n")
	var mails [][]byte
	start := 0
	prevEmpty := true
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		line := data[off:end]
		if prevEmpty && off > start && fromLine.Match(line) {
			mails = append(mails, data[start:off])
			start = off
		}
		prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
		off = end
	}
	return append(mails, data[start:])
}

// decodeMail undoes a quoted-printable or base64 body of a single-part mail
// so git apply sees the diff; other mails are returned as they are.
func decodeMail(m []byte) []byte {
	hdrEnd := bytes.Index(m, []byte("\n\n"))
	if hdrEnd < 0 {
		return m
	}
	msg, err := readMail(m)
	if err != nil {
		return m
	}
	var dec io.Reader
	switch strings.ToLower(strings.TrimSpace(msg.Header.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		dec = quotedprintable.NewReader(bytes.NewReader(m[hdrEnd+2:]))
	default:
		return m // 7bit/8bit need nothing; base64 and multipart are left to git am users
	}
	body, err := io.ReadAll(dec)
	if err != nil {
		return m
	}
	out := append([]byte(nil), m[:hdrEnd+2]...)
	return append(out, body...)
}

// readMail parses the headers of a mail that may start with an mbox
// "From " line.
func readMail(m []byte) (*mail.Message, error) {
	if fromLine.Match(m) {
		if i := bytes.IndexByte(m, '\n'); i >= 0 {
			m = m[i+1:]
		}
	}
	return mail.ReadMessage(bufio.NewReader(bytes.NewReader(m)))
}

var patchPrefix = regexp.MustCompile(`^(\s*\[[^\]]*\])+\s*`)

// subjectOf returns the mail's Subject without its "[PATCH n/m]" prefix,
// or else the first non-empty line.
func subjectOf(data []byte) string {
	if msg, err := readMail(data); err == nil {
		if s := msg.Header.Get("Subject"); s != "" {
			if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
				s = d
			}
			return strings.TrimSpace(patchPrefix.ReplaceAllString(s, ""))
		}
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !fromLine.MatchString(l) {
			return l
		}
	}
	return ""
}

// coverSubject is the subject of a cover letter: "[PATCH 0/N]", "[PATCH v2 00/12]".
var coverSubject = regexp.MustCompile(`^\s*\[[^\]]*\b0+/[0-9]+\]`)

// isCover reports whether a mail without a diff is a series' cover letter.
func isCover(m []byte) bool {
	msg, err := readMail(m)
	return err == nil && coverSubject.MatchString(msg.Header.Get("Subject"))
}

// statedLine is a line git format-patch --base and b4 write: at the start
// of a line, so never inside a diff (whose lines start with ' ', '+', '-').
var statedLine = regexp.MustCompile(`(?m)^(base-commit|prerequisite-patch-id): *([0-9a-f]{7,64})\s*$`)

// add collects what mail m states; a second, different base is an error.
func (st *Stated) add(m []byte, name string) error {
	if st == nil {
		return nil
	}
	for _, l := range statedLine.FindAllSubmatch(m, -1) {
		v := string(l[2])
		if string(l[1]) == "prerequisite-patch-id" {
			if !slices.Contains(st.Prerequisites, v) {
				st.Prerequisites = append(st.Prerequisites, v)
			}
			continue
		}
		switch {
		case st.Base == "":
			st.Base, st.By = v, name
		case st.Base != v:
			return fmt.Errorf("patch series: %s states base-commit %s, %s states %s: which tree is it for?", st.By, st.Base, name, v)
		}
	}
	return nil
}
