package oops

import (
	"slices"
	"strings"
)

// Frame is one stack frame of a report as the kernel printed it, for a
// symbolizer to decode to file:line (rig/symbolize).
type Frame struct {
	// Sym is the symbol and offset as printed: "futex_wake+0x1a/0x40".
	Sym string
	// Module is the module the symbol is in ("" for vmlinux).
	Module string
	// Guess marks a frame printed with "? ": an address the unwinder found
	// on the stack but could not prove is a return address.
	Guess bool
	// PC marks the faulting address itself (the RIP or pc line), where the
	// other frames are return addresses.
	PC bool
	// Section is the heading of a further stack the report prints after
	// its own ("Freed by task 123", KASAN's), "" for the report's own.
	Section string
}

func (f Frame) String() string {
	s := f.Sym
	if f.Guess {
		s = "? " + s
	}
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
}

// Bounds of frame collection.
const (
	// MaxFrames is how many frames a report keeps, its further stacks
	// (KASAN's allocation and free) included.
	MaxFrames = 48
	// traceWindow is how many lines after its first line a report's call
	// trace may start (a KASAN report prints its header, the access and
	// the CPU lines first).
	traceWindow = 100
	maxSymLen   = 128
)

var (
	// sectionRe starts a further stack of the same report: KASAN's
	// "Allocated by task 12:", "Freed by task 12 on cpu 1 at 5.1s:", "Last
	// potentially related work creation:".
	sectionRe = re(`^((?:Allocated|Freed) by task \d+(?: on cpu \d+ at [\d.]+s)?|(?:Second to last|Last) potentially related work creation):$`)

	// otherTaskRe starts the stack of a task that is not the report's
	// own: an RCU stall prints its grace-period kthread's ("rcu: RCU
	// grace-period kthread stack dump:", then "task:rcu_sched state:I
	// ..." and a call trace), before the stalled CPU's own registers and
	// trace when that CPU reports itself, after them when another does.
	otherTaskRe = re(`^(?:rcu: )?(RCU grace-period kthread stack dump|Stack dump where RCU GP kthread last ran):$`)
	// ownStackRe starts a CPU's own registers and trace ("CPU: 1 UID: 0
	// PID: 36 Comm: ...", "NMI backtrace for cpu 1"): frames after it are
	// the report's own again.
	ownStackRe = re(`^(?:CPU: \d+ (?:UID: \d+ )?PID: \d+ |NMI backtrace for cpu \d+$)`)
	// nmiBacktraceRe starts a CPU's stack that another CPU asked for (not
	// "... skipped: idling at", which has none).
	nmiBacktraceRe = re(`^NMI backtrace for cpu (\d+)$`)
)

// trace is the stack being collected for the last report of one printk
// caller.
type trace struct {
	report  int  // the report's Line
	inCall  bool // inside its "Call Trace:" lines (or a further stack's)
	hasPC   bool
	section string
	// callCtx is the printk caller of its "Call Trace:" line: while it
	// is printed, another caller's lines are not this trace's.
	callCtx string
	// traced: the further stack has had its call trace, so a CPU's own
	// registers may follow (a section for another CPU prints its own
	// "CPU:" and RIP lines before its trace).
	traced bool
}

// startTrace makes the report that starts on the current line the one that
// the caller's next frames belong to.
func (s *Scanner) startTrace(ctx string) {
	if s.traces == nil {
		s.traces = map[string]*trace{}
		s.frames = map[int][]Frame{}
	}
	if len(s.reports) >= MaxReports {
		delete(s.traces, ctx) // the report will not be kept
		return
	}
	s.traces[ctx] = &trace{report: s.line}
}

// traceFor is the trace a line of caller ctx adds to, or nil.
func (s *Scanner) traceFor(ctx string) *trace {
	t := s.traces[ctx]
	if t == nil && ctx != "" {
		t = s.traces[""] // a console without caller ids on the report's line
	}
	if t == nil || s.line-t.report > traceWindow && !t.inCall {
		return nil
	}
	return t
}

// pcLine takes the faulting symbol of a RIP or pc line (the text after
// "RIP: 0010:" or "pc : ") as the first frame of the caller's report.
func (s *Scanner) pcLine(ctx, sym string) {
	t := s.traceFor(ctx)
	if t == nil || t.hasPC || s.ownFrames(t) > 0 {
		return // a RIP line after the trace is a frame's saved registers
	}
	if t.section != "" && !t.traced {
		return // another CPU's registers, before its trace
	}
	if f, ok := parseSym(sym); ok {
		t.hasPC, f.PC = true, true
		t.inCall, t.section = false, ""
		s.addFrame(t, f)
	}
}

// adoptBacktrace follows a report across printk callers: a report that
// asks other CPUs for their stacks ("Sending NMI from CPU 0 to CPUs 1:",
// an RCU stall detected by another CPU) gets each one printed by that CPU,
// in its NMI or IPI handler, so under caller C1 where the report is C0's.
// On C1's "NMI backtrace for cpu 1", when C1 has no report of its own
// open, C1's lines go to the latest other caller's report.
func (s *Scanner) adoptBacktrace(ctx, msg string) {
	m := nmiBacktraceRe.FindStringSubmatch(msg)
	if m == nil || ctx != "C"+m[1] {
		return
	}
	if t := s.traces[ctx]; t != nil && (s.line-t.report <= traceWindow || t.inCall) {
		return
	}
	var latest *trace
	for k, t := range s.traces {
		if k != ctx && s.line-t.report <= traceWindow && (latest == nil || t.report > latest.report) {
			latest = t
		}
	}
	if latest != nil {
		s.traces[ctx] = latest
	}
}

// frameLine reports whether msg belongs to a call trace (a frame or one of
// its markers) and takes a frame into the caller's report.
func (s *Scanner) frameLine(ctx, msg string) bool {
	s.adoptBacktrace(ctx, msg)
	t := s.traceFor(ctx)
	if t == nil {
		return false
	}
	if t.inCall && ctx != t.callCtx {
		return false // another CPU's line in the middle of this trace
	}
	if msg == "Call Trace:" || msg == "Call trace:" {
		t.inCall, t.traced, t.callCtx = true, true, ctx
		return true
	}
	if m := otherTaskRe.FindStringSubmatch(msg); m != nil {
		t.inCall, t.section, t.traced = false, m[1], false // its own "Call Trace:" follows
		return true
	}
	if t.section != "" && t.traced && ownStackRe.MatchString(msg) {
		t.inCall, t.section = false, ""
		return false
	}
	if strings.HasSuffix(msg, ":") && (t.inCall || strings.Contains(msg, " by task ")) {
		if m := sectionRe.FindStringSubmatch(msg); m != nil {
			t.inCall, t.section, t.traced, t.callCtx = true, m[1], true, ctx
			return true
		}
	}
	if !t.inCall {
		return false
	}
	if isTraceMarker(msg) {
		return true
	}
	f, ok := parseFrame(msg)
	if !ok {
		t.inCall = false // the trace ended
		return false
	}
	f.Section = t.section
	if fs := s.frames[t.report]; s.ownFrames(t) == 1 && fs[0].PC && fs[0].Sym == f.Sym && fs[0].Module == f.Module && !f.Guess && f.Section == "" {
		return true // arm64's trace starts at the pc it printed already
	}
	s.addFrame(t, f)
	return true
}

// parseFrame reads a call trace line: "? futex_wake+0x1a/0x40 [mod]", on
// old x86 kernels after the address ("[<ffffffff81234567>] "). Anything
// may follow (a symbolizer's "kernel/futex/core.c:12", arm64's "(P)").
// By hand, not a regexp: it runs on every line of every trace.
func parseFrame(msg string) (Frame, bool) {
	if rest, ok := strings.CutPrefix(msg, "[<"); ok {
		i := strings.Index(rest, ">] ")
		if i <= 0 || !allHex(rest[:i]) {
			return Frame{}, false
		}
		msg = rest[i+3:]
	}
	rest, guess := strings.CutPrefix(msg, "? ")
	f, ok := parseSym(rest)
	f.Guess = guess
	return f, ok
}

// parseSym reads "func+0x1a/0x40", optionally followed by " [mod]".
func parseSym(s string) (Frame, bool) {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '.' || s[i] == '$' || 'a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z' || i > 0 && '0' <= s[i] && s[i] <= '9') {
		i++
	}
	if i == 0 || s[0] == '.' || !strings.HasPrefix(s[i:], "+0x") {
		return Frame{}, false
	}
	j := i + 3
	k := j
	for k < len(s) && isHexDigit(s[k]) {
		k++
	}
	if k == j || !strings.HasPrefix(s[k:], "/0x") {
		return Frame{}, false
	}
	l := k + 3
	end := l
	for end < len(s) && isHexDigit(s[end]) {
		end++
	}
	if end == l {
		return Frame{}, false
	}
	f := Frame{Sym: s[:end]}
	if rest, ok := strings.CutPrefix(s[end:], " ["); ok {
		if m := strings.IndexByte(rest, ']'); m > 0 && isWord(rest[:m]) {
			f.Module = rest[:m]
		}
	}
	return f, true
}

func isHexDigit(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// isTraceMarker is a call trace line that is not a frame: x86's stack
// switches ("<TASK>", "</IRQ>", ...) and frames a symbolizer already
// decoded as inlined ("__dump_stack lib/dump_stack.c:77 [inline]").
func isTraceMarker(msg string) bool {
	if strings.HasPrefix(msg, "<") && strings.HasSuffix(msg, ">") && len(msg) <= 12 {
		return true
	}
	return strings.HasSuffix(msg, " [inline]")
}

// addFrame keeps a frame of t's report: a frame of the report's own stack
// goes after the own frames kept so far and before every further stack's,
// since an RCU stall may print another task's stack first.
func (s *Scanner) addFrame(t *trace, f Frame) {
	fs := s.frames[t.report]
	if len(fs) >= MaxFrames || len(f.Sym) > maxSymLen {
		return
	}
	if f.Section != "" {
		s.frames[t.report] = append(fs, f)
		return
	}
	s.frames[t.report] = slices.Insert(fs, s.ownFrames(t), f)
}

// ownFrames is how many of t's report's frames are its own stack's.
func (s *Scanner) ownFrames(t *trace) int {
	fs := s.frames[t.report]
	n := 0
	for n < len(fs) && fs[n].Section == "" {
		n++
	}
	return n
}

// endTraces stops collecting for caller ctx (all callers if ctx is "").
func (s *Scanner) endTraces(ctx string) {
	for k := range s.traces {
		if ctx == "" || k == ctx {
			delete(s.traces, k)
		}
	}
}

// Frames returns the stack printed with report r: the symbol of its RIP or
// pc line first (PC set), then its call trace, at most MaxFrames, or nil.
// A report's frames keep arriving after Line returned it: ask once the
// console is done.
func (s *Scanner) Frames(r Report) []Frame {
	fs := s.frames[r.Line]
	return append([]Frame(nil), fs...)
}
