package report

import (
	"fmt"

	"github.com/rig-kernel/rig/rig/result"
)

// oopsLine is one kernel report on a line: kind, title, the innermost
// source location when its stack was decoded, and where it is in the
// console log.
func oopsLine(o result.Oops, max int) string {
	where := ""
	if w := o.Where(); w != "" {
		where = " at " + result.Clean(w, 200)
	}
	return fmt.Sprintf("%s: %s%s (console.log:%d)", result.Clean(o.Kind, 30), result.Clean(o.Title, max), where, o.Line)
}

// stackLines is a report's stack, a frame a line, decoded frames with
// their file:line and inlined functions marked (result.Frame's String),
// and each further stack (KASAN's allocation and free) under its heading.
func stackLines(o result.Oops) []string {
	var l []string
	section := ""
	for _, f := range o.Stack {
		if f.Section != section {
			section = f.Section
			l = append(l, result.Clean(section, 200)+":")
		}
		l = append(l, result.Clean(f.String(), 300))
	}
	return l
}
