package kselftest

import (
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/kselftest"
	"github.com/rig-kernel/rig/rig/source"
)

func parseFile(t *testing.T, name string) TAPReport {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/kselftest", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ParseTAPReport(f)
}

func statuses(rs []TAPResult) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Status)
	}
	return strings.Join(s, ",")
}

// The testdata are real outputs of the 6.12 futex selftests, built by
// rig/kselftest and run on a 6.18 host; the *-notok ones ran under
// `strace -e inject=...` so that a futex call failed.
func TestParseTAPReal(t *testing.T) {
	for _, tc := range []struct {
		file     string
		plan     int
		statuses string
		totals   string // "pass fail error"
	}{
		{"futex_requeue_pi.tap", 1, "pass", "1 0 0"},
		{"futex_wait_timeout.tap", 9, "pass,pass,pass,pass,pass,pass,pass,pass,pass", "9 0 0"},
		{"futex_waitv.tap", 7, "pass,pass,pass,pass,pass,pass,pass", "7 0 0"},
		{"futex_wait_wouldblock.tap", 2, "pass,pass", "2 0 0"},
		{"futex_wait-notok.tap", 3, "pass,pass,fail", "2 1 0"},
		{"futex_waitv-notok.tap", 7, "fail,fail,fail,fail,pass,pass,pass,pass,pass", "5 4 0"},
		{"futex_requeue_pi_mismatched_ops-error.tap", 1, "fail", "0 0 1"},
	} {
		rep := parseFile(t, tc.file)
		if rep.Plan != tc.plan || statuses(rep.Results) != tc.statuses {
			t.Errorf("%s: plan %d statuses %s, want %d %s", tc.file, rep.Plan, statuses(rep.Results), tc.plan, tc.statuses)
		}
		if got := strings.Join([]string{itoa(rep.Totals["pass"]), itoa(rep.Totals["fail"]), itoa(rep.Totals["error"])}, " "); got != tc.totals {
			t.Errorf("%s: totals %s, want %s", tc.file, got, tc.totals)
		}
	}
	rs := parseFile(t, "futex_wait-notok.tap").Results
	if r := rs[2]; r.Num != 3 || r.Name != "futex_wake shared (file backed) returned: 22 Invalid argument" {
		t.Errorf("not ok line parsed as %+v", r)
	}
	if r := parseFile(t, "futex_requeue_pi.tap").Results[0]; r.Num != 1 || r.Name != "futex-requeue-pi broadcast=1 locked=1 owner=0 timeout=500000ns" {
		t.Errorf("ok line parsed as %+v", r)
	}
	r := parseFile(t, "futex_requeue_pi_mismatched_ops-error.tap").Results[0]
	if r.Directive != "error" || r.Reason != "futex-requeue-pi-mismatched-ops" || r.String() != "1 # error futex-requeue-pi-mismatched-ops" {
		t.Errorf("error line parsed as %+v (%s)", r, r)
	}
	if rs := ParseTAP(strings.NewReader("ok 1 a\n")); len(rs) != 1 {
		t.Errorf("ParseTAP: %v", rs)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func TestParseTAPForms(t *testing.T) {
	in := "TAP version 13\r\n" +
		"1..6\r\n" +
		"# a comment\n" +
		"ok 1 # SKIP futex_waitv not supported\n" + // ksft_test_result_skip
		"ok 2 name here # skip no reason\n" +
		"ok 3 # XFAIL expected\n" +
		"not ok 4 broken thing\n" +
		"    not ok 1 nested subtest (summed up by its parent)\n" +
		"# ok 9 from a nested kselftest runner\n" +
		"okay this is not a test point\n" +
		"ok 5 name #  message\n" +
		"not ok 6 something # TODO later\n" +
		"Bail out! cannot continue\n" +
		"# Totals: pass:2 fail:1 xfail:1 xpass:0 skip:2 error:0\n"
	rep := ParseTAPReport(strings.NewReader(in))
	want := []TAPResult{
		{Num: 1, Status: event.Skip, Directive: "SKIP", Reason: "futex_waitv not supported"},
		{Num: 2, Name: "name here", Status: event.Skip, Directive: "SKIP", Reason: "no reason"},
		{Num: 3, Status: event.Pass, Directive: "XFAIL", Reason: "expected"},
		{Num: 4, Name: "broken thing", Status: event.Fail},
		{Num: 5, Name: "name", Status: event.Pass, Reason: "message"},
		{Num: 6, Name: "something", Status: event.Skip, Directive: "TODO", Reason: "later"},
		{Status: event.Fail, Directive: "Bail out!", Reason: "cannot continue"},
	}
	if rep.Plan != 6 || len(rep.Results) != len(want) {
		t.Fatalf("plan %d, %d results: %+v", rep.Plan, len(rep.Results), rep.Results)
	}
	for i, w := range want {
		g := rep.Results[i]
		g.Line = ""
		if g != w {
			t.Errorf("result %d = %+v, want %+v", i, g, w)
		}
	}
	if rep.Totals["skip"] != 2 || rep.Totals["xfail"] != 1 {
		t.Errorf("totals %v", rep.Totals)
	}
	all := ParseTAPReport(strings.NewReader("TAP version 13\n1..0 # SKIP no futex2 in this kernel\n"))
	if all.Plan != 0 || len(all.Results) != 1 || all.Results[0].Status != event.Skip || all.Results[0].Reason != "no futex2 in this kernel" {
		t.Errorf("1..0 # SKIP: %+v", all)
	}
	if got := rep.Results[6].String(); got != "Bail out! cannot continue" {
		t.Errorf("Bail out String = %q", got)
	}
}

func TestJudgeKselftest(t *testing.T) {
	exitErr := func(code int) error {
		err := exec.Command("sh", "-c", "exit "+string(rune('0'+code))).Run()
		return err
	}
	sig := exec.Command("sh", "-c", "kill -SEGV $$").Run()
	ok := ParseTAPReport(strings.NewReader("1..2\nok 1 a\nok 2 b\n# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0\n"))
	bad := parseFile(t, "futex_wait-notok.tap")
	skipped := ParseTAPReport(strings.NewReader("1..1\nok 1 # SKIP not here\n"))
	for _, tc := range []struct {
		name     string
		rep      TAPReport
		err      error
		timedOut bool
		status   string
		reason   string
	}{
		{"pass", ok, nil, false, event.Pass, "2/2 ok"},
		{"not ok", bad, exitErr(1), false, event.Fail, "3 futex_wake shared (file backed) returned: 22 Invalid argument"},
		{"skip", skipped, exitErr(4), false, event.Skip, "1 # SKIP not here"},
		{"skip exit 0", skipped, nil, false, event.Skip, "1 # SKIP not here"},
		{"exit status", ok, exitErr(1), false, event.Fail, "exit status 1 after 2 results"},
		{"signal", ok, sig, false, event.Fail, "killed by signal segmentation fault after 2 results"},
		{"timeout", ok, errors.New("signal: killed"), true, event.Fail, "timed out after 30s"},
		{"no output", TAPReport{Plan: -1}, nil, false, event.Fail, "no TAP results"},
		{"short", ParseTAPReport(strings.NewReader("1..3\nok 1 a\n")), nil, false, event.Fail, "ran 1 of 3 planned tests"},
		{"totals", ParseTAPReport(strings.NewReader("ok 1 a\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:1\n")), nil, false, event.Fail, "Totals report 1 failures (exit status 0)"},
	} {
		r := judge(tc.rep, tc.err, tc.timedOut, 30*time.Second)
		if r.Status != tc.status || r.Reason != tc.reason {
			t.Errorf("%s: %s %q, want %s %q", tc.name, r.Status, r.Reason, tc.status, tc.reason)
		}
	}
}

func writeScript(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func withImageDir(t *testing.T, dir string) {
	old, oldT := imageDir, binaryTimeout
	imageDir = dir
	t.Cleanup(func() { imageDir, binaryTimeout = old, oldT })
}

// TestKselftestFutexFake runs the guest test on scripts that print TAP:
// the verdict, the evidence and the progress events.
func TestKselftestFutexFake(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "good", "echo 1..1; echo \"ok 1 args $*\"; touch created_in_cwd\n")
	writeScript(t, dir, "bad", "echo 1..2; echo 'ok 1 a'; echo 'not ok 2 futex_wake returned: 22 Invalid argument'; echo oops >&2; exit 1\n")
	writeScript(t, dir, "slow", "echo 1..1; exec sleep 20\n")
	writeScript(t, dir, "skipper", "echo '1..0 # SKIP no support'; exit 4\n")
	os.WriteFile(filepath.Join(dir, "run.list"), []byte("# header\ngood -b\ngood -b\nbad\nslow -t 5\nskipper\n"+
		kselftest.NotBuilt+"futex_waitv: futex_waitv.c:1: error: boom\n"), 0o644)
	withImageDir(t, dir)
	binaryTimeout = 500 * time.Millisecond
	var progress []map[string]int64
	o := run(context.Background(), stress.Env{Progress: func(c map[string]int64) { progress = append(progress, c) }})
	t.Logf("%s: %s", o.Status, o.Reason)
	for k, v := range o.Evidence {
		t.Logf("  %s = %q", k, v)
	}
	if o.Status != event.Fail || !strings.HasPrefix(o.Reason, "2 of 5 futex selftests failed: bad (failed 3 of 3 runs (rerun): 2 futex_wake returned: 22 Invalid argument); slow -t 5 (timed out after 500ms)") ||
		!strings.HasSuffix(o.Reason, "2 passed, 2 failed, 1 skipped, 1 not built (futex_waitv)") {
		t.Errorf("verdict %s: %s", o.Status, o.Reason)
	}
	for k, want := range map[string]string{
		"good -b":     "pass: 1/1 ok in ",
		"good -b #2":  "pass: 1/1 ok in ",
		"bad":         "fail: failed 3 of 3 runs (rerun): 2 futex_wake returned: 22 Invalid argument",
		"bad output":  "1..2\nok 1 a\nnot ok 2 futex_wake returned: 22 Invalid argument\noops",
		"slow -t 5":   "fail: timed out after 500ms",
		"skipper":     "skip: 1..0 # SKIP no support",
		"futex_waitv": "skip: not built on the host: futex_waitv.c:1: error: boom",
	} {
		if got := o.Evidence[k]; !strings.HasPrefix(got, want) {
			t.Errorf("evidence[%q] = %q, want %q...", k, got, want)
		}
	}
	if len(progress) != 5 || progress[4]["done"] != 5 || progress[4]["fail"] != 2 || progress[4]["total"] != 5 {
		t.Errorf("progress %v", progress)
	}
	if _, err := os.Stat(filepath.Join(dir, "created_in_cwd")); err == nil {
		t.Errorf("tests ran in the selftests' directory, not a work directory")
	}
}

// TestKselftestFutexTimingSensitive: a selftest that fails once passes
// labelled flaky (named in the "flaky" evidence); one that fails every run
// fails after 1+reruns runs, or 1+timingReruns when timing-sensitive.
func TestKselftestFutexTimingSensitive(t *testing.T) {
	dir, runs := t.TempDir(), t.TempDir()
	count := func(name string) string { // appends a line per run, prints the run number
		return "echo x >> " + filepath.Join(runs, name) + "; n=$(wc -l < " + filepath.Join(runs, name) + ")\n"
	}
	writeScript(t, dir, "futex_requeue", count("requeue")+
		"echo 1..1; if [ $n -eq 1 ]; then echo 'not ok 1 futex_requeue many returned: 0'; exit 1; fi; echo 'ok 1 many'\n")
	writeScript(t, dir, "futex_wait", count("wait")+"echo 1..1; echo \"not ok 1 run $n\"; exit 1\n")
	writeScript(t, dir, "futex_wake_op", count("wakeop")+"echo 1..1; echo \"not ok 1 run $n\"; exit 1\n")
	os.WriteFile(filepath.Join(dir, "run.list"), []byte("futex_requeue\nfutex_wait\nfutex_wake_op\n"), 0o644)
	withImageDir(t, dir)
	o := run(context.Background(), stress.Env{})
	t.Logf("%s: %s", o.Status, o.Reason)
	lines := func(name string) int {
		b, _ := os.ReadFile(filepath.Join(runs, name))
		return strings.Count(string(b), "\n")
	}
	if got := [3]int{lines("requeue"), lines("wait"), lines("wakeop")}; got != [3]int{2, 1 + timingReruns, 1 + reruns} {
		t.Errorf("runs (requeue, wait, wake_op) = %v, want [2 %d %d]", got, 1+timingReruns, 1+reruns)
	}
	if o.Evidence[event.Flaky] != "futex_requeue" {
		t.Errorf("flaky evidence %q, want futex_requeue", o.Evidence[event.Flaky])
	}
	if o.Status != event.Fail ||
		!strings.Contains(o.Reason, "futex_wait (failed 7 of 7 runs (timing-sensitive, rerun): 1 run 1)") ||
		!strings.Contains(o.Reason, "futex_wake_op (failed 3 of 3 runs (rerun): 1 run 1)") ||
		!strings.Contains(o.Reason, "1 passed, 2 failed, 0 skipped, 1 flaky (futex_requeue (failed 1 of 2 runs))") {
		t.Errorf("verdict %s: %s", o.Status, o.Reason)
	}
	if ev := o.Evidence["futex_requeue"]; !strings.HasPrefix(ev, "pass: 1/1 ok in ") || !strings.Contains(ev, "flaky: failed 1 of 2 runs, first: 1 futex_requeue many returned: 0; timing-sensitive: ") {
		t.Errorf("evidence[futex_requeue] = %q", ev)
	}
	if out := o.Evidence["futex_requeue output"]; !strings.Contains(out, "not ok 1 futex_requeue many returned: 0") {
		t.Errorf("the flaky run's failed output is lost: %q", out)
	}
}

func TestKselftestFutexAbsent(t *testing.T) {
	withImageDir(t, filepath.Join(t.TempDir(), "none"))
	o := run(context.Background(), stress.Env{})
	if o.Status != event.Skip || !strings.HasPrefix(o.Reason, "no selftests in the image") {
		t.Fatalf("%s: %s", o.Status, o.Reason)
	}
}

// TestKselftestFutexHost builds the real x86_64 selftests of the default
// tree (Debian's linux-source-6.12, as `rig run` uses it) with
// rig/kselftest and runs them on the host kernel. It exports only what the
// selftests and `make headers` need from the cached tree into a temporary
// directory, so it never touches a build slot another test may be using.
func TestKselftestFutexHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kernel's futex selftests (about 40 s)")
	}
	a, _ := arch.Lookup("x86_64")
	if a.CrossPrefix() != "" {
		t.Skip("the host is not x86_64")
	}
	dir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tree, err := source.Default(ctx, dir, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("the default kernel tree (run `rig setup`): %v", err)
	}
	src := t.TempDir()
	archive := exec.CommandContext(ctx, "git", "--git-dir", tree.GitDir, "archive", tree.Commit,
		"Makefile", "Kbuild", "Kconfig", "scripts", "include", "arch/x86", "usr", "tools/include", "tools/scripts",
		"tools/testing/selftests/futex", "tools/testing/selftests/kselftest.h", "tools/testing/selftests/kselftest_harness.h",
		"tools/testing/selftests/lib.mk")
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	var stderr strings.Builder
	archive.Stderr, untar.Stderr = &stderr, &stderr
	untar.Stdin, _ = archive.StdoutPipe()
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive of %s: %v: %s", tree.Desc, err, stderr.String())
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("tar: %v: %s", err, stderr.String())
	}
	var log strings.Builder
	bins, err := kselftest.Build(ctx, a, src, t.TempDir(), t.TempDir(), &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	files := kselftest.ImageFiles(bins)
	withImageDir(t, filepath.Dir(files[kselftest.ImageDir+"/"+kselftest.RunList]))
	start := time.Now()
	progress := 0
	o := run(ctx, stress.Env{Progress: func(map[string]int64) { progress++ }})
	t.Logf("%s in %v: %s", o.Status, time.Since(start), o.Reason)
	for _, k := range sortedKeys(o.Evidence) {
		t.Logf("  %s = %s", k, o.Evidence[k])
	}
	if o.Status != event.Pass {
		t.Fatalf("kselftest-futex on the host: %s: %s", o.Status, o.Reason)
	}
	// One evidence line per selftest, beside the "flaky" summary and the
	// output of a selftest that failed a run and passed its rerun (a
	// timing-sensitive one on a loaded host).
	selftests := 0
	for k := range o.Evidence {
		if k != "flaky" && !strings.HasSuffix(k, " output") {
			selftests++
		}
	}
	if selftests != 29 || progress != 29 || !strings.HasPrefix(o.Reason, "29 passed, 0 failed, 0 skipped") {
		t.Errorf("%d selftests in the evidence, %d progress events, reason %q; want 29", selftests, progress, o.Reason)
	}
}

// TestKselftestFutexSleepers: the sleepers run beside the selftests in
// turn. Here each sleeper and the selftest in turn wait for the other's
// mark, which neither could see if they ran one after the other (each
// would time out); the verdicts still come in run.list's order.
func TestKselftestFutexSleepers(t *testing.T) {
	dir, marks := t.TempDir(), t.TempDir()
	meet := func(me, other string) string { // marks me, then waits up to 3 s for other
		return "touch " + filepath.Join(marks, me) + "\nfor i in $(seq 30); do [ -e " + filepath.Join(marks, other) + " ] && break; sleep 0.1; done\n" +
			"[ -e " + filepath.Join(marks, other) + " ] || { echo 1..1; echo 'not ok 1 " + other + " never ran beside " + me + "'; exit 1; }\n"
	}
	// The heap sleeper also waits for the test to say it is asleep, which
	// it does once the selftests in turn are done.
	writeScript(t, dir, "futex_wait_uninitialized_heap", meet("heap", "turn")+meet("heap", "asleep")+"echo 1..1; echo 'ok 1 heap'\n")
	writeScript(t, dir, "futex_requeue_pi_mismatched_ops", meet("ops", "turn")+"echo 1..1; echo 'not ok 1 mismatched'; exit 1\n")
	writeScript(t, dir, "futex_wait", meet("turn", "heap")+"echo 1..1; echo 'ok 1 wait'\n")
	writeScript(t, dir, "futex_waitv", "echo 1..1; echo 'not ok 1 waitv'; exit 1\n")
	os.WriteFile(filepath.Join(dir, "run.list"), []byte("futex_wait\nfutex_requeue_pi_mismatched_ops\nfutex_waitv\nfutex_wait_uninitialized_heap\n"), 0o644)
	withImageDir(t, dir)
	binaryTimeout = 10 * time.Second
	var mu sync.Mutex
	var progress []map[string]int64
	var atAsleep []map[string]int64
	o := run(context.Background(), stress.Env{Progress: func(c map[string]int64) {
		mu.Lock()
		defer mu.Unlock()
		progress = append(progress, c)
	}, Asleep: func() {
		mu.Lock()
		defer mu.Unlock()
		atAsleep = append(atAsleep, progress[len(progress)-1])
		os.WriteFile(filepath.Join(marks, "asleep"), nil, 0o644)
	}})
	t.Logf("%s: %s", o.Status, o.Reason)
	if ev := o.Evidence["futex_wait"]; !strings.HasPrefix(ev, "pass: ") {
		t.Errorf("futex_wait (in turn) = %q", ev)
	}
	if ev := o.Evidence["futex_wait_uninitialized_heap"]; !strings.HasPrefix(ev, "pass: ") {
		t.Errorf("futex_wait_uninitialized_heap (a sleeper) = %q", ev)
	}
	if o.Status != event.Fail || !strings.HasPrefix(o.Reason, "2 of 4 futex selftests failed: futex_requeue_pi_mismatched_ops (failed 3 of 3 runs (rerun): 1 mismatched); futex_waitv (") ||
		!strings.HasSuffix(o.Reason, "2 passed, 2 failed, 0 skipped") {
		t.Errorf("verdict %s: %s", o.Status, o.Reason)
	}
	if len(progress) != 4 || progress[3]["done"] != 4 || progress[3]["pass"] != 2 || progress[3]["fail"] != 2 {
		t.Errorf("progress %v", progress)
	}
	// Asleep once, after both selftests in turn and before the heap
	// sleeper (which waited for it) was done.
	if len(atAsleep) != 1 || atAsleep[0]["done"] < 2 || atAsleep[0]["done"] > 3 {
		t.Errorf("asleep at %v, want once with 2 or 3 done", atAsleep)
	}
}
