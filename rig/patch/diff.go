package patch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileDiff is one file's part of a patch, as far as the rig needs it: the
// names (raw, as written, for the safety check) and the hunks (to name the
// one git could not apply).
type fileDiff struct {
	// gitOld, gitNew are the names on the "diff --git" line ("" if none).
	gitOld, gitNew string
	// oldName, newName are the "---"/"+++" names ("" for /dev/null or absent).
	oldName, newName string
	// renameFrom, renameTo are "rename/copy from/to" names.
	renameFrom, renameTo string
	symlink              bool // the patch makes this path a symlink (mode 120000)
	hunks                []hunk
	line                 int // 1-based line of the patch where this file starts
}

type hunk struct {
	oldStart int
	header   string // the whole "@@ ... @@ context" line
	line     int    // 1-based line of the patch where the hunk starts
}

// names returns every name the file diff mentions, raw, with the -p level
// git applies to it (rename/copy names carry no a/ b/ prefix).
func (f *fileDiff) names() []rawName {
	var out []rawName
	for _, n := range []string{f.gitOld, f.gitNew, f.oldName, f.newName} {
		if n != "" {
			out = append(out, rawName{n, 0})
		}
	}
	for _, n := range []string{f.renameFrom, f.renameTo} {
		if n != "" {
			out = append(out, rawName{n, -1})
		}
	}
	return out
}

type rawName struct {
	name  string
	strip int // added to the -p level
}

// parseDiff reads the file diffs of a patch (git or traditional unified
// diff; mail headers and commit messages around them are skipped). It
// counts hunk lines, so a removed line that starts with "-- " is not taken
// for a file header. It never fails: what it cannot read, git reports; a
// hunk that ends early ends there, so no file header after it goes unseen.
func parseDiff(data []byte) []*fileDiff {
	lines := strings.Split(string(data), "\n")
	var files []*fileDiff
	var cur *fileDiff
	var oldLeft, newLeft int // lines still expected in the current hunk
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSuffix(lines[i], "\r")
		if oldLeft > 0 || newLeft > 0 {
			inHunk := true
			switch {
			case l == "" || l[0] == ' ':
				oldLeft--
				newLeft--
			case l[0] == '-':
				oldLeft--
			case l[0] == '+':
				newLeft--
			case l[0] == '\\':
			default:
				// The hunk ends early: read l as a header line.
				inHunk = false
				oldLeft, newLeft = 0, 0
			}
			if inHunk {
				continue
			}
		}
		switch {
		case strings.HasPrefix(l, "diff --git "):
			cur = &fileDiff{line: i + 1}
			files = append(files, cur)
			cur.gitOld, cur.gitNew = splitGitHeader(l[len("diff --git "):])
		case strings.HasPrefix(l, "--- ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ "):
			if cur == nil || len(cur.hunks) > 0 || cur.oldName != "" || cur.newName != "" {
				// A traditional diff: "---" starts the file.
				cur = &fileDiff{line: i + 1}
				files = append(files, cur)
			}
			cur.oldName = diffName(l[4:])
			cur.newName = diffName(strings.TrimSuffix(lines[i+1], "\r")[4:])
			i++
		case cur == nil:
		case strings.HasPrefix(l, "@@ "):
			var h hunk
			var oldN, newN int
			if parseHunkHeader(l, &h.oldStart, &oldN, &newN) != nil {
				continue // git reports it
			}
			h.header, h.line = l, i+1
			cur.hunks = append(cur.hunks, h)
			oldLeft, newLeft = oldN, newN
		case strings.HasPrefix(l, "rename from "), strings.HasPrefix(l, "copy from "):
			cur.renameFrom = unquote(l[strings.Index(l, "from ")+5:])
		case strings.HasPrefix(l, "rename to "), strings.HasPrefix(l, "copy to "):
			cur.renameTo = unquote(l[strings.Index(l, "to ")+3:])
		case strings.HasPrefix(l, "new file mode 120000"), strings.HasPrefix(l, "new mode 120000"):
			cur.symlink = true
		}
	}
	return files
}

// parseHunkHeader reads "@@ -a[,b] +c[,d] @@".
func parseHunkHeader(l string, oldStart, oldN, newN *int) error {
	f := strings.Fields(l)
	if len(f) < 4 || f[3] != "@@" || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return fmt.Errorf("bad hunk header %q", l)
	}
	var err error
	if *oldStart, *oldN, err = rangeOf(f[1][1:]); err != nil {
		return fmt.Errorf("bad hunk header %q", l)
	}
	if _, *newN, err = rangeOf(f[2][1:]); err != nil {
		return fmt.Errorf("bad hunk header %q", l)
	}
	return nil
}

func rangeOf(s string) (start, n int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if start, err = strconv.Atoi(a); err != nil {
		return 0, 0, err
	}
	n = 1
	if ok {
		n, err = strconv.Atoi(b)
	}
	return start, n, err
}

// splitGitHeader splits the names of "diff --git a/X b/Y". Unquoted names
// with spaces are ambiguous; the split at the middle (a/X b/X) is tried
// first, then at " b/". The safety check also looks at the whole line, so
// a wrong split here cannot let a bad name through.
func splitGitHeader(s string) (string, string) {
	if strings.HasPrefix(s, `"`) {
		a, rest, err := quotedPrefix(s)
		if err != nil {
			return s, ""
		}
		return a, unquote(strings.TrimPrefix(rest, " "))
	}
	if n := len(s); n%2 == 1 && s[n/2] == ' ' {
		a, b := s[:n/2], s[n/2+1:]
		if dropFirst(a) == dropFirst(b) {
			return a, b
		}
	}
	if i := strings.Index(s, ` "`); i >= 0 {
		return s[:i], unquote(s[i+1:])
	}
	if i := strings.Index(s, " b/"); i >= 0 {
		return s[:i], s[i+1:]
	}
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func dropFirst(s string) string {
	if _, rest, ok := strings.Cut(s, "/"); ok {
		return rest
	}
	return s
}

// diffName is the name of a "---"/"+++" line: quoted or up to a tab (a
// timestamp follows in traditional diffs); "" for /dev/null.
func diffName(s string) string {
	if strings.HasPrefix(s, `"`) {
		s = unquote(s)
	} else if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	} else {
		s = strings.TrimRight(s, " \r")
	}
	if s == "/dev/null" {
		return ""
	}
	return s
}

// quotedPrefix reads a C-quoted string (git's quoting of unusual names) at
// the start of s and returns it unquoted and what follows it.
func quotedPrefix(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			u, err := strconv.Unquote(s[:i+1])
			return u, s[i+1:], err
		}
	}
	return "", "", errors.New("unterminated quoted name")
}

func unquote(s string) string {
	s = strings.TrimRight(s, "\r")
	if strings.HasPrefix(s, `"`) {
		if u, _, err := quotedPrefix(s); err == nil {
			return u
		}
	}
	return s
}

// stripName drops n leading components like git apply -pN; "" if the name
// has too few.
func stripName(name string, n int) string {
	for ; n > 0; n-- {
		i := strings.IndexByte(name, '/')
		if i < 0 {
			return ""
		}
		name = strings.TrimLeft(name[i+1:], "/")
	}
	return name
}

// reasonEscape is the reason for every refused name.
const reasonEscape = "path escapes the tree"

// checkPaths refuses a patch that names a path outside dir: absolute, with
// a ".." component, inside .git, or below a symlink (one in the tree, or one
// the patch itself creates). It returns the offending name and why, or "".
func checkPaths(dir string, files []*fileDiff, strip int) (name, why string) {
	created := map[string]bool{} // symlinks this patch creates
	for _, f := range files {
		if f.symlink {
			for _, n := range []string{f.gitNew, f.newName, f.renameTo} {
				if n != "" {
					created[stripName(n, strip)] = true
				}
			}
		}
	}
	for _, f := range files {
		for _, rn := range f.names() {
			p := strip + rn.strip
			if p < 0 {
				p = 0
			}
			rel := stripName(rn.name, p)
			if why := badName(rn.name); why != "" {
				if rel != "" && badName(rel) != "" {
					return rel, why // the name as git would use it
				}
				return rn.name, why
			}
			if rel == "" {
				continue // git reports the missing name
			}
			if why := belowSymlink(dir, rel, created); why != "" {
				return rel, why
			}
		}
	}
	return "", ""
}

// badName checks a raw name (any -p level): absolute, "..", or ".git".
func badName(n string) string {
	if strings.HasPrefix(n, "/") {
		return "absolute path"
	}
	// Split on spaces too: an unquoted "diff --git" line may have been
	// split in the wrong place, and then ".." could hide after a space.
	for _, c := range strings.FieldsFunc(n, func(r rune) bool { return r == '/' || r == ' ' || r == '\t' }) {
		switch {
		case c == "..":
			return "\"..\" component"
		case strings.EqualFold(c, ".git"):
			return ".git component"
		}
	}
	if strings.Contains(n, " /") {
		return "absolute path"
	}
	if strings.ContainsRune(n, 0) {
		return "NUL in path"
	}
	return ""
}

// belowSymlink reports whether a parent directory of rel inside dir is a
// symlink, or one this patch creates.
func belowSymlink(dir, rel string, created map[string]bool) string {
	parts := strings.Split(rel, "/")
	checkTree := true
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], "/")
		if created[parent] {
			return "parent " + parent + " is a symlink the patch creates"
		}
		if !checkTree {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(parent)))
		if err != nil {
			checkTree = false // does not exist yet: nothing below it does
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return "parent " + parent + " is a symlink"
		}
	}
	return ""
}

// hunkAt finds the hunk git names in "patch failed: <file>:<line>": the
// hunk of that file whose old start is line. It returns the 1-based hunk
// number within the file and its header, or 0.
func hunkAt(files []*fileDiff, strip int, file string, line int) (int, string) {
	for _, f := range files {
		if !f.isNamed(file, strip) {
			continue
		}
		for i, h := range f.hunks {
			if h.oldStart == line {
				return i + 1, h.header
			}
		}
	}
	return 0, ""
}

// hunkOfLine finds the file and hunk that contain line n of the patch
// (git's "corrupt patch at line N").
func hunkOfLine(files []*fileDiff, strip int, n int) (file string, num int, header string) {
	for _, f := range files {
		if f.line > n {
			break
		}
		file, num, header = f.name(strip), 0, ""
		for i, h := range f.hunks {
			if h.line > n {
				break
			}
			num, header = i+1, h.header
		}
	}
	return file, num, header
}

func (f *fileDiff) isNamed(file string, strip int) bool {
	for _, rn := range f.names() {
		p := strip + rn.strip
		if p < 0 {
			p = 0
		}
		if stripName(rn.name, p) == file {
			return true
		}
	}
	return false
}

// name is the file's path in the tree, as git would name it.
func (f *fileDiff) name(strip int) string {
	for _, n := range []string{f.oldName, f.newName, f.gitOld, f.gitNew} {
		if n != "" {
			if s := stripName(n, strip); s != "" {
				return s
			}
		}
	}
	return ""
}

// hasDiff reports whether data holds at least one file diff.
func hasDiff(data []byte) bool {
	if !bytes.Contains(data, []byte("diff --git ")) && !bytes.Contains(data, []byte("\n+++ ")) {
		return false
	}
	return len(parseDiff(data)) > 0
}

// TouchesKconfig reports whether any patch adds, removes or changes a
// Kconfig file (Kconfig, Kconfig.debug, ...), which can change what the
// kernel's config tools make of a config fragment.
func TouchesKconfig(patches []Patch) bool {
	for _, p := range patches {
		for _, f := range parseDiff(p.Data) {
			for _, n := range f.names() {
				base := n.name
				if i := strings.LastIndexByte(base, '/'); i >= 0 {
					base = base[i+1:]
				}
				if strings.HasPrefix(base, "Kconfig") {
					return true
				}
			}
		}
	}
	return false
}
