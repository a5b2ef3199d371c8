package result

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes untrusted text (it may come from the kernel under test, a
// shard, a patch or a cache entry) safe for a terminal and XML: invalid
// UTF-8, C0 and C1 control characters and ANSI escapes are replaced with
// '?', invisible format characters (bidi overrides, zero-width spaces, line
// separators) are shown as \uXXXX, and the text is cut at max runes.
func Clean(s string, max int) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case r == '\t':
			r = ' '
		case r == 0x1b || unicode.IsControl(r) || r == 0xfffe || r == 0xffff:
			r = '?'
		}
		if n >= max {
			b.WriteString("...")
			break
		}
		if invisible(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
		} else {
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

// invisible: characters a terminal or a browser does not show but obeys,
// so text can look other than it is (U+202E reverses what follows).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || unicode.Is(unicode.Variation_Selector, r)
}

// MarkdownCell makes untrusted text safe inside a Markdown table cell (and
// Markdown text): Clean, then the characters that end a cell or start
// markup escaped; a backslash first, so that "\|" cannot unescape a pipe.
func MarkdownCell(s string, max int) string {
	return mdEscaper.Replace(Clean(s, max))
}

var mdEscaper = strings.NewReplacer(`\`, `\\`, "|", `\|`, "`", "\\`", "](", `\](`,
	"*", `\*`, "<", "&lt;", ">", "&gt;", "&", "&amp;")

// CleanLines is Clean for text of several lines: each line cleaned and
// cut at max runes, the newlines kept.
func CleanLines(s string, max int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Clean(l, max)
	}
	return strings.Join(lines, "\n")
}
