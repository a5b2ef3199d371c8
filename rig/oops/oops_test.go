package oops

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.want from the current output")

// The golden files: testdata/<name>.log is a console log, testdata/<name>.want
// the reports Scan finds in it, one per line as "kind<TAB>title<TAB>line".
// Lines starting with "#" are comments; the first names where the log came
// from, and -update keeps them.

func TestGolden(t *testing.T) {
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 12 {
		t.Fatalf("found %d golden logs, want at least 12", len(logs))
	}
	for _, log := range logs {
		name := strings.TrimSuffix(filepath.Base(log), ".log")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			got := Scan(splitLines(data))
			wantFile := strings.TrimSuffix(log, ".log") + ".want"
			comments, want, err := readWant(wantFile)
			if err != nil && !*update {
				t.Fatal(err)
			}
			if *update {
				if len(comments) == 0 {
					t.Errorf("%s: no source comment; add one as its first line", wantFile)
				}
				if err := writeWant(wantFile, comments, got); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !slices.Equal(got, want) {
				t.Errorf("Scan(%s):\n got: %s\nwant: %s", log, format(got), format(want))
			}
		})
	}
}

func splitLines(data []byte) []string {
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func readWant(path string) (comments []string, reports []Report, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			comments = append(comments, line)
			continue
		}
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, nil, fmt.Errorf("%s:%d: want kind<TAB>title<TAB>line", path, n)
		}
		l, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		reports = append(reports, Report{Kind: f[0], Title: f[1], Line: l})
	}
	return comments, reports, sc.Err()
}

func writeWant(path string, comments []string, reports []Report) error {
	var b strings.Builder
	for _, c := range comments {
		b.WriteString(c + "\n")
	}
	for _, r := range reports {
		fmt.Fprintf(&b, "%s\t%s\t%d\n", r.Kind, r.Title, r.Line)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func format(rs []Report) string {
	if len(rs) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n\t%s\t%q\t%d", r.Kind, r.Title, r.Line)
	}
	return b.String()
}

func TestStrip(t *testing.T) {
	for _, tc := range []struct{ in, caller, msg string }{
		{"plain text", "", "plain text"},
		{"[    1.234567] BUG: foo", "", "BUG: foo"},
		{"[76612.897343] BUG: foo", "", "BUG: foo"},
		{"[    1.234567][    T1] BUG: foo", "T1", "BUG: foo"},
		{"[  204.021600][    C1] rcu: INFO: x", "C1", "rcu: INFO: x"},
		{"[  897.254274][T12093] 8021q: adding VLAN", "T12093", "8021q: adding VLAN"},
		{"<4>[    3.581234] ------------[ cut here ]------------", "", "------------[ cut here ]------------"},
		{"<0>Kernel panic - not syncing: x", "", "Kernel panic - not syncing: x"},
		{"4,1234,5678901,-;WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "", "WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2"},
		{"** 12 printk messages dropped ** [    1.0] BUG: x", "", "BUG: x"},
		{"[    1.234567] BUG: foo\r", "", "BUG: foo"},
		{"\x00\x00[    1.234567] BU\x00G: foo", "", "BUG: foo"},
		{"\x1b[0m\x1b[1;31m[    1.2] Kernel panic\x1b[0m", "", "Kernel panic"},
		{"\x1b]0;title\x07[    1.2] x", "", "x"},
		{"[    1.234567]\tBUG:\tfoo", "", "BUG: foo"},
		{"[ 1.2 ] not a timestamp", "", "[ 1.2 ] not a timestamp"},
		{"[    1.234567][ X1] odd caller", "", "[ X1] odd caller"},
		{"<12345>x", "", "<12345>x"},
		{"\x1b", "", ""},
		{"\x1b[", "", ""},
		{"", "", ""},
	} {
		caller, msg := Strip(tc.in)
		if caller != tc.caller || msg != tc.msg {
			t.Errorf("Strip(%q) = %q, %q; want %q, %q", tc.in, caller, msg, tc.caller, tc.msg)
		}
	}
}

// TestLines checks single lines (and short sequences) against the table.
func TestLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []Report // Line 0 means "the first line"
	}{
		{"warning-kallsyms", []string{"[    5.1] WARNING: CPU: 0 PID: 1 at kernel/futex/core.c:123 futex_wake+0x12/0x34"},
			[]Report{{KindWarning, "WARNING in futex_wake", 1}}},
		{"warning-module", []string{"WARNING: CPU: 3 PID: 9 at drivers/x/y.c:7 foo_probe.cold+0x1/0x2 [foo]"},
			[]Report{{KindWarning, "WARNING in foo_probe", 1}}},
		{"warning-tinyconfig", []string{"WARNING: CPU: 0 PID: 1 at kernel/futex/core.c:123 0xffffffff8108a1b2"},
			[]Report{{KindWarning, "WARNING at kernel/futex/core.c:123", 1}}},
		{"warning-no-file-no-syms", []string{"WARNING: CPU: 0 PID: 1 at 0xffffffff8108a1b2"},
			[]Report{{KindWarning, "WARNING", 1}}},
		{"warning-new-layout", []string{"[  0.0][    C1] WARNING: net/mac80211/tx.c:0 at __ieee80211_beacon_get+0x125d/0x1630, CPU#1: syz.9.803/11907"},
			[]Report{{KindWarning, "WARNING in __ieee80211_beacon_get", 1}}},
		{"warning-new-layout-tiny", []string{"WARNING: kernel/futex/core.c:123 at 0xffffffff8108a1b2, CPU#0: a.out/5"},
			[]Report{{KindWarning, "WARNING at kernel/futex/core.c:123", 1}}},
		{"lockdep-recursive", []string{"WARNING: possible recursive locking detected"},
			[]Report{{KindLockdep, "WARNING: possible recursive locking detected", 1}}},
		{"lockdep-inconsistent", []string{"WARNING: inconsistent lock state"},
			[]Report{{KindLockdep, "WARNING: inconsistent lock state", 1}}},
		{"lockdep-old", []string{"[ INFO: possible circular locking dependency detected ]"},
			[]Report{{KindLockdep, "possible circular locking dependency detected", 1}}},
		{"kasan-header-only", []string{"BUG: KASAN: slab-use-after-free in futex_wake+0x1a/0x25"},
			[]Report{{KindKASAN, "KASAN: slab-use-after-free in futex_wake", 1}}},
		{"kasan-read", []string{
			"[   12.1][ T88] BUG: KASAN: slab-use-after-free in put_pi_state+0x2a0/0x2c0",
			"[   12.1][ T88] Read of size 8 at addr ffff888004f3c600 by task rig-guest/88",
		}, []Report{{KindKASAN, "KASAN: slab-use-after-free Read in put_pi_state", 1}}},
		{"kasan-write-no-size", []string{
			"BUG: KASAN: global-out-of-bounds in f.constprop.0+0x1/0x2",
			"Write at addr ffff888004f3c600 by task a/1",
		}, []Report{{KindKASAN, "KASAN: global-out-of-bounds Write in f", 1}}},
		{"kasan-double-free", []string{
			"BUG: KASAN: double-free in put_pi_state+0x1/0x2",
			"Free of addr ffff888004f3c600 by task a/1",
		}, []Report{{KindKASAN, "KASAN: double-free in put_pi_state", 1}}},
		{"kasan-invalid-free", []string{
			"BUG: KASAN: invalid-free in kfree+0x1/0x2",
			"",
			"Free of addr ffff888004f3c601 by task a/1",
		}, []Report{{KindKASAN, "KASAN: invalid-free in kfree", 1}}},
		{"kasan-two-callers", []string{
			"[ 1.0][ T1] BUG: KASAN: slab-out-of-bounds in f+0x1/0x2",
			"[ 1.0][ T2] WARNING: CPU: 1 PID: 2 at a.c:1 g+0x1/0x2",
			"[ 1.0][ T1] Read of size 4 at addr ffff888004f3c600 by task a/1",
		}, []Report{{KindKASAN, "KASAN: slab-out-of-bounds Read in f", 1}, {KindWarning, "WARNING in g", 2}}},
		{"kasan-null-arm64", []string{
			"Unable to handle kernel paging request at virtual address dfff800000000003",
			"KASAN: null-ptr-deref in range [0x0000000000000018-0x000000000000001f]",
			"Mem abort info:",
			"Internal error: Oops: 0000000096000005 [#1] PREEMPT SMP",
			"Modules linked in:",
			"pc : futex_wake+0x1f7/0x560",
		}, []Report{{KindKASAN, "KASAN: null-ptr-deref in futex_wake", 1}}},
		{"kasan-wild-stays-gpf", []string{
			"Oops: general protection fault, probably for non-canonical address 0xdffffc0000000003: 0000 [#1] PREEMPT SMP KASAN NOPTI",
			"KASAN: probably user-memory-access in range [0x0000000000001018-0x000000000000101f]",
			"RIP: 0010:futex_wake+0x1f7/0x560",
		}, []Report{{KindOops, "general protection fault in futex_wake", 1}}},
		{"kcsan", []string{"BUG: KCSAN: data-race in futex_wake / futex_wait_queue"},
			[]Report{{KindKCSAN, "KCSAN: data-race in futex_wait_queue / futex_wake", 1}}},
		{"kcsan-offsets", []string{"BUG: KCSAN: data-race in futex_wake+0x1/0x2 / __futex_queue.isra.0+0x3/0x4"},
			[]Report{{KindKCSAN, "KCSAN: data-race in __futex_queue / futex_wake", 1}}},
		{"kcsan-one-side", []string{"BUG: KCSAN: data-race in futex_wake+0x1/0x2"},
			[]Report{{KindKCSAN, "KCSAN: data-race in futex_wake", 1}}},
		{"kcsan-assert", []string{"BUG: KCSAN: assert: race in a_func / b_func"},
			[]Report{{KindKCSAN, "KCSAN: assert: race in a_func / b_func", 1}}},
		{"kfence", []string{"BUG: KFENCE: use-after-free read in put_pi_state+0xb3/0x143"},
			[]Report{{KindKFENCE, "KFENCE: use-after-free read in put_pi_state", 1}}},
		{"kfence-invalid-free", []string{"BUG: KFENCE: invalid free in kfree+0x1/0x2"},
			[]Report{{KindKFENCE, "KFENCE: invalid free in kfree", 1}}},
		{"ubsan-shift", []string{"UBSAN: shift-out-of-bounds in kernel/futex/core.c:123:45"},
			[]Report{{KindUBSAN, "UBSAN: shift-out-of-bounds in kernel/futex/core.c:123", 1}}},
		{"ubsan-array", []string{"UBSAN: array-index-out-of-bounds in kernel/futex/pi.c:9:10"},
			[]Report{{KindUBSAN, "UBSAN: array-index-out-of-bounds in kernel/futex/pi.c:9", 1}}},
		{"ubsan-load", []string{"UBSAN: invalid-load in kernel/futex/waitwake.c:300:7"},
			[]Report{{KindUBSAN, "UBSAN: invalid-load in kernel/futex/waitwake.c:300", 1}}},
		{"ubsan-out-of-tree", []string{"UBSAN: shift-out-of-bounds in /root/.cache/rig/slots/x86_64-6cb40bf479b7cbba/src/kernel/futex/waitwake.c:173:35"},
			[]Report{{KindUBSAN, "UBSAN: shift-out-of-bounds in kernel/futex/waitwake.c:173", 1}}},
		{"ubsan-relative", []string{"UBSAN: shift-out-of-bounds in ../arch/x86/kernel/x.c:1:2"},
			[]Report{{KindUBSAN, "UBSAN: shift-out-of-bounds in arch/x86/kernel/x.c:1", 1}}},
		{"ubsan-no-tree", []string{"UBSAN: shift-out-of-bounds in /tmp/x.c:1:2"},
			[]Report{{KindUBSAN, "UBSAN: shift-out-of-bounds in /tmp/x.c:1", 1}}},
		{"ubsan-odd", []string{"UBSAN: something new"},
			[]Report{{KindUBSAN, "UBSAN: something new", 1}}},
		{"soft-lockup", []string{"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [a.out:123]"},
			[]Report{{KindSoftLockup, "BUG: soft lockup - CPU#0 stuck for 22s! [a.out:123]", 1}}},
		{"hard-lockup", []string{"watchdog: Watchdog detected hard LOCKUP on cpu 1"},
			[]Report{{KindSoftLockup, "Watchdog detected hard LOCKUP on cpu 1", 1}}},
		{"workqueue-lockup", []string{"BUG: workqueue lockup - pool cpus=0 flags=0x4 nice=0 stuck for 19s!"},
			[]Report{{KindBUG, "BUG: workqueue lockup - pool cpus=0 flags=0x4 nice=0 stuck for 19s!", 1}}},
		{"sleeping", []string{"BUG: sleeping function called from invalid context at kernel/locking/rtmutex.c:969"},
			[]Report{{KindBUG, "BUG: sleeping function called from invalid context at kernel/locking/rtmutex.c:969", 1}}},
		{"hung-task", []string{"INFO: task foo:123 blocked for more than 120 seconds."},
			[]Report{{KindHungTask, "INFO: task foo:123 blocked for more than 120 seconds.", 1}}},
		{"rcu-preempt", []string{"rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"},
			[]Report{{KindRCUStall, "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks", 1}}},
		{"rcu-expedited", []string{"rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 1-.... } 21002 jiffies s: 1313 root: 0x2/."},
			[]Report{{KindRCUStall, "rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks", 1}}},
		{"rcu-old", []string{"INFO: rcu_sched self-detected stall on CPU { 0}  (t=2100 jiffies g=1 c=0 q=5)"},
			[]Report{{KindRCUStall, "INFO: rcu_sched self-detected stall on CPU", 1}}},
		{"panic", []string{"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"},
			[]Report{{KindPanic, "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009", 1}}},
		{"reboot", []string{"[   53.710000] reboot: Restarting system"},
			[]Report{{KindReboot, "reboot: Restarting system", 1}}},
		{"reboot-cmd", []string{"reboot: Restarting system with command 'bootloader'"},
			[]Report{{KindReboot, "reboot: Restarting system with command 'bootloader'", 1}}},
		{"gpf-6.10", []string{
			"Oops: general protection fault, probably for non-canonical address 0xdffffc0000000003: 0000 [#1] PREEMPT SMP KASAN NOPTI",
			"KASAN: null-ptr-deref in range [0x0000000000000018-0x000000000000001f]",
			"CPU: 0 UID: 0 PID: 5831 Comm: a.out Not tainted 6.12.0 #1",
			"RIP: 0010:futex_wake+0x1f7/0x560",
		}, []Report{{KindKASAN, "KASAN: null-ptr-deref in futex_wake", 1}}},
		{"gpf-no-kallsyms", []string{
			"general protection fault: 0000 [#1] SMP",
			"RIP: 0010:0xffffffff8108a1b2",
		}, []Report{{KindOops, "general protection fault", 1}}},
		{"oops-alone", []string{"Oops: 0000 [#1] SMP", "CPU: 0 PID: 1", "RIP: 0010:do_thing+0x1/0x2"},
			[]Report{{KindOops, "Oops in do_thing", 1}}},
		{"x86-null-deref", []string{
			"BUG: kernel NULL pointer dereference, address: 0000000000000008",
			"#PF: supervisor write access in kernel mode",
			"#PF: error_code(0x0002) - not-present page",
			"PGD 0 P4D 0",
			"Oops: 0002 [#1] SMP",
			"RIP: 0010:vmx_vcpu_load_vmcs+0x68/0x230 [kvm_intel]",
		}, []Report{{KindOops, "BUG: kernel NULL pointer dereference, address: 0000000000000008", 1}}},
		{"header-without-oops", []string{"BUG: unable to handle page fault for address: ffffc90000000000"},
			[]Report{{KindBUG, "BUG: unable to handle page fault for address: ffffc90000000000", 1}}},
		{"oops-then-panic", []string{
			"kernel BUG at mm/slub.c:1!",
			"invalid opcode: 0000 [#1] SMP",
			"Kernel panic - not syncing: Fatal exception",
		}, []Report{{KindOops, "kernel BUG at mm/slub.c:1!", 1}, {KindPanic, "Kernel panic - not syncing: Fatal exception", 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scan(tc.lines); !slices.Equal(got, tc.want) {
				t.Errorf("Scan(%q):\n got: %s\nwant: %s", tc.lines, format(got), format(tc.want))
			}
		})
	}
}

// TestNoMatch lists lines that must not be reported.
func TestNoMatch(t *testing.T) {
	for _, line := range []string{
		"WARNING: some userspace message",
		"WARNING: workqueue cpumask: online intersect > possible intersect",
		"Speculative Return Stack Overflow: WARNING: kernel not compiled with CPU_SRSO.",
		"[    1.0] DEBUG: BUG: not at the start",
		"DEBUG: foo",
		"DEBUGGING BUG",
		"my BUG: is here",
		"BUGS: none",
		"robust-kill-in-lock: kill",
		"ok 3 robust-kill-in-lock # kill during lock",
		"# robust-kill-in-lock: sending SIGKILL (kill) to 123",
		"not ok 4 robust-kill-in-lock: kill panicked the test",
		"INFO: task list follows",
		"rcu: INFO: something else",
		"reboot: Power down",
		"reboot: System halted",
		"Oops: nothing",
		"panic: runtime error: index out of range", // Go panic in the guest
		"Kernel Offset: disabled",
		"---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100 ]---",
		"---[ end trace 0000000000000000 ]---",
		"RIP: 0010:futex_wake+0x1/0x2",
		"pc : futex_wake+0x1/0x2",
	} {
		if got := Scan([]string{line}); len(got) != 0 {
			t.Errorf("Scan(%q) = %s, want none", line, format(got))
		}
	}
}

func TestStreaming(t *testing.T) {
	s := NewScanner()
	if got := s.Line("[ 1.0] BUG: unable to handle page fault for address: 0000000000001234"); len(got) != 0 {
		t.Errorf("header line returned %v, want nothing until the Oops line", got)
	}
	if got := s.Reports(); len(got) != 1 || got[0].Kind != KindBUG {
		t.Errorf("Reports() with an open header = %v, want it as BUG", got)
	}
	s.Line("[ 1.0] #PF: supervisor read access in kernel mode")
	got := s.Line("[ 1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI")
	want := []Report{{KindOops, "BUG: unable to handle page fault for address: 0000000000001234", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("Oops line returned %s, want %s", format(got), format(want))
	}
	s.Line("[ 1.0] RIP: 0010:f+0x1/0x2")
	got = s.Line("[ 1.1] Kernel panic - not syncing: Fatal exception")
	if len(got) != 1 || got[0].Kind != KindPanic || got[0].Line != 5 {
		t.Errorf("panic line returned %s", format(got))
	}
	if n := len(s.Reports()); n != 2 {
		t.Errorf("Reports() has %d reports, want 2", n)
	}

	// An Oops whose RIP line never comes is returned after the window.
	s = NewScanner()
	s.Line("general protection fault: 0000 [#1] SMP")
	var all []Report
	for i := 0; i < window+1; i++ {
		all = append(all, s.Line("filler")...)
	}
	if len(all) != 1 || all[0].Title != "general protection fault" {
		t.Errorf("open Oops after the window: %s", format(all))
	}
}

func TestLimits(t *testing.T) {
	s := NewScanner()
	for i := 0; i < MaxReports+50; i++ {
		if got := s.Line("WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2"); len(got) != 1 {
			t.Fatalf("line %d returned %d reports", i+1, len(got))
		}
	}
	if n := len(s.Reports()); n != MaxReports {
		t.Errorf("kept %d reports, want %d", n, MaxReports)
	}
	if s.Dropped != 50 {
		t.Errorf("Dropped = %d, want 50", s.Dropped)
	}

	long := "Kernel panic - not syncing: " + strings.Repeat("\xffé", 10000)
	got := Scan([]string{long})
	if len(got) != 1 {
		t.Fatalf("long line: %d reports", len(got))
	}
	if len(got[0].Title) > MaxTitleLen || !utf8.ValidString(got[0].Title) {
		t.Errorf("title not bounded or not UTF-8: %d bytes", len(got[0].Title))
	}
	// The match is made on the first MaxLineLen bytes only.
	if got := Scan([]string{strings.Repeat(" ", MaxLineLen) + "Kernel panic - not syncing: x"}); len(got) != 0 {
		t.Errorf("matched past MaxLineLen: %s", format(got))
	}
}

func BenchmarkScanner(b *testing.B) {
	data, err := os.ReadFile("testdata/warning-x86.log")
	if err != nil {
		b.Fatal(err)
	}
	lines := splitLines(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Scan(lines)
	}
}

var kinds = []string{KindPanic, KindBUG, KindOops, KindWarning, KindKASAN, KindKCSAN, KindUBSAN,
	KindKFENCE, KindLockdep, KindSoftLockup, KindHungTask, KindRCUStall, KindReboot}

func FuzzScanner(f *testing.F) {
	logs, _ := filepath.Glob("testdata/*.log")
	for _, log := range logs {
		data, err := os.ReadFile(log)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner()
		lines := strings.Split(string(data), "\n")
		returned := 0
		for _, l := range lines {
			returned += len(s.Line(l))
		}
		got := s.Reports()
		if len(got) > MaxReports {
			t.Fatalf("%d reports kept", len(got))
		}
		for i, r := range got {
			if !slices.Contains(kinds, r.Kind) {
				t.Fatalf("unknown kind %q", r.Kind)
			}
			if r.Title == "" || len(r.Title) > MaxTitleLen || !utf8.ValidString(r.Title) ||
				strings.ContainsAny(r.Title, "\n\r\x00\x1b") {
				t.Fatalf("bad title %q", r.Title)
			}
			if r.Line < 1 || r.Line > len(lines) {
				t.Fatalf("line %d out of 1..%d", r.Line, len(lines))
			}
			if i > 0 && got[i-1].Line > r.Line {
				t.Fatalf("reports out of order: %v", got)
			}
		}
		if returned+len(s.open) < len(got) {
			t.Fatalf("Line returned %d reports, %d open, but Reports has %d", returned, len(s.open), len(got))
		}
	})
}

// TestWedges: the reports after which a machine never finishes by itself
// end a boot early; every other kind leaves the guest to its verdict.
func TestWedges(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"rcu: INFO: rcu_sched self-detected stall on CPU", true},
		{"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [exe:37]", true},
		{"watchdog: Watchdog detected hard LOCKUP on cpu 1", true},
		{"INFO: task exe:37 blocked for more than 30 seconds.", true},
		{"Kernel panic - not syncing: Fatal exception", true},
		{"WARNING: CPU: 0 PID: 1 at kernel/futex/core.c:766 handle_futex_death+0x1/0x2", false},
		{"BUG: KASAN: slab-use-after-free in put_pi_state+0x1/0x2", false},
		{"BUG: workqueue lockup - pool cpus=0 flags=0x4 nice=0 stuck for 19s!", false},
	} {
		rs := Scan([]string{tc.line, "Read of size 8 at addr ffff"})
		if len(rs) == 0 {
			t.Fatalf("%q: no report", tc.line)
		}
		if got := Wedges(rs[0].Kind); got != tc.want {
			t.Errorf("Wedges(%s) for %q = %v, want %v", rs[0].Kind, tc.line, got, tc.want)
		}
	}
}

// TestByCause: a memory sanitizer's report comes first wherever the console
// has it, a panic or reboot last, and each rank keeps console order.
func TestByCause(t *testing.T) {
	r := func(kind string, line int) Report { return Report{Kind: kind, Line: line} }
	for _, tc := range []struct {
		name     string
		in, want []Report
	}{
		{"a WARNING another CPU printed first",
			[]Report{r(KindWarning, 178), r(KindKASAN, 180)},
			[]Report{r(KindKASAN, 180), r(KindWarning, 178)}},
		{"KFENCE ahead of an Oops, the panic after both",
			[]Report{r(KindPanic, 10), r(KindOops, 20), r(KindKFENCE, 30), r(KindReboot, 40)},
			[]Report{r(KindKFENCE, 30), r(KindOops, 20), r(KindPanic, 10), r(KindReboot, 40)}},
		{"the rest in console order: KCSAN and UBSAN do not outrank a BUG",
			[]Report{r(KindBUG, 5), r(KindKCSAN, 6), r(KindUBSAN, 7), r(KindWarning, 8)},
			[]Report{r(KindBUG, 5), r(KindKCSAN, 6), r(KindUBSAN, 7), r(KindWarning, 8)}},
		{"two KASAN reports keep their order",
			[]Report{r(KindWarning, 1), r(KindKASAN, 3), r(KindKASAN, 9)},
			[]Report{r(KindKASAN, 3), r(KindKASAN, 9), r(KindWarning, 1)}},
	} {
		got := slices.Clone(tc.in)
		ByCause(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: ByCause = %s, want %s", tc.name, format(got), format(tc.want))
		}
	}
}
