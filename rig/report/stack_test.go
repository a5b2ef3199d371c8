package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// report.html shows each kernel report's stack under it, a frame a line,
// further stacks under their headings, with the decoded place in the
// report's line; frame text is escaped.
func TestHTMLStack(t *testing.T) {
	r := renderRun()
	r.Cells[0].Oopses[0].Stack = append(r.Cells[0].Oopses[0].Stack, result.Frame{Func: "<script>x</script>+0x1/0x2"},
		result.Frame{Func: "kfree+0x10/0x20", File: "mm/slub.c", Line: 9, Section: "Freed by task 97"})
	var b bytes.Buffer
	if err := report.HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	text := strings.ReplaceAll(s, "&#43;", "+") // html/template escapes '+'
	for _, want := range []string{
		"foo+0x1/0x2 at include/linux/bar.h:7 (console.log:12)",
		"<pre class=\"stack\">bar include/linux/bar.h:7 [inline]\nfoo+0x1/0x2 kernel/futex/core.c:100\n? do_syscall_64+0x56/0xa4\n&lt;script&gt;x&lt;/script&gt;+0x1/0x2\nFreed by task 97:\nkfree+0x10/0x20 mm/slub.c:9\n</pre>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(s, "<script>x") {
		t.Error("a frame's text is not escaped")
	}
}
