// Package lines cuts text for messages: the first or last line of a tool's
// output, its last n lines, or all of it squeezed onto one line.
package lines

import "strings"

// First is the first line of s, surrounding space trimmed.
func First(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// Last is the last line of s that is not blank, trimmed.
func Last(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// Tail is the last n lines of s (trailing line ends dropped).
func Tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// One is s on one line: every run of white space, line ends included,
// becomes one space.
func One(s string) string { return strings.Join(strings.Fields(s), " ") }
