package oops

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// framesOf scans a testdata log and returns the frames of the report that
// starts on line.
func framesOf(t *testing.T, log string, line int) []Frame {
	t.Helper()
	data, err := os.ReadFile("testdata/" + log)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScanner()
	for _, l := range splitLines(data) {
		s.Line(l)
	}
	for _, r := range s.Reports() {
		if r.Line == line {
			return s.Frames(r)
		}
	}
	t.Fatalf("%s: no report on line %d", log, line)
	return nil
}

func syms(fs []Frame) []string {
	var out []string
	for _, f := range fs {
		s := f.String()
		if f.PC {
			s = "PC " + s
		}
		if f.Section != "" {
			s = "[" + f.Section + "] " + s
		}
		out = append(out, s)
	}
	return out
}

// TestFramesRealLogs checks the stacks collected from real console logs:
// the RIP or pc symbol first, then the call trace, markers and guessed
// ("? ") frames as printed, nothing after the trace's end.
func TestFramesRealLogs(t *testing.T) {
	for _, tc := range []struct {
		log   string
		line  int
		n     int      // how many frames
		first []string // the first ones
		last  string
	}{
		// An RCU stall of patches/break-exit-spin: the spinning exit path,
		// on x86_64 (guessed frames) and on arm64.
		{"rcu-stall-exit-spin-x86_64-6.12.log", 178, 12,
			[]string{"PC handle_futex_death+0xdd/0xf1", "? futex_cleanup+0xc9/0x26b"},
			"? entry_SYSCALL_64_after_hwframe+0x4b/0x53"},
		{"rcu-stall-exit-spin-arm64-6.12.log", 88, 12,
			[]string{"PC handle_futex_death+0x12c/0x134", "futex_cleanup+0xf0/0x2a4", "futex_exit_release+0x44/0x78"},
			"el0t_64_sync+0x14c/0x150"},
		// A self-detected stall whose grace-period kthread was starved:
		// the kthread's stack is printed first, under its heading, and
		// goes after the stalled CPU's own trace.
		{"rcu-stall.log", 1, 21,
			[]string{"dump_stack+0x111/0x171", "nmi_cpu_backtrace.cold+0x44/0xd8"},
			"[RCU grace-period kthread stack dump] ret_from_fork+0x1f/0x30"},
		// This rig's WARN on x86_64 (UNWINDER_GUESS: every frame is "? ").
		{"rig-x86_64-6.12-warning.log", 186, 13,
			[]string{"PC handle_futex_death+0x62/0xff", "? futex_cleanup+0xc9/0x26b", "? schedule+0x29/0x3a"},
			"? entry_SYSCALL_64_after_hwframe+0x4b/0x53"},
		// ORC: reliable frames between guessed ones; the user RIP line
		// after the trace is not a frame.
		{"warning-x86.log", 2, 26,
			[]string{"PC drop_nlink+0xc4/0x110", "? __warn+0x168/0x4e0", "? drop_nlink+0xc4/0x110"},
			"entry_SYSCALL_64_after_hwframe+0x77/0x7f"},
		// The panic that follows has a stack of its own; the RIP line
		// after it is the WARN's saved registers, not the panic's pc.
		{"warning-x86.log", 55, 17,
			[]string{"dump_stack_lvl+0x241/0x360", "? __pfx_dump_stack_lvl+0x10/0x10"},
			"asm_exc_invalid_op+0x1a/0x20"},
		// arm64: pc line with a module, then "Call trace:", whose first
		// frame, the pc again, is not repeated.
		{"oops-arm64-faulty.log", 2, 9,
			[]string{"PC faulty_write+0x8/0x10 [faulty]", "ksys_write+0x74/0x10c"},
			"el0t_64_sync+0x190/0x194"},
		// Two tasks interleaved: each line goes to its own task's report.
		{"oops-arm64-interleaved.log", 1, 17,
			[]string{"PC __kmem_cache_alloc_node+0x17c/0x350", "__kmalloc_node+0xbc/0x14c"},
			"el0t_64_sync+0x190/0x194"},
		// A crash header joined by its Oops line keeps collecting.
		{"kernel-bug-arm64.log", 9, 19,
			[]string{"PC virtio_check_driver_offered_feature+0x60/0x6c", "virtio_dev_probe+0x274/0x320"},
			"ret_from_fork+0x10/0x20"},
		// KASAN: the access's call trace, then the allocation's stack
		// under its heading.
		{"kasan.log", 2, 25,
			[]string{"dump_stack+0xef/0x160", "print_address_description.constprop.0+0x17/0x311"},
			"[Allocated by task 2351] __kmalloc_track_caller+0x161/0x1a4"},
		// A syzkaller-symbolized trace, after the panic that follows the
		// WARN (the panic's stack): "[inline]" lines are skipped.
		{"warning-arm64.log", 2, 10,
			[]string{"dump_backtrace+0x0/0x2f0", "show_stack+0x20/0x30", "dump_stack+0x110/0x190"},
			"el1_dbg+0x18/0x8c"},
	} {
		t.Run(tc.log, func(t *testing.T) {
			got := syms(framesOf(t, tc.log, tc.line))
			if tc.n != 0 && len(got) != tc.n {
				t.Errorf("%d frames, want %d:\n%s", len(got), tc.n, strings.Join(got, "\n"))
			}
			if len(got) < len(tc.first) || !slices.Equal(got[:len(tc.first)], tc.first) {
				t.Errorf("frames start\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.first, "\n"))
			}
			if tc.last != "" && (len(got) == 0 || got[len(got)-1] != tc.last) {
				t.Errorf("last frame of\n%s\nwant %s", strings.Join(got, "\n"), tc.last)
			}
		})
	}
}

func TestFramesBounds(t *testing.T) {
	// Frame-like lines belong to no report unless one started them.
	s := NewScanner()
	for _, l := range []string{"Call Trace:", " futex_wake+0x1/0x2", "RIP: 0010:futex_wake+0x1/0x2"} {
		s.Line(l)
	}
	if len(s.frames) != 0 {
		t.Errorf("frames without a report: %v", s.frames)
	}

	// A trace ends at the end marker and at the first line that is not a
	// frame; MaxFrames bounds it.
	lines := []string{"WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "RIP: 0010:f+0x1/0x2", "Call Trace:", " <TASK>"}
	for i := 0; i < MaxFrames+10; i++ {
		lines = append(lines, " g+0x1/0x2")
	}
	lines = append(lines, " </TASK>", "---[ end trace 0000000000000000 ]---", " h+0x1/0x2")
	s = NewScanner()
	for _, l := range lines {
		s.Line(l)
	}
	rs := s.Reports()
	if len(rs) != 1 {
		t.Fatalf("reports %v", rs)
	}
	fs := s.Frames(rs[0])
	if len(fs) != MaxFrames || !fs[0].PC || fs[1].Sym != "g+0x1/0x2" || fs[1].PC {
		t.Errorf("got %d frames %v, want %d starting with the PC", len(fs), syms(fs), MaxFrames)
	}

	s = NewScanner()
	for _, l := range []string{"WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "Call Trace:", " g+0x1/0x2", "some other line", " h+0x1/0x2"} {
		s.Line(l)
	}
	if got := syms(s.Frames(s.Reports()[0])); !slices.Equal(got, []string{"g+0x1/0x2"}) {
		t.Errorf("frames after the trace ended: %v", got)
	}

	// A symbol longer than the bound is not kept.
	s = NewScanner()
	for _, l := range []string{"WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "Call Trace:", " " + strings.Repeat("x", 500) + "+0x1/0x2", " g+0x1/0x2"} {
		s.Line(l)
	}
	if got := syms(s.Frames(s.Reports()[0])); !slices.Equal(got, []string{"g+0x1/0x2"}) {
		t.Errorf("long symbol: %v", got)
	}
}

// A KASAN report's allocation and free stacks follow its own, each under
// its heading.
func TestFramesSections(t *testing.T) {
	s := NewScanner()
	for _, l := range []string{
		"[  5.0][  T99] BUG: KASAN: slab-use-after-free in put_pi_state+0x1a/0x50",
		"[  5.0][  T99] Read of size 4 at addr ffff888003a1b2c0 by task rig-guest/99",
		"[  5.0][  T99] Call Trace:",
		"[  5.0][  T99]  <TASK>",
		"[  5.0][  T99]  put_pi_state+0x1a/0x50",
		"[  5.0][  T99]  </TASK>",
		"[  5.0][  T99] ",
		"[  5.0][  T99] Allocated by task 98:",
		"[  5.0][  T99]  kasan_save_stack+0x1c/0x40",
		"[  5.0][  T99]  alloc_pi_state+0x2a/0x80",
		"[  5.0][  T99] ",
		"[  5.0][  T99] Freed by task 97 on cpu 1 at 4.987654s:",
		"[  5.0][  T99]  kfree+0x10/0x20",
		"[  5.0][  T99] ",
		"[  5.0][  T99] Last potentially related work creation:",
		"[  5.0][  T99]  call_rcu+0x1/0x2",
		"[  5.0][  T99] The buggy address belongs to the object at ffff888003a1b2c0",
		"[  5.0][  T99]  which belongs to the cache kmalloc-64 of size 64",
	} {
		s.Line(l)
	}
	got := syms(s.Frames(s.Reports()[0]))
	want := []string{"put_pi_state+0x1a/0x50", "[Allocated by task 98] kasan_save_stack+0x1c/0x40", "[Allocated by task 98] alloc_pi_state+0x2a/0x80",
		"[Freed by task 97 on cpu 1 at 4.987654s] kfree+0x10/0x20", "[Last potentially related work creation] call_rcu+0x1/0x2"}
	if !slices.Equal(got, want) {
		t.Errorf("frames\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// An RCU stall prints other tasks' stacks beside the stalled CPU's: the
// grace-period kthread's, and the stack of the CPU it last ran on, with
// that CPU's own "CPU:" and RIP lines. They go after the report's own
// stack, under their headings, whichever order the kernel printed them in,
// and the stalled CPU's RIP stays the first frame.
func TestFramesRCUStallOtherStacks(t *testing.T) {
	own := []string{
		"[   22.735438] CPU: 1 UID: 0 PID: 36 Comm: exe Not tainted 6.12.118+ #rig-2d92ba789f17",
		"[   22.735758] RIP: 0010:handle_futex_death+0xdd/0xf1",
		"[   22.736416] RSP: 0000:ffff888000387cf8 EFLAGS: 00000286",
		"[   22.736691] Call Trace:",
		"[   22.736992]  <TASK>",
		"[   22.737036]  ? futex_cleanup+0xc9/0x26b",
		"[   22.737118]  ? do_exit+0x1e8/0x75a",
		"[   22.737243]  </TASK>",
	}
	others := []string{
		"[   22.729001] rcu: rcu_sched kthread starved for 5250 jiffies! g-1083 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=1",
		"[   22.729101] rcu: \tUnless rcu_sched kthread gets sufficient CPU time, OOM is now expected behavior.",
		"[   22.729201] rcu: RCU grace-period kthread stack dump:",
		"[   22.729301] task:rcu_sched       state:R  running task     stack:0     pid:14    tgid:14    ppid:2      flags:0x00004000",
		"[   22.729401] Call Trace:",
		"[   22.729501]  <TASK>",
		"[   22.729601]  ? __schedule+0x42d/0x457",
		"[   22.729701]  ? rcu_gp_kthread+0xb2/0xce",
		"[   22.729801]  </TASK>",
		"[   22.729901] rcu: Stack dump where RCU GP kthread last ran:",
		"[   22.730001] Sending NMI from CPU 1 to CPUs 0:",
		"[   22.730101] NMI backtrace for cpu 0",
		"[   22.730201] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.118+ #rig-2d92ba789f17",
		"[   22.730301] RIP: 0010:default_idle+0xf/0x14",
		"[   22.730401] Call Trace:",
		"[   22.730501]  <NMI>",
		"[   22.730601]  ? nmi_cpu_backtrace+0x8d/0xb4",
		"[   22.730701]  </NMI>",
		"[   22.730801]  <TASK>",
		"[   22.730901]  ? default_idle_call+0x1a/0x29",
		"[   22.731001]  </TASK>",
	}
	stall := []string{
		"[   22.727976] rcu: INFO: rcu_sched self-detected stall on CPU",
		"[   22.728458] rcu: \t1-....: (5245 ticks this GP) idle=3c34/1/0x4000000000000000 softirq=95/95 fqs=2623",
	}
	wantOwn := []string{"PC handle_futex_death+0xdd/0xf1", "? futex_cleanup+0xc9/0x26b", "? do_exit+0x1e8/0x75a"}
	wantOthers := []string{
		"[RCU grace-period kthread stack dump] ? __schedule+0x42d/0x457",
		"[RCU grace-period kthread stack dump] ? rcu_gp_kthread+0xb2/0xce",
		"[Stack dump where RCU GP kthread last ran] ? nmi_cpu_backtrace+0x8d/0xb4",
		"[Stack dump where RCU GP kthread last ran] ? default_idle_call+0x1a/0x29",
	}
	for name, lines := range map[string][][]string{
		"others first": {stall, others, own},
		"own first":    {stall, own, others},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewScanner()
			for _, ls := range lines {
				for _, l := range ls {
					s.Line(strings.ReplaceAll(l, "\\t", "\t"))
				}
			}
			rs := s.Reports()
			if len(rs) != 1 {
				t.Fatalf("reports %+v; want the stall", rs)
			}
			got := syms(s.Frames(rs[0]))
			if want := append(slices.Clone(wantOwn), wantOthers...); !slices.Equal(got, want) {
				t.Errorf("frames\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestParseFrame(t *testing.T) {
	for in, want := range map[string]string{
		"futex_wake+0x1a/0x40":                                  "futex_wake+0x1a/0x40",
		"? futex_wake+0x1a/0x40":                                "? futex_wake+0x1a/0x40",
		"faulty_write+0x8/0x10 [faulty]":                        "faulty_write+0x8/0x10 [faulty]",
		"[<ffffffff81000000>] ? do_thing.isra.0+0x1/0x2":        "? do_thing.isra.0+0x1/0x2",
		"dump_backtrace+0x0/0x2f0 include/linux/compiler.h:193": "dump_backtrace+0x0/0x2f0",
		"el0_svc+0x34/0x44 (P)":                                 "el0_svc+0x34/0x44",
		"0xffffffff8108a1b2":                                    "",
		"+0x1/0x2":                                              "",
		"f+0x/0x2":                                              "",
		"f+0x1/0x":                                              "",
		"f+0x1":                                                 "",
		"[<xyz>] f+0x1/0x2":                                     "",
		"Code: 48 89 e5":                                        "",
	} {
		f, ok := parseFrame(in)
		got := ""
		if ok {
			got = f.String()
		}
		if got != want {
			t.Errorf("parseFrame(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// An RCU stall detected by the other CPU: C0 prints the report and asks
// CPU 1 for its stack, which CPU 1 prints from its NMI handler under its
// own caller id, C1, while C0 goes on printing. The stalled CPU's stack is
// the report's; C0's interleaved lines do not end it; a CPU that skips its
// backtrace adds nothing.
func TestFramesNMIBacktraceOfAnotherCaller(t *testing.T) {
	s := NewScanner()
	for _, l := range []string{
		"[   23.1][    C1] NMI backtrace for cpu 1", // before any report: nothing to join
		"[   23.1][    C1]  stray_frame+0x1/0x2",
		"[   23.2][    C0] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
		"[   23.2][    C0] rcu: \t1-....: (5247 ticks this GP) idle=8c5c/1/0x4000000000000000 softirq=323/323 fqs=2624",
		"[   23.2][    C0] rcu: \t(detected by 0, t=5252 jiffies, g=-571, q=45 ncpus=2)",
		"[   23.2][    C0] Sending NMI from CPU 0 to CPUs 1:",
		"[   23.2][    C1] NMI backtrace for cpu 1",
		"[   23.2][    C1] CPU: 1 UID: 0 PID: 316 Comm: exe Not tainted 6.12.118+ #rig-e98d09f1483c",
		"[   23.2][    C1] RIP: 0010:handle_futex_death+0xdd/0xf1",
		"[   23.2][    C1] RSP: 0018:ffff8880003dfcf8 EFLAGS: 00000286",
		"[   23.2][    C0] rcu: rcu_sched kthread timer wakeup didn't happen for 2 jiffies! g-571 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x402",
		"[   23.2][    C1] Call Trace:",
		"[   23.2][    C1]  <NMI>",
		"[   23.2][    C1]  </NMI>",
		"[   23.2][    C1]  <TASK>",
		"[   23.2][    C1]  ? futex_cleanup+0xc9/0x26b",
		"[   23.2][    C0] rcu: \tPossible timer handling issue on cpu=1 timer-softirq=78",
		"[   23.2][    C1]  ? do_exit+0x1e8/0x75a",
		"[   23.2][    C1]  </TASK>",
		"[   23.3][    C0] NMI backtrace for cpu 0 skipped: idling at default_idle+0x13/0x20",
	} {
		s.Line(l)
	}
	rs := s.Reports()
	if len(rs) != 1 || rs[0].Kind != KindRCUStall {
		t.Fatalf("reports %+v; want the stall", rs)
	}
	got := syms(s.Frames(rs[0]))
	want := []string{"PC handle_futex_death+0xdd/0xf1", "? futex_cleanup+0xc9/0x26b", "? do_exit+0x1e8/0x75a"}
	if !slices.Equal(got, want) {
		t.Errorf("frames\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
