// Package oops turns kernel console output, fed one line at a time to a
// Scanner, into reports (panic, BUG, Oops, WARNING, the sanitizers,
// lockdep, stalls, hung tasks, reboots) from a table of patterns, with
// bounded work on untrusted input (docs/design.md, "Kernel reports").
package oops

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Report is one kernel report found in console output.
type Report struct {
	Kind  string // one of the Kind* constants
	Title string // one line, cleaned: e.g. "WARNING in futex_wake"
	Line  int    // 1-based line number of the first line of the report
}

// Kinds of report.
const (
	KindPanic      = "panic"
	KindBUG        = "BUG"
	KindOops       = "Oops"
	KindWarning    = "WARNING"
	KindKASAN      = "KASAN"
	KindKCSAN      = "KCSAN"
	KindUBSAN      = "UBSAN"
	KindKFENCE     = "KFENCE"
	KindLockdep    = "lockdep"
	KindSoftLockup = "soft-lockup"
	KindHungTask   = "hung-task"
	KindRCUStall   = "rcu-stall"
	KindReboot     = "unexpected-reboot"
)

// wedging are the kinds of report that mean the machine will not finish on
// its own: a CPU stuck in the kernel, a task stuck in D state, a panic.
var wedging = map[string]bool{
	KindPanic:      true,
	KindSoftLockup: true, // soft and hard lockups
	KindHungTask:   true,
	KindRCUStall:   true,
}

// Wedges reports whether a report of kind means the machine is wedged, so
// that waiting for the guest's verdict is pointless.
func Wedges(kind string) bool { return wedging[kind] }

// Ranks of a kind of report for naming a boot's cause (CauseRank), most
// telling first.
const (
	// rankMemory: a memory sanitizer caught a bad access. Whatever else
	// the boot reports may follow from it: a WARNING that checks the
	// freed object, an Oops on a pointer loaded from it. Another CPU can
	// print such a report before the sanitizer's, and KASAN reports only
	// the first bad access, so a second one shows only as its symptom.
	rankMemory = iota
	rankOther
	// rankEnd: a panic or reboot, whose cause is printed before it.
	rankEnd
)

var causeRanks = map[string]int{
	KindKASAN:  rankMemory,
	KindKFENCE: rankMemory,
	KindPanic:  rankEnd,
	KindReboot: rankEnd,
}

// CauseRank ranks a kind of report for naming a boot's cause: of a boot's
// reports, the first of the lowest rank names it.
func CauseRank(kind string) int {
	if r, ok := causeRanks[kind]; ok {
		return r
	}
	return rankOther
}

// ByCause sorts reports most telling first: by CauseRank, each rank in
// console order.
func ByCause(rs []Report) {
	sort.SliceStable(rs, func(i, j int) bool { return CauseRank(rs[i].Kind) < CauseRank(rs[j].Kind) })
}

// Limits that keep a Scanner's work and memory bounded on hostile input.
const (
	MaxLineLen  = 4096 // bytes of a line looked at; the rest is ignored
	MaxReports  = 100  // reports kept; later ones are counted in Dropped
	MaxTitleLen = 200  // bytes of a title
	// window is how many lines after its first line a report stays open to
	// take in its Oops line (kind) or its RIP/pc line (function name).
	window = 40
	// maxOpen bounds the reports open at once (one per printk caller).
	maxOpen = 8
	// accessWindow is how many lines after a KASAN header its access line
	// ("Read of size 8 at addr") may come: the next, or a few later when
	// another CPU's report is printed at the same time. Only KASAN prints
	// such a line; a report that has none (a double-free) ends here.
	accessWindow = 8
)

// build says how a matched line becomes a report.
type build int

const (
	titleLine      build = iota // the cleaned line (or the first submatch) is the title
	titleWarning                // "WARNING in func", or "WARNING at file:line" without symbols
	titleHeader                 // the line; an Oops line that follows makes it kind Oops
	titleOops                   // "<what> in func", func from the RIP/pc line that follows
	titleKASAN                  // "KASAN: <bug> Read in func", the access from the line that follows
	titleSanitizer              // "<first submatch> in func", or "in a / b" for two
)

// pattern is one row of the table: a line that starts a report.
type pattern struct {
	re    *regexp.Regexp
	kind  string
	build build
}

// heads[i] is the literal text every match of patterns[i] starts with, to
// skip most regexps with a prefix test.
var heads []string

// patterns is matched, in order, against each cleaned line; the first match
// wins. Keep entries specific: a guest or a driver may print "WARNING:" or
// "BUG:" text of its own, so generic entries need the kernel's exact layout.
var patterns = []pattern{
	{re(`^Kernel panic - not syncing: .*`), KindPanic, titleLine},
	{re(`^(?:reboot: )?Restarting system\b.*`), KindReboot, titleLine},

	// Sanitizers and lockdep come before the generic BUG and WARNING rows.
	// KASAN: "BUG: KASAN: slab-use-after-free in put_pi_state+0x1/0x2",
	// then "Read of size 8 at addr ..." (or "Free of addr ..." for
	// double-free and invalid-free).
	{re(`^BUG: (KASAN: [\w-]+)(?: in (\S+))?`), KindKASAN, titleKASAN},
	// "BUG: KCSAN: data-race in a / b", "... assert: race in a / b", or
	// one function when the other side is unknown.
	{re(`^BUG: (KCSAN: .+?) in (\S+)(?: / (\S+))?`), KindKCSAN, titleSanitizer},
	// "BUG: KFENCE: use-after-free read in f+0x1/0x2", "out-of-bounds
	// write", "invalid free", "memory corruption".
	{re(`^BUG: (KFENCE: .+?) in (\S+)`), KindKFENCE, titleSanitizer},
	{re(`^BUG: KMSAN: .*`), KindBUG, titleLine},
	// "UBSAN: shift-out-of-bounds in kernel/futex/core.c:123:45": the
	// column is dropped.
	{re(`^(UBSAN: [\w-]+) in (\S+?)(?::\d+)?$`), KindUBSAN, titleSanitizer},
	{re(`^UBSAN: .*`), KindUBSAN, titleLine},
	{re(`^WARNING: possible circular locking dependency detected`), KindLockdep, titleLine},
	{re(`^WARNING: possible recursive locking detected`), KindLockdep, titleLine},
	{re(`^WARNING: inconsistent lock state`), KindLockdep, titleLine},
	{re(`^WARNING: possible irq lock inversion dependency detected`), KindLockdep, titleLine},
	{re(`^WARNING: (?:HARD|SOFT)IRQ-safe -> (?:HARD|SOFT)IRQ-unsafe lock order detected`), KindLockdep, titleLine},
	{re(`^WARNING: suspicious RCU usage`), KindLockdep, titleLine},
	{re(`^WARNING: bad unlock balance detected!`), KindLockdep, titleLine},
	{re(`^WARNING: held lock freed!`), KindLockdep, titleLine},
	{re(`^WARNING: lock held when returning to user space!`), KindLockdep, titleLine},
	{re(`^WARNING: .* still has locks held!`), KindLockdep, titleLine},
	{re(`^WARNING: Nested lock was not taken`), KindLockdep, titleLine},
	{re(`^BUG: MAX_\w+ too low!`), KindLockdep, titleLine},
	{re(`^\[ INFO: (possible (?:circular|recursive) locking.*?|inconsistent lock state) \]`), KindLockdep, titleLine},

	{re(`^(?:watchdog: )?(BUG: soft lockup - CPU#\d+ stuck for .*)`), KindSoftLockup, titleLine},
	{re(`^(?:watchdog: )?(Watchdog detected hard LOCKUP on cpu \d+)`), KindSoftLockup, titleLine},
	{re(`^INFO: task .* blocked for more than \d+ seconds\.?`), KindHungTask, titleLine},
	{re(`^((?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls? on (?:CPUs/tasks|CPU|tasks))`), KindRCUStall, titleLine},

	// Crash headers: an Oops line usually follows and joins the report.
	{re(`^BUG: (?:unable to handle|kernel NULL pointer dereference|Unable to handle kernel).*`), KindBUG, titleHeader},
	{re(`^BUG: (?:TASK )?stack guard page was hit.*`), KindBUG, titleHeader},
	{re(`^Unable to handle kernel .*`), KindBUG, titleHeader},
	{re(`^kernel BUG at .*`), KindBUG, titleHeader},
	{re(`^BUG: .*`), KindBUG, titleLine},

	// Oops lines with no header before them. x86: "Oops: 0000 [#1] SMP",
	// "general protection fault, ...: 0000 [#1]", since 6.10 with an "Oops: "
	// prefix; arm64: "Internal error: Oops: 0000000096000044 [#1] SMP".
	{re(`^(?:Oops: )?(.+?): [0-9a-f]{4} \[#\d+\]`), KindOops, titleOops},
	{re(`^(Internal error: .+?): [0-9a-f]+ \[#\d+\]`), KindOops, titleOops},

	// WARN(): "WARNING: CPU: 0 PID: 1 at kernel/futex/core.c:123 func+0x12/0x34",
	// and the newer "WARNING: kernel/futex/core.c:123 at func+0x12/0x34, CPU#0: a/1".
	{re(`^WARNING: CPU: \d+ PID: \d+ at (?:(\S+) )?(\S+)`), KindWarning, titleWarning},
	{re(`^WARNING: (\S+:\d+) at ([^\s,]+)`), KindWarning, titleWarning},
}

var (
	// ripRe finds the faulting function: x86 "RIP: 0010:func+0x1/0x2",
	// old x86 "RIP: 0010:[<ffffffff81000000>]  [<...>] func+0x1/0x2",
	// arm64 "pc : func+0x8/0x10 [mod]".
	ripRe = re(`^(?:RIP: [0-9a-f]{4}:(?:\[<[0-9a-f]+>\]\s+(?:\[<[0-9a-f]+>\]\s+)?)?|pc : )(\S+)`)
	// offsetRe is a symbol offset, "+0x1f7/0x560".
	offsetRe = re(`\+0x[0-9a-f]+/0x[0-9a-f]+`)
	// funcRe is what a symbol name looks like (addresses are not).
	funcRe = re(`^[A-Za-z_$][A-Za-z0-9_$]*`)
	// endRe closes open reports.
	endRe = re(`^---\[ end (?:trace|Kernel panic)`)
	// accessRe is a KASAN report's second line: "Read of size 8 at addr",
	// "Write at addr".
	accessRe = re(`^(Read|Write) (?:of size \d+ )?at addr `)
	// kasanNullRe is what KASAN adds to a fault on the shadow of a NULL
	// pointer (x86 after "general protection fault", arm64 after "Unable to
	// handle kernel paging request"): the report becomes a KASAN one.
	kasanNullRe = re(`^(KASAN: null-ptr-deref) in range \[`)
)

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

func init() {
	for _, p := range patterns {
		heads = append(heads, literalHead(p.re.String()))
	}
}

// literalHead returns the literal text an anchored pattern starts with.
func literalHead(src string) string {
	s, ok := strings.CutPrefix(src, "^")
	if !ok {
		return ""
	}
	for i, c := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, c) {
			return s[:i]
		}
	}
	return s
}

// open is a report still taking in lines.
type open struct {
	Report
	ctx   string // printk caller ("T123", "C1") or ""
	build build
	what  string // titleOops, titleKASAN: the title before " in func"
	fn    string // titleKASAN: the function
	// kasan is set on a crash header that a KASAN null-ptr-deref line
	// joined: the Oops line that follows keeps it open for the pc line.
	kasan string
}

// Scanner classifies console lines as they arrive. The zero value is not
// ready; use NewScanner. A Scanner is not safe for concurrent use.
type Scanner struct {
	line    int
	reports []Report
	open    []*open
	// Dropped counts reports not kept because MaxReports were kept already.
	Dropped int
	// traces and frames collect stacks (frames.go).
	traces map[string]*trace
	frames map[int][]Frame
}

// NewScanner returns a Scanner at line 1.
func NewScanner() *Scanner { return &Scanner{} }

// Scan classifies all lines and returns the reports.
func Scan(lines []string) []Report {
	s := NewScanner()
	for _, l := range lines {
		s.Line(l)
	}
	return s.Reports()
}

// Reports returns the reports so far, in order of their first line,
// including any still open (they may yet change kind or title).
func (s *Scanner) Reports() []Report {
	out := make([]Report, 0, len(s.reports)+len(s.open))
	out = append(out, s.reports...)
	for _, o := range s.open {
		if len(out) >= MaxReports {
			break
		}
		out = append(out, o.Report)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// Line feeds the next console line (without its newline) and returns the
// reports it starts or completes: usually none or one. A crash header (a BUG
// line before an Oops, an Oops before its RIP line) is returned a few lines
// later, once complete, or at the latest after 40 lines.
func (s *Scanner) Line(text string) []Report {
	s.line++
	if len(text) > MaxLineLen {
		text = text[:MaxLineLen]
	}
	ctx, msg := Strip(text)
	var out []Report

	// Close reports whose window has passed.
	for i := 0; i < len(s.open); {
		if s.line-s.open[i].Line > window {
			out = s.finish(out, i)
			continue
		}
		i++
	}
	if msg == "" {
		return out
	}
	if endRe.MatchString(msg) {
		s.endTraces(ctx)
		for i := len(s.open) - 1; i >= 0; i-- {
			if ctx == "" || s.open[i].ctx == ctx {
				out = s.finish(out, i)
			}
		}
		return out
	}
	if i := s.find(ctx, titleKASAN); i >= 0 {
		// The line after a KASAN header names the access, if any; another
		// CPU's lines may come between them.
		o := s.open[i]
		if m := accessRe.FindStringSubmatch(msg); m != nil {
			o.Title = sanitizerTitle(o.what+" "+m[1], o.fn)
			return s.finish(out, i)
		}
		if s.line-o.Line >= accessWindow {
			out = s.finish(out, i)
		}
	}
	if m := kasanNullRe.FindStringSubmatch(msg); m != nil {
		if i := s.find(ctx, titleOops); i >= 0 {
			o := s.open[i]
			o.Kind, o.what, o.Title = KindKASAN, m[1], m[1]
		} else if i := s.find(ctx, titleHeader); i >= 0 {
			s.open[i].kasan = m[1]
		}
		return out
	}
	if m := ripRe.FindStringSubmatch(msg); m != nil {
		s.pcLine(ctx, msg[strings.LastIndex(msg, m[1]):])
		if i := s.find(ctx, titleOops); i >= 0 {
			o := s.open[i]
			if fn := funcName(m[1]); fn != "" {
				o.Title = cleanTitle(o.what + " in " + fn)
			}
			out = s.finish(out, i)
		}
		return out
	}
	if s.frameLine(ctx, msg) {
		return out
	}
	for k, p := range patterns {
		if !strings.HasPrefix(msg, heads[k]) {
			continue
		}
		if p.build == titleOops && !strings.Contains(msg, " [#") {
			continue
		}
		m := p.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		if p.build == titleOops {
			// An Oops line right after a header belongs to it.
			if i := s.find(ctx, titleHeader); i >= 0 {
				o := s.open[i]
				if o.kasan != "" {
					// Its function comes with the pc line.
					o.Kind, o.build, o.what, o.Title = KindKASAN, titleOops, o.kasan, o.kasan
					return out
				}
				o.Kind = KindOops
				return s.finish(out, i)
			}
		}
		// A new report closes the open ones of the same caller; a panic
		// closes all of them (nothing more will come).
		for i := 0; i < len(s.open); {
			if s.open[i].ctx == ctx || p.kind == KindPanic {
				out = s.finish(out, i)
				continue
			}
			i++
		}
		r := Report{Kind: p.kind, Line: s.line}
		s.startTrace(ctx)
		switch p.build {
		case titleLine, titleHeader:
			t := m[0]
			if len(m) > 1 && m[1] != "" {
				t = m[1]
			}
			r.Title = cleanTitle(t)
		case titleWarning:
			r.Title = warningTitle(m[1], m[2])
		case titleSanitizer:
			r.Title = sanitizerTitle(m[1], m[2:]...)
		case titleKASAN:
			r.Title = sanitizerTitle(m[1], m[2])
			if len(s.open) >= maxOpen {
				out = s.finish(out, 0)
			}
			s.open = append(s.open, &open{Report: r, ctx: ctx, build: titleKASAN, what: m[1], fn: m[2]})
			return out
		case titleOops:
			what := m[1]
			if i := strings.IndexByte(what, ','); i >= 0 {
				what = what[:i]
			}
			if what == "Internal error: Oops" || what == "Oops" {
				what = "Oops"
				r.Title = cleanTitle(m[0])
			} else {
				r.Title = cleanTitle(what)
			}
			if r.Title == "" { // nothing but punctuation before the code
				what, r.Title = "Oops", cleanTitle(m[0])
			}
			if len(s.open) >= maxOpen {
				out = s.finish(out, 0)
			}
			s.open = append(s.open, &open{Report: r, ctx: ctx, build: titleOops, what: what})
			return out
		}
		if p.build == titleHeader {
			if len(s.open) >= maxOpen {
				out = s.finish(out, 0)
			}
			s.open = append(s.open, &open{Report: r, ctx: ctx, build: titleHeader})
			return out
		}
		return s.add(out, r)
	}
	return out
}

// find returns the index of the newest open report built as b from the same
// caller (any caller when the console has no caller ids), or -1.
func (s *Scanner) find(ctx string, b build) int {
	for i := len(s.open) - 1; i >= 0; i-- {
		o := s.open[i]
		if o.build == b && (o.ctx == ctx || ctx == "" || o.ctx == "") {
			return i
		}
	}
	return -1
}

// finish closes open report i and adds it to out. A crash header that no
// Oops line joined and that repeats the title of the report before it is
// dropped: that is a second CPU hitting the same fault while the first one
// reports it (its own Oops never gets printed).
func (s *Scanner) finish(out []Report, i int) []Report {
	o := s.open[i]
	s.open = append(s.open[:i], s.open[i+1:]...)
	if o.build == titleHeader && o.Kind == KindBUG && len(s.reports) > 0 {
		if last := s.reports[len(s.reports)-1]; last.Title == o.Title && last.Kind == KindOops {
			delete(s.frames, o.Line)
			return out
		}
	}
	return s.add(out, o.Report)
}

// add keeps r (or counts it as dropped) and appends it to out.
func (s *Scanner) add(out []Report, r Report) []Report {
	if len(s.reports) >= MaxReports {
		s.Dropped++
	} else {
		s.reports = append(s.reports, r)
	}
	return append(out, r)
}

// warningTitle names a WARN() site: "WARNING in func" when the kernel has
// symbols, else "WARNING at file:line", else "WARNING".
func warningTitle(file, fn string) string {
	if name := funcName(fn); name != "" {
		return cleanTitle("WARNING in " + name)
	}
	if file == "" {
		file = fn
	}
	if strings.Contains(file, ":") {
		return cleanTitle("WARNING at " + strings.TrimSuffix(file, ","))
	}
	if name := funcName(file); name != "" {
		// "at func+0x1/0x2 [mod]": no file, symbol first.
		return cleanTitle("WARNING in " + name)
	}
	return "WARNING"
}

// sanitizerTitle is "what in a" or "what in a / b": each of where is a
// function ("f+0x1/0x2" gives "f") or a file:line, two of them sorted so
// that a race reported from either side has one title. A bare address
// is left out.
func sanitizerTitle(what string, where ...string) string {
	var names []string
	for _, w := range where {
		if w == "" {
			continue
		}
		if strings.Contains(w, ":") { // a source location
			names = append(names, treePath(w))
		} else if fn := funcName(w); fn != "" {
			names = append(names, fn)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return cleanTitle(what)
	}
	return cleanTitle(what + " in " + strings.Join(names, " / "))
}

// topDirs are the top-level directories of a kernel tree.
var topDirs = []string{"arch", "block", "certs", "crypto", "drivers", "fs", "include", "init", "io_uring",
	"ipc", "kernel", "lib", "mm", "net", "rust", "samples", "scripts", "security", "sound", "tools", "usr", "virt"}

// treePath makes a compiler's file name relative to the kernel tree: a
// build out of tree names its sources by absolute path
// ("/root/.cache/rig/slots/x86_64-6cb40bf479b7cbba/src/kernel/futex/waitwake.c:173"),
// which differs between build directories. The path is cut before its
// first component that is a top-level directory of the tree.
func treePath(p string) string {
	if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "./") && !strings.HasPrefix(p, "../") {
		return p
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		for _, d := range topDirs {
			if rest := p[i+1:]; strings.HasPrefix(rest, d+"/") {
				return rest
			}
		}
	}
	return p
}

// funcName returns the function in "func+0x12/0x34 [mod]", without the
// compiler's suffixes ("func.cold", "func.isra.0", "func.constprop.0"), or ""
// for a bare address ("0xffffffff81234567", "ffffffff81234567").
func funcName(s string) string {
	s = strings.TrimSuffix(s, ",")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "0x") || isHex(s) {
		return ""
	}
	if funcRe.FindString(s) != s {
		return ""
	}
	return s
}

func isHex(s string) bool {
	if len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// cleanTitle drops symbol offsets, squeezes spaces, trims a trailing colon,
// makes the text valid UTF-8 and bounds its length.
func cleanTitle(t string) string {
	t = offsetRe.ReplaceAllString(t, "")
	t = strings.Join(strings.Fields(t), " ")
	t = strings.TrimRight(t, ": ")
	t = strings.ToValidUTF8(t, "?")
	if len(t) > MaxTitleLen {
		t = t[:MaxTitleLen]
		for !utf8.ValidString(t) {
			t = t[:len(t)-1]
		}
	}
	return t
}
