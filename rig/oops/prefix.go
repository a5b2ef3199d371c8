package oops

import "strings"

// Strip cleans one console line and splits off its printk prefix. It drops
// ANSI escape sequences, NULs, CRs and other control bytes (a tab becomes a
// space), then the prefixes the kernel and its consumers put before a
// message, in this order, each optional:
//
//	"** 12 printk messages dropped ** "
//	"4,1234,5678901,-;"             (a /dev/kmsg record)
//	"<4>"                           (console loglevel)
//	"[    1.234567]"               (CONFIG_PRINTK_TIME)
//	"[    T1]" or "[    C0]"       (CONFIG_PRINTK_CALLER)
//
// It returns the caller id without spaces ("T1", "C0", or "" if the line has
// none) and the message with surrounding spaces trimmed.
func Strip(line string) (caller, msg string) {
	s := clean(line)
	s = strings.TrimLeft(s, " ")
	if rest, ok := cutDropped(s); ok {
		s = rest
	}
	if rest, ok := cutKmsg(s); ok {
		s = rest
	}
	if rest, ok := cutLevel(s); ok {
		s = rest
	}
	if rest, ok := cutTime(s); ok {
		s = rest
		if c, rest, ok := cutCaller(s); ok {
			caller, s = c, rest
		}
	}
	return caller, strings.TrimSpace(s)
}

// clean removes escape sequences and control bytes. It returns s itself when
// there is nothing to remove, which is the common case.
func clean(s string) string {
	dirty := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			dirty = true
			break
		}
	}
	if !dirty {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x1b:
			i = skipEscape(s, i)
		case c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
			// NUL, CR, BEL, backspace...: dropped.
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// skipEscape returns the index of the last byte of the escape sequence that
// starts at s[i] (an ESC).
func skipEscape(s string, i int) int {
	if i+1 >= len(s) {
		return i
	}
	switch s[i+1] {
	case '[': // CSI: parameters and intermediates, then one final byte.
		j := i + 2
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
			j++
		}
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) {
			return j
		}
		return len(s) - 1
	case ']': // OSC: up to BEL or ESC \.
		for j := i + 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return j
			}
			if s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\' {
				return j + 1
			}
		}
		return len(s) - 1
	default: // Two-byte sequence, e.g. ESC c, ESC 7.
		return i + 1
	}
}

func cutDropped(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "** ")
	if !ok {
		return s, false
	}
	n := digits(rest)
	if n == 0 {
		return s, false
	}
	rest, ok = strings.CutPrefix(rest[n:], " printk messages dropped **")
	if !ok {
		return s, false
	}
	return strings.TrimLeft(rest, " "), true
}

// cutKmsg cuts "level,seq,usec,flags;" off a /dev/kmsg record.
func cutKmsg(s string) (string, bool) {
	rest := s
	for k := 0; k < 3; k++ {
		n := digits(rest)
		if n == 0 || n >= len(rest) || rest[n] != ',' {
			return s, false
		}
		rest = rest[n+1:]
	}
	i := strings.IndexByte(rest, ';')
	if i < 0 || i > 8 {
		return s, false
	}
	return rest[i+1:], true
}

func cutLevel(s string) (string, bool) {
	if len(s) < 3 || s[0] != '<' {
		return s, false
	}
	n := digits(s[1:])
	if n == 0 || n > 3 || 1+n >= len(s) || s[1+n] != '>' {
		return s, false
	}
	return s[n+2:], true
}

// cutTime cuts "[ 1.234567]" (spaces, digits, a dot, digits) and one space.
func cutTime(s string) (string, bool) {
	if len(s) < 4 || s[0] != '[' {
		return s, false
	}
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	n := digits(s[i:])
	if n == 0 {
		return s, false
	}
	i += n
	if i >= len(s) || s[i] != '.' {
		return s, false
	}
	i++
	n = digits(s[i:])
	if n == 0 {
		return s, false
	}
	i += n
	if i >= len(s) || s[i] != ']' {
		return s, false
	}
	return s[i+1:], true
}

// cutCaller cuts "[    T123]" or "[  C1]" right after the timestamp.
func cutCaller(s string) (caller, rest string, ok bool) {
	if len(s) < 4 || s[0] != '[' {
		return "", s, false
	}
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) || (s[i] != 'T' && s[i] != 'C') {
		return "", s, false
	}
	start := i
	i++
	n := digits(s[i:])
	if n == 0 {
		return "", s, false
	}
	i += n
	if i >= len(s) || s[i] != ']' {
		return "", s, false
	}
	return s[start:i], s[i+1:], true
}

// digits returns how many ASCII digits s starts with.
func digits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}
