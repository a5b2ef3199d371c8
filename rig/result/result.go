// Package result is a run's data and its store: the types, run.json and
// the run directories under results/; rig/report renders them. A failing
// test or a crashed kernel is a Result, not an error (docs/design.md,
// "Results on disk").
package result

import (
	"fmt"
	"strings"
	"time"
)

// Status is a cell's or a run's verdict (docs/design.md).
type Status string

// Verdicts, from best to worst for ranking a run from its cells.
const (
	Pass        Status = "pass"
	Fail        Status = "fail"
	PatchError  Status = "patch-error"
	BuildError  Status = "build-error"
	BootError   Status = "boot-error"
	Timeout     Status = "timeout"
	InfraError  Status = "infra-error"
	Interrupted Status = "interrupted"
	// NotRun is a baseline cell that was not booted because no cell it
	// would judge got as far as a boot; it never counts for a run.
	NotRun Status = "not-run"
)

// ExitCode maps a run's status to the process exit code (docs/design.md):
// 0 pass, 1 fail (the kernel or the series is at fault), 3 infrastructure,
// 130 interrupted. Usage errors (2) never produce a Result.
func (s Status) ExitCode() int {
	switch s {
	case Pass:
		return 0
	case Fail, PatchError, BuildError, BootError, Timeout:
		return 1
	case Interrupted:
		return 130
	}
	return 3
}

// rank orders statuses so that a run takes the worst status of its cells.
var rank = map[Status]int{
	Pass: 0, Fail: 1, PatchError: 2, BuildError: 3, BootError: 4, Timeout: 5, InfraError: 6, Interrupted: 7,
}

// Worst returns the worse of two statuses.
func Worst(a, b Status) Status {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Test is one test's verdict inside a cell, as the guest reported it.
type Test struct {
	Name     string            `json:"name"`
	Status   string            `json:"status"` // pass|fail|skip|error
	Reason   string            `json:"reason,omitempty"`
	Evidence map[string]string `json:"evidence,omitempty"`
	Seed     int64             `json:"seed,omitempty"`
	Seconds  float64           `json:"seconds,omitempty"`
	// Label compares with a baseline: fixed, regressed, still-failing, passing.
	Label string `json:"label,omitempty"`
	// Compare states a statistical test's hit rates on both sides.
	Compare string `json:"compare,omitempty"`
	// Known is the link of the known issue (known-issues.yaml) this
	// test's failure matched: the failure is expected and does not count.
	Known string `json:"known,omitempty"`
}

// Oops is one kernel report found on the console.
type Oops struct {
	Kind  string `json:"kind"`  // panic, BUG, WARNING, ...
	Title string `json:"title"` // the report's first line, cleaned
	Line  int    `json:"line"`  // 1-based line in console.log
	// Stack is the report's stack: the faulting function first, then the
	// call trace, decoded to file:line when the kernel has debug info.
	Stack []Frame `json:"stack,omitempty"`
}

// Frame is one frame of a kernel report's stack: the function with its
// offset as printed ("futex_wake+0x1a/0x40"), or a function inlined into
// the next frame, and where it is in the tree when decoded.
type Frame struct {
	Func   string `json:"func"`
	File   string `json:"file,omitempty"` // relative to the tree: "kernel/futex/waitwake.c"
	Line   int    `json:"line,omitempty"`
	Inline bool   `json:"inline,omitempty"` // inlined into the next frame
	Guess  bool   `json:"guess,omitempty"`  // printed with "? ": maybe not a return address
	// Section is the heading of a further stack of the report ("Freed by
	// task 123", KASAN's); "" for the report's own stack.
	Section string `json:"section,omitempty"`
}

// String is the frame as decode_stacktrace.sh prints one: "? func+0x1a/0x40
// kernel/futex/waitwake.c:123", an inlined one with " [inline]".
func (f Frame) String() string {
	s := f.Func
	if f.Guess {
		s = "? " + s
	}
	if f.File != "" {
		s += fmt.Sprintf(" %s:%d", f.File, f.Line)
	}
	if f.Inline {
		s += " [inline]"
	}
	return s
}

// Where is where the report points in the tree ("kernel/futex/core.c:766"),
// "" when its stack was not decoded: the decoded frame of the function its
// title names ("WARNING in handle_futex_death", "... Read in put_pi_state"),
// with the innermost callee inlined there when the report is in one
// ("kernel/futex/pi.c:120 (in inlined list_empty, include/linux/list.h:380)"),
// else the innermost decoded frame
// outside the kernel's own reporting code (dump_stack, the sanitizers'
// report and check functions), which a sanitizer's stack starts with.
func (o Oops) Where() string {
	fn := titleFunc(o.Title)
	fallback := ""
	group := -1 // first frame of the current run of inlined frames
	for i, f := range o.Stack {
		if f.Section != "" {
			break
		}
		if f.Guess { // "? func": maybe not a return address at all
			group = -1
			continue
		}
		if group < 0 {
			group = i
		}
		if f.Inline {
			continue
		}
		if fn != "" && frameFunc(f.Func) == fn && f.File != "" {
			where := fmt.Sprintf("%s:%d", f.File, f.Line)
			if g := o.Stack[group]; g.Inline && g.File != "" {
				where += fmt.Sprintf(" (in inlined %s, %s:%d)", frameFunc(g.Func), g.File, g.Line)
			}
			return where
		}
		for _, g := range o.Stack[group : i+1] {
			if fallback == "" && g.File != "" && !reporting(frameFunc(g.Func)) {
				fallback = fmt.Sprintf("%s:%d", g.File, g.Line)
			}
		}
		group = -1
	}
	return fallback
}

// titleFunc is the function a report's title names: the word after its
// last " in " ("" when there is none).
func titleFunc(title string) string {
	i := strings.LastIndex(title, " in ")
	if i < 0 {
		return ""
	}
	fn, _, _ := strings.Cut(title[i+len(" in "):], " ")
	return fn
}

// frameFunc is a frame's function without its offset and module.
func frameFunc(s string) string {
	s, _, _ = strings.Cut(s, "+")
	s, _, _ = strings.Cut(s, " ")
	return s
}

// reportingPrefixes name the kernel's own reporting and checking code,
// which a report's stack starts with before the code it is about.
var reportingPrefixes = []string{
	"dump_stack", "show_stack", "dump_backtrace", "print_report", "print_address_description",
	"kasan_", "__kasan_", "__asan_", "check_region", "kcsan_", "__tsan_", "ubsan_", "__ubsan_",
	"kfence_", "__kfence_", "panic", "__warn", "warn_slowpath", "report_bug", "handle_bug",
	"exc_invalid_op", "asm_exc_",
}

func reporting(fn string) bool {
	for _, p := range reportingPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// Stage is the timing of one pipeline stage of a cell.
type Stage struct {
	Name    string        `json:"name"` // source, apply, config, build, pack, boot, tests, poweroff
	Start   time.Time     `json:"start"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Cached  bool          `json:"cached,omitempty"` // nothing was rebuilt
	Note    string        `json:"note,omitempty"`
}

// Patch records one applied patch of the series.
type Patch struct {
	Name    string `json:"name"`
	Subject string `json:"subject,omitempty"`
	State   string `json:"state"` // applied, already-applied, failed, not-tried
	// SHA256 is the hex sha256 of the patch file as the run read it, so a
	// report made later (KCIDB's patchset_hash) need not read the series
	// again, which may have changed or be on another machine.
	SHA256 string `json:"sha256,omitempty"`
}

// Cell is one (arch, accel, config, series) combination, end to end.
type Cell struct {
	ID     string `json:"id"` // directory name under the run directory
	Arch   string `json:"arch"`
	Accel  string `json:"accel,omitempty"` // the accelerator really used
	Config string `json:"config"`          // fragment names, joined by '+'
	Series string `json:"series,omitempty"`
	// Role is "baseline" for the unpatched cell of a --baseline run: it
	// gives the patched cell's tests their labels and is not the verdict.
	Role string `json:"role,omitempty"`
	// Prefix is set on the cells of a `rig run --each-patch`: the cell
	// tests the series' first Prefix patches, of PrefixOf, and PatchName
	// and PatchSubject name the last of them. NotTried marks a prefix
	// after one that did not apply: it was not applied, built or booted.
	Prefix       int    `json:"prefix,omitempty"`
	PrefixOf     int    `json:"prefix_of,omitempty"`
	PatchName    string `json:"patch_name,omitempty"`
	PatchSubject string `json:"patch_subject,omitempty"`
	NotTried     bool   `json:"not_tried,omitempty"`

	Status Status `json:"status"`
	Cause  string `json:"cause,omitempty"` // one line: failing test, oops title, compiler error, patch and hunk
	// Verdict is what the cell counts for in its run when it was judged
	// against its baseline: a failure the tree without the series shares
	// is not the series'. Empty: Status counts (see Counts).
	Verdict      Status `json:"verdict,omitempty"`
	VerdictCause string `json:"verdict_cause,omitempty"`
	// Known is the link of the known issue (known-issues.yaml) the cell's
	// cause matched; with every failing test known too, the cell's failure
	// is expected and does not count.
	Known string `json:"known,omitempty"`

	Tests []Test `json:"tests,omitempty"`
	// Oopses are the boot's kernel reports, most telling first (a memory
	// sanitizer's, then the rest, then a panic or reboot; each group in
	// console order): the first names the cell's cause.
	Oopses  []Oops  `json:"oopses,omitempty"`
	Stages  []Stage `json:"stages,omitempty"`
	Patches []Patch `json:"patches,omitempty"`
	// BaselineStages are, in a matrix cell judged against its baseline,
	// the stages of the unpatched twin it ran first (in <cell>/baseline/;
	// `rig run` records that twin as a cell of its own), so the run's time
	// is all in run.json.
	BaselineStages []Stage `json:"baseline_stages,omitempty"`
	// Base is the tree the series was applied to and why that one.
	Base *Base `json:"base,omitempty"`

	// Reproduction data: enough to replay the boot by hand.
	TreeID        string   `json:"tree_id,omitempty"` // git tree hash of the patched source
	KernelRelease string   `json:"kernel_release,omitempty"`
	KernelImage   string   `json:"kernel_image,omitempty"`
	KernelSize    int64    `json:"kernel_size,omitempty"`
	Initramfs     string   `json:"initramfs,omitempty"`
	QEMUArgv      []string `json:"qemu_argv,omitempty"`
	QEMUVersion   string   `json:"qemu_version,omitempty"`
	Cmdline       string   `json:"cmdline,omitempty"`
	Seed          int64    `json:"seed,omitempty"`
	GuestEvents   int      `json:"guest_events,omitempty"`
	ConsoleLines  int      `json:"console_lines,omitempty"`

	// Identity of what was booted: the image's and the config's SHA-256,
	// the build id the kernel was built with (its `uname -v` starts with
	// "#<build id> "), and the `uname -v` the guest reported.
	KernelSHA256  string `json:"kernel_sha256,omitempty"`
	ConfigSHA256  string `json:"config_sha256,omitempty"`
	BuildID       string `json:"build_id,omitempty"`
	BootedVersion string `json:"booted_version,omitempty"`
	// ObjectCheck is the build's object verification (absent when the
	// kernel came from the kernel cache: it was verified when built).
	ObjectCheck *ObjectCheck `json:"object_check,omitempty"`

	// Replay (docs/design.md, "Replay"): Reproduce names the cell's
	// script; Kept the files kept beside it so that it boots without the
	// cache (a cell that did not pass, or every cell with --keep-kernel),
	// KeptBytes their size. Compiler is the first line of `--version` of
	// the compiler that builds this arch's kernels on the host; Inputs are
	// the options the cell ran with, for `rig rerun`.
	Reproduce string   `json:"reproduce,omitempty"`
	Kept      []string `json:"kept,omitempty"`
	KeptBytes int64    `json:"kept_bytes,omitempty"`
	Compiler  string   `json:"compiler,omitempty"`
	Inputs    *Inputs  `json:"inputs,omitempty"`
}

// Inputs are a cell's options as the rig resolved them: with the cell's
// Arch, Accel, Seed, Base and Prefix, what `rig rerun` runs it again from.
type Inputs struct {
	Tree      string `json:"tree,omitempty"` // kernel tree path; "" = Debian's linux-source
	Committed bool   `json:"committed,omitempty"`
	// Series is the series' absolute path, or the revision range of Tree
	// it came from (Base.Range says which); "" = none.
	Series      string        `json:"series,omitempty"`
	Configs     []string      `json:"configs,omitempty"` // fragments beyond base and the arch's
	Tests       []string      `json:"tests,omitempty"`   // empty: all
	Duration    time.Duration `json:"duration_ns,omitempty"`
	MinKills    int           `json:"min_kills,omitempty"`
	Accel       string        `json:"accel_requested,omitempty"`
	CPUs        int           `json:"cpus,omitempty"`
	MemoryMB    int           `json:"memory_mb,omitempty"`
	BootTimeout time.Duration `json:"boot_timeout_ns,omitempty"`
	RunTimeout  time.Duration `json:"run_timeout_ns,omitempty"`
	Baseline    bool          `json:"baseline,omitempty"`   // the run judged a series against its base
	EachPatch   bool          `json:"each_patch,omitempty"` // the run tested every prefix of the series

	// EventTimeout is --event-timeout as given (0: the default).
	EventTimeout time.Duration `json:"event_timeout_ns,omitempty"`
}

// Base is the commit a cell checked out before applying its series: which
// one, and why (docs/design.md, "Which tree is tested").
type Base struct {
	Commit string `json:"commit"`
	Tree   string `json:"tree,omitempty"` // its git tree hash
	// Head is the HEAD of the user's git checkout; Dirty says Commit is a
	// snapshot of its uncommitted changes (untracked files included) on it.
	Head  string `json:"head,omitempty"`
	Dirty bool   `json:"dirty,omitempty"`
	// Range is the revision range --series named (A..B, or a branch since
	// its merge base), whose commits are the series.
	Range string `json:"range,omitempty"`
	// Stated is the base-commit the series states; Prerequisites its
	// prerequisite-patch-id lines.
	Stated        string   `json:"stated,omitempty"`
	Prerequisites []string `json:"prerequisites,omitempty"`
	// Why says in one line how Commit was chosen: "base-commit: in
	// b4.mbox#1", "not stated: the tree's HEAD", ...
	Why string `json:"why"`
}

// ObjectCheck records which objects a build compared with a fresh compile
// that bypassed ccache, and what it found.
type ObjectCheck struct {
	Checked  []string `json:"checked,omitempty"`  // sources whose objects were compared
	Stale    []string `json:"stale,omitempty"`    // sources whose objects did not match
	Repaired []string `json:"repaired,omitempty"` // stale objects rebuilt without the cache
	Skipped  []string `json:"skipped,omitempty"`  // changed files not checked, with why
	Seconds  float64  `json:"seconds"`
}

// Run is everything one rig invocation produced; it is run.json.
type Run struct {
	ID       string    `json:"id"`
	Command  []string  `json:"command"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
	Status   Status    `json:"status"`
	Cause    string    `json:"cause,omitempty"`

	KernelSource string   `json:"kernel_source"`
	Series       string   `json:"series,omitempty"`
	Configs      []string `json:"configs,omitempty"`
	Tests        []string `json:"tests,omitempty"`
	Seed         int64    `json:"seed,omitempty"`
	Host         Host     `json:"host"`
	Cells        []Cell   `json:"cells"`
	// KnownIssues is the known-issues file the failures were matched
	// against (--known, a plan's known_issues); nil when none was given.
	KnownIssues *KnownIssues `json:"known_issues,omitempty"`

	// What the user added: programs run as tests (--exec), files added to
	// the image (--overlay), kernel arguments (--append, at the end of
	// each cell's cmdline) and QEMU arguments (--qemu-arg, at the end of
	// each cell's qemu_argv).
	Exec     []Program `json:"exec,omitempty"`
	Overlay  *Overlay  `json:"overlay,omitempty"`
	Append   string    `json:"append,omitempty"`
	QEMUArgs []string  `json:"qemu_args,omitempty"`
}

// KnownIssues records a run's known-issues file: its entries, those that
// matched no failure of the run although it ran their cells and tests
// (probably fixed), and those whose cells or tests it did not run (not
// judged: another shard's cells, a test left out), one line each
// ("FILE:LINE: test NAME in GLOB (LINK)").
type KnownIssues struct {
	File         string   `json:"file"`
	Entries      int      `json:"entries"`
	Unmatched    []string `json:"unmatched,omitempty"`
	NotExercised []string `json:"not_exercised,omitempty"`
}

// Program is a static program packed with --exec: the test called Name
// runs it in the cells of its Arch.
type Program struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Arch   string `json:"arch"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Overlay is the directory --overlay added to the image root.
type Overlay struct {
	Dir     string `json:"dir"`
	Entries int    `json:"entries"` // files, directories and symlinks
	Key     string `json:"key"`     // their content's key (initramfs.EntriesKey)
}

// Host records the machine and tool versions of a run.
type Host struct {
	Hostname  string `json:"hostname,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	CPUs      int    `json:"cpus,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	GCC       string `json:"gcc,omitempty"`
	RigCommit string `json:"rig_commit,omitempty"`
}

// Counts is the status and cause the cell counts for in its run: a pass
// when its failure is a known issue, else its Verdict when it was judged
// against a baseline, else its Status.
func (c Cell) Counts() (Status, string) {
	if c.Known != "" {
		return Pass, ""
	}
	if c.Verdict != "" {
		return c.Verdict, c.VerdictCause
	}
	return c.Status, c.Cause
}

// Finish sets the run's status to the worst of its cells' (unless it was
// already interrupted or failed for infrastructure) and stamps the time.
func (r *Run) Finish(now time.Time) {
	st := Pass
	cause := ""
	for _, c := range r.Cells {
		if c.Role == "baseline" {
			continue
		}
		cst, ccause := c.Counts()
		if w := Worst(st, cst); w != st {
			st, cause = w, ccause
		}
	}
	if r.Status == Interrupted || r.Status == InfraError {
		st = r.Status
		cause = r.Cause
	}
	if len(r.Cells) == 0 && r.Status == "" {
		st = InfraError
	}
	r.Status, r.Cause = st, cause
	r.Finished = now
}
