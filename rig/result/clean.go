package result

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes untrusted text (it may come from the kernel under test) safe
// for a terminal, Markdown and XML: invalid UTF-8, control characters and
// ANSI escapes are replaced, and the text is cut at max runes.
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
		b.WriteRune(r)
		n++
	}
	return b.String()
}
