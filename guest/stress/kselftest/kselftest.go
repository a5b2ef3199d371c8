// Package kselftest is the guest test kselftest-futex: it runs the tree's
// own futex selftests, packed into the image by rig/kselftest, and judges
// them by their TAP output.
package kselftest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
)

// kselftest-futex: the kernel's own futex selftests (docs/design.md, "The
// kernel's own tests"), built statically on the host by rig/kselftest and
// packed into the image under imageDir with a run.list manifest: one
// command line per line ("futex_requeue_pi -b -l -t 500000"), in the order
// of the tree's functional/run.sh; '#' lines are comments, except
// "# not built: NAME: REASON" for a test the host could not compile.
// Each line runs with its own timeout, in turn except the sleepers (below),
// which run beside the others; its TAP output decides it.

// imageDir is where the image holds the binaries (tests override it).
var imageDir = "/kselftest/futex"

// binaryTimeout bounds one binary (the slowest, futex_wait_uninitialized_heap,
// sleeps 5 s; the 29 lines one after the other take 11-13 s under TCG).
var binaryTimeout = 30 * time.Second

// notBuilt mirrors rig/kselftest.NotBuilt.
const notBuilt = "# not built: "

// A failing selftest is rerun (up to reruns more times, timingReruns for a
// timing-sensitive one, in the same boot;
// one that hung until its timeout is not) before it counts: a failure on every run fails the test, a pass on a
// rerun passes it labelled flaky, with the failed run kept in the
// evidence and its name in the "flaky" evidence key, so the host can
// compare flakiness with the base tree's.
//
// timingSensitive names the selftests whose verdict rests on a sleep
// standing in for "the waiters are asleep by now", and why: under TCG a
// vCPU can be descheduled for longer than the sleep, which is the usual
// reason one of them is flaky; the reason goes with its verdict.
var timingSensitive = map[string]string{
	"futex_requeue":                   "10 waiters with a 30 ms timeout must all block within a 10 ms usleep",
	"futex_wait":                      "the waker sleeps 10 ms and expects the waiter asleep",
	"futex_waitv":                     "the waker sleeps 10 ms and expects the waiter asleep",
	"futex_requeue_pi":                "1 ms sleeps order the waiters, the waker and the signaller",
	"futex_requeue_pi_signal_restart": "a 10 ms delay stands in for the waiter having blocked",
	"futex_wait_uninitialized_heap":   "the waker sleeps and expects the waiter asleep",
}

// reruns is how many more times a failing selftest runs; timingReruns
// the same for a timing-sensitive one. Their failures come from the host:
// at a load average of 12-19 on 2 cores futex_requeue failed all of its 3
// runs in 3 of 48 cells (docs/speed.md), about 0.4 a run if the runs were
// independent, which would make 7 runs fail together in 1 cell in 600. A
// passing rerun costs one run (under a second); a selftest that hangs is
// not rerun at all.
const (
	reruns       = 2
	timingReruns = 6
)

// sleepers names the selftests that spend nearly all their time in one
// fixed sleep, and how long: about 9 of the 11-13 s the 29 lines take in
// turn under TCG (docs/speed.md). They start first, each beside the
// others, and the rest run in turn meanwhile, so the test takes about as
// long as its longest sleep. Asleep they take no CPU from the selftests in
// turn, whose own sleeps (timingSensitive) are what a busy CPU disturbs;
// each sleeper's own sleep is 1 s or more for a thread to block or return,
// which the short selftests beside it do not deny. Once the selftests in
// turn are done (about 2-3 s), that has long happened (the thread blocks or
// returns within milliseconds) and the sleepers only wait out their
// sleeps: the test tells the runner it is asleep, so the next test starts
// beside them. A sleeper that failed is rerun there (docs/speed.md).
var sleepers = map[string]string{
	"futex_wait_uninitialized_heap":   "5 s",
	"futex_wait_private_mapped_file":  "3 s",
	"futex_requeue_pi_mismatched_ops": "1 s",
}

// Test is kselftest-futex.
var Test = stress.New("kselftest-futex", run, nil)

// listEntry is one line of run.list.
type listEntry struct {
	Key      string   // binary + " " + args, made unique
	Argv     []string // nil for a test that was not built
	NotBuilt string   // why it was not built
}

// readRunList reads dir's run.list; without one, every executable in dir
// runs without arguments.
func readRunList(dir string) ([]listEntry, error) {
	var cases []listEntry
	seen := map[string]int{}
	add := func(c listEntry) {
		seen[c.Key]++
		if n := seen[c.Key]; n > 1 { // run.sh repeats some lines
			c.Key = fmt.Sprintf("%s #%d", c.Key, n)
		}
		cases = append(cases, c)
	}
	b, err := os.ReadFile(filepath.Join(dir, "run.list"))
	if errors.Is(err, os.ErrNotExist) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
				add(listEntry{Key: e.Name(), Argv: []string{e.Name()}})
			}
		}
		return cases, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, notBuilt); ok {
			name, why, _ := strings.Cut(rest, ": ")
			add(listEntry{Key: name, NotBuilt: why})
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		argv := strings.Fields(line)
		add(listEntry{Key: strings.Join(argv, " "), Argv: argv})
	}
	return cases, nil
}

func run(ctx context.Context, env stress.Env) stress.Outcome {
	dir := imageDir
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return stress.Skip("no selftests in the image ("+dir+" is absent)", nil)
	}
	cases, err := readRunList(dir)
	if err != nil {
		return stress.Error("reading the selftests' run list: "+err.Error(), nil)
	}
	runnable := 0
	for _, c := range cases {
		if c.Argv != nil {
			runnable++
		}
	}
	if runnable == 0 {
		return stress.Skip("no selftests in the image (run.list in "+dir+" lists none)", nil)
	}
	work, err := os.MkdirTemp("", "kselftest-")
	if err != nil {
		return stress.Error("work directory: "+err.Error(), nil)
	}
	defer os.RemoveAll(work)

	// Each case's verdict, by its place in the list: the evidence and the
	// reason name them in run.list's order whichever finished first.
	verdicts := make([]verdict, len(cases))
	notes := make([]string, len(cases)) // a flaky pass's note
	var mu sync.Mutex
	passed, done, nFailed, nSkipped := 0, 0, 0, 0
	one := func(i int) {
		c := cases[i]
		var r verdict
		if ctx.Err() != nil {
			r = verdict{Status: event.Fail, Reason: "not run: the test's deadline passed"}
		} else {
			r = runBinary(ctx, dir, work, c.Argv, binaryTimeout)
		}
		if r.Status == event.Fail && !r.TimedOut && ctx.Err() == nil {
			r, notes[i] = rerun(ctx, dir, work, c.Argv, r, timingSensitive[c.Argv[0]])
		}
		verdicts[i] = r
		mu.Lock()
		defer mu.Unlock()
		done++
		switch r.Status {
		case event.Pass:
			passed++
		case event.Skip:
			nSkipped++
		default:
			nFailed++
		}
		env.ReportProgress(map[string]int64{"done": int64(done), "total": int64(runnable),
			"pass": int64(passed), "fail": int64(nFailed), "skip": int64(nSkipped)})
	}
	var side sync.WaitGroup
	for i, c := range cases {
		if _, ok := sleepers[argv0(c)]; ok {
			side.Add(1)
			go func() {
				defer side.Done()
				one(i)
			}()
		}
	}
	for i, c := range cases {
		if _, ok := sleepers[argv0(c)]; !ok && c.Argv != nil {
			one(i)
		}
	}
	// What is left is the sleepers' sleeps, their verdicts already settled
	// (see sleepers): the runner may start the next test beside them.
	env.ReportAsleep()
	side.Wait()

	ev := map[string]string{}
	var failed, skipped, notBuilt, flaky, flakyNames []string
	for i, c := range cases {
		if c.Argv == nil {
			ev[c.Key] = "skip: not built on the host: " + c.NotBuilt
			notBuilt = append(notBuilt, c.Key)
			continue
		}
		r := verdicts[i]
		ev[c.Key] = r.Status + ": " + r.Reason
		switch r.Status {
		case event.Pass:
			if notes[i] != "" {
				flaky = append(flaky, c.Key+" ("+notes[i]+")")
				flakyNames = append(flakyNames, c.Key)
			}
			if r.Output != "" { // a flaky pass keeps its failed run's output
				ev[c.Key+" output"] = r.Output
			}
		case event.Skip:
			skipped = append(skipped, c.Key)
		default:
			failed = append(failed, c.Key+" ("+r.Reason+")")
			if r.Output != "" {
				ev[c.Key+" output"] = r.Output
			}
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed, %d skipped", passed, len(failed), len(skipped))
	if len(flakyNames) > 0 {
		ev[event.Flaky] = strings.Join(flakyNames, ",")
	}
	if len(flaky) > 0 {
		summary += fmt.Sprintf(", %d flaky (%s)", len(flaky), listSome(flaky, 3))
	}
	if len(notBuilt) > 0 {
		summary += fmt.Sprintf(", %d not built (%s)", len(notBuilt), strings.Join(notBuilt, ", "))
	}
	switch {
	case len(failed) > 0:
		return stress.Fail(fmt.Sprintf("%d of %d futex selftests failed: %s; %s", len(failed), runnable, listSome(failed, 3), summary), ev)
	case passed == 0:
		return stress.Skip("every futex selftest skipped: "+summary, ev)
	}
	return stress.Pass(summary, ev)
}

// argv0 is c's binary ("" for one that was not built).
func argv0(c listEntry) string {
	if c.Argv == nil {
		return ""
	}
	return c.Argv[0]
}

// rerun reruns a failed selftest until a run passes or reruns more runs
// have failed. It returns the last run's verdict; a pass is relabelled
// flaky, its reason and note naming how many runs failed and the first
// failure (and why, for a timing-sensitive one), and its Output holding
// the first failed run's output.
func rerun(ctx context.Context, dir, work string, argv []string, first verdict, why string) (verdict, string) {
	runs, fails := 1, 1
	r := first
	more := reruns
	if why != "" {
		more = timingReruns
	}
	for i := 0; i < more && ctx.Err() == nil; i++ {
		r = runBinary(ctx, dir, work, argv, binaryTimeout)
		runs++
		if r.Status != event.Fail {
			break
		}
		fails++
	}
	switch r.Status {
	case event.Pass:
		note := fmt.Sprintf("failed %d of %d runs", fails, runs)
		r.Reason += fmt.Sprintf("; flaky: %s, first: %s", note, first.Reason)
		if why != "" {
			r.Reason += "; timing-sensitive: " + why
		}
		r.Output = first.Output
		return r, note
	case event.Fail:
		kind := "rerun"
		if why != "" {
			kind = "timing-sensitive, rerun"
		}
		r.Reason = fmt.Sprintf("failed %d of %d runs (%s): %s", fails, runs, kind, first.Reason)
		if r.Output == "" {
			r.Output = first.Output
		}
	}
	return r, ""
}

// listSome joins the first n items and counts the rest.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}

// verdict is one binary's verdict.
type verdict struct {
	Status   string // event.Pass, Fail or Skip
	Reason   string
	Output   string // the output's tail, for failures
	TimedOut bool   // killed at its timeout: a hang, never rerun
}

// Exit codes of kselftest.h.
const (
	ksftPass = 0
	ksftSkip = 4
)

// runBinary runs one command line of dir's binaries in work (some tests
// create files in their working directory) and judges it.
func runBinary(ctx context.Context, dir, work string, argv []string, timeout time.Duration) verdict {
	bin := filepath.Join(dir, argv[0])
	if _, err := os.Stat(bin); err != nil {
		return verdict{Status: event.Fail, Reason: "missing binary: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Dir = work
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stray threads' children
	}
	rep := ParseTAPReport(bytes.NewReader(stdout.Bytes()))
	r := judge(rep, err, ctx.Err() != nil, timeout)
	if r.Status == event.Fail {
		r.Output = tailOf(stdout.String()+stderr.String(), 20, 2048)
	}
	if r.Status == event.Pass {
		r.Reason += fmt.Sprintf(" in %.2fs", time.Since(start).Seconds())
	}
	return r
}

// judge turns a binary's TAP report and exit into a verdict:
// a `not ok`, a Bail out!, a failure count in its Totals, a timeout, a
// signal or an exit status other than 0 and 4 (KSFT_SKIP) fail it; skip
// when every result was skipped (or it exited with KSFT_SKIP).
func judge(rep TAPReport, runErr error, timedOut bool, timeout time.Duration) verdict {
	var fails, skips []string
	passes := 0
	for _, r := range rep.Results {
		switch r.Status {
		case event.Fail:
			fails = append(fails, r.String())
		case event.Skip:
			skips = append(skips, r.String())
		default:
			passes++
		}
	}
	if timedOut {
		why := fmt.Sprintf("timed out after %v", timeout)
		if len(fails) > 0 {
			why += "; " + listSome(fails, 2)
		}
		return verdict{Status: event.Fail, Reason: why, TimedOut: true}
	}
	if len(fails) > 0 {
		return verdict{Status: event.Fail, Reason: listSome(fails, 2)}
	}
	code := 0
	if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			return verdict{Status: event.Fail, Reason: runErr.Error()}
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return verdict{Status: event.Fail, Reason: fmt.Sprintf("killed by signal %v after %d results", ws.Signal(), len(rep.Results))}
		}
		code = ee.ExitCode()
	}
	if n := rep.Totals["fail"] + rep.Totals["error"]; n > 0 {
		return verdict{Status: event.Fail, Reason: fmt.Sprintf("Totals report %d failures (exit status %d)", n, code)}
	}
	switch {
	case code == ksftSkip || (code == ksftPass && passes == 0 && len(skips) > 0):
		why := "skipped"
		if len(skips) > 0 {
			why = listSome(skips, 2)
		}
		return verdict{Status: event.Skip, Reason: why}
	case code != ksftPass:
		return verdict{Status: event.Fail, Reason: fmt.Sprintf("exit status %d after %d results", code, len(rep.Results))}
	case len(rep.Results) == 0:
		return verdict{Status: event.Fail, Reason: "no TAP results"}
	case rep.Plan > 0 && len(rep.Results) < rep.Plan:
		return verdict{Status: event.Fail, Reason: fmt.Sprintf("ran %d of %d planned tests", len(rep.Results), rep.Plan)}
	}
	why := fmt.Sprintf("%d/%d ok", passes, len(rep.Results))
	if len(skips) > 0 {
		why += ", skipped " + listSome(skips, 2)
	}
	return verdict{Status: event.Pass, Reason: why}
}

// tailOf keeps the last lines (at most max bytes) of s.
func tailOf(s string, lines, max int) string {
	s = strings.TrimRight(s, "\n")
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	s = strings.Join(l, "\n")
	if len(s) > max {
		s = s[len(s)-max:]
	}
	return s
}

// TAPResult is one test point of a TAP stream.
type TAPResult struct {
	Num       int    // the test number (0 for a "1..0 # SKIP" plan or a Bail out!)
	Name      string // the description; "" when kselftest printed only a directive
	Status    string // event.Pass, event.Fail or event.Skip
	Directive string // "SKIP", "XFAIL", "TODO", "error", "Bail out!" or ""
	Reason    string // the directive's text, or the message after " # " (kselftest's "ok 5 name #  msg")
	Line      string // the line as printed
}

// String is the result's line without its status: "3 futex_wake shared
// (file backed) returned: 22 Invalid argument", "2 # SKIP no futex_waitv".
func (r TAPResult) String() string {
	s := strconv.Itoa(r.Num)
	if r.Directive == "Bail out!" {
		return strings.TrimSpace("Bail out! " + r.Reason)
	}
	if r.Num == 0 && r.Name == "" && r.Directive == "SKIP" { // a "1..0 # SKIP" plan
		return strings.TrimSpace("1..0 # SKIP " + r.Reason)
	}
	if r.Name != "" {
		s += " " + r.Name
	}
	if r.Directive != "" || r.Reason != "" {
		s += " # " + strings.TrimSpace(r.Directive+" "+r.Reason)
	}
	return s
}

// TAPReport is everything ParseTAPReport understood of a TAP stream.
type TAPReport struct {
	Plan    int // the N of "1..N"; -1 without a plan
	Results []TAPResult
	// Totals holds kselftest's "# Totals: pass:N fail:N xfail:N xpass:N
	// skip:N error:N" counts (nil without that line).
	Totals map[string]int
}

// ParseTAP returns the test points of a TAP stream, as kselftest prints it:
// "ok N desc", "not ok N desc", "ok N # SKIP reason", "ok N desc # SKIP
// reason", "ok N # XFAIL reason" (a pass), "not ok N # error reason",
// "1..0 # SKIP reason" and "Bail out! reason" (a failure). Indented lines
// (nested subtests, whose parent line sums them up) and comments are
// ignored.
func ParseTAP(r io.Reader) []TAPResult { return ParseTAPReport(r).Results }

// ParseTAPReport is ParseTAP with the plan and kselftest's Totals line.
func ParseTAPReport(r io.Reader) TAPReport {
	rep := TAPReport{Plan: -1}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			parseTAPLine(&rep, line)
		}
		if err != nil {
			return rep
		}
	}
}

func parseTAPLine(rep *TAPReport, line string) {
	switch {
	case strings.HasPrefix(line, "ok") || strings.HasPrefix(line, "not ok"):
		if res, ok := parseTestPoint(line); ok {
			rep.Results = append(rep.Results, res)
		}
	case strings.HasPrefix(line, "1.."):
		plan, dir, _ := strings.Cut(line[3:], "#")
		n, err := strconv.Atoi(strings.TrimSpace(plan))
		if err != nil {
			return
		}
		rep.Plan = n
		if kw, reason := directive(dir); n == 0 && kw == "SKIP" {
			rep.Results = append(rep.Results, TAPResult{Status: event.Skip, Directive: kw, Reason: reason, Line: line})
		}
	case strings.HasPrefix(line, "Bail out!"):
		rep.Results = append(rep.Results, TAPResult{Status: event.Fail, Directive: "Bail out!",
			Reason: strings.TrimSpace(strings.TrimPrefix(line, "Bail out!")), Line: line})
	case strings.HasPrefix(line, "# Totals:"):
		rep.Totals = map[string]int{}
		for _, f := range strings.Fields(strings.TrimPrefix(line, "# Totals:")) {
			k, v, ok := strings.Cut(f, ":")
			if n, err := strconv.Atoi(v); ok && err == nil {
				rep.Totals[k] = n
			}
		}
	}
}

// parseTestPoint parses "ok|not ok [N] [desc] [# DIRECTIVE reason]".
func parseTestPoint(line string) (TAPResult, bool) {
	res := TAPResult{Line: line, Status: event.Pass}
	rest, ok := strings.CutPrefix(line, "ok")
	if !ok {
		rest, _ = strings.CutPrefix(line, "not ok")
		res.Status = event.Fail
	}
	if rest != "" && rest[0] != ' ' { // "okay", "ok_foo": not a test point
		return TAPResult{}, false
	}
	rest = strings.TrimSpace(rest)
	num, after, _ := strings.Cut(rest, " ")
	if n, err := strconv.Atoi(num); err == nil {
		res.Num, rest = n, strings.TrimSpace(after)
	}
	desc, dir := rest, ""
	if strings.HasPrefix(rest, "#") {
		desc, dir = "", rest[1:]
	} else if i := strings.Index(rest, " # "); i >= 0 {
		desc, dir = rest[:i], rest[i+3:]
	}
	res.Name = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(desc), "- "))
	kw, reason := directive(dir)
	res.Directive, res.Reason = kw, reason
	switch kw {
	case "SKIP", "TODO":
		res.Status = event.Skip // TAP: neither counts as a failure
	case "error":
		res.Status = event.Fail
	}
	return res, true
}

// directive splits "SKIP reason" into its keyword and text; kw is "" when
// the text starts with no known keyword.
func directive(s string) (kw, reason string) {
	s = strings.TrimSpace(s)
	word, text, _ := strings.Cut(s, " ")
	word = strings.TrimRight(word, ":")
	if strings.HasPrefix(strings.ToUpper(word), "SKIP") { // SKIP, skipped
		return "SKIP", strings.TrimSpace(text)
	}
	for _, k := range []string{"TODO", "XFAIL", "XPASS", "error"} {
		if strings.EqualFold(word, k) {
			return k, strings.TrimSpace(text)
		}
	}
	return "", s
}
