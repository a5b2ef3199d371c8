package result

import "testing"

// TestWhere: a report points at the function its title names (its inlined
// callee when the access is there), not at the reporting code its stack
// starts with; without that function, at the first frame outside the
// reporting code; undecoded stacks point nowhere.
func TestWhere(t *testing.T) {
	kasan := []Frame{
		{Func: "dump_stack_lvl+0x52/0x61", File: "lib/dump_stack.c", Line: 120},
		{Func: "print_report+0x160/0x493", File: "mm/kasan/report.c", Line: 377},
		{Func: "put_pi_state+0x171/0x185", File: "kernel/futex/pi.c", Line: 1, Guess: true},
		{Func: "kasan_report+0xb2/0xd1", File: "mm/kasan/report.c", Line: 601},
		{Func: "list_empty", File: "include/linux/list.h", Line: 373, Inline: true},
		{Func: "put_pi_state+0x171/0x185", File: "kernel/futex/pi.c", Line: 114},
		{Func: "futex_unqueue_pi+0x6a/0x91", File: "kernel/futex/pi.c", Line: 180},
		{Func: "kfree+0x1/0x2", File: "mm/slub.c", Line: 9, Section: "Freed by task 33"},
	}
	ubsan := []Frame{
		{Func: "dump_stack_lvl+0x52/0x61", File: "lib/dump_stack.c", Line: 120},
		{Func: "ubsan_epilogue+0x5/0x2b", File: "lib/ubsan.c", Line: 233},
		{Func: "__ubsan_handle_shift_out_of_bounds+0x129/0x13d", File: "lib/ubsan.c", Line: 494},
		{Func: "put_pages_list+0xaa/0xaa", File: "mm/swap.c", Line: 1, Guess: true},
		{Func: "futex_wake+0x3e/0x124", File: "kernel/futex/waitwake.c", Line: 173},
	}
	for _, tc := range []struct {
		name, title string
		stack       []Frame
		want        string
	}{
		{"kasan: the inlined access in the named function", "KASAN: slab-use-after-free Read in put_pi_state", kasan, "kernel/futex/pi.c:114 (in inlined list_empty, include/linux/list.h:373)"},
		{"warning: its RIP frame", "WARNING in handle_futex_death", []Frame{
			{Func: "handle_futex_death+0x2c/0x1f0", File: "kernel/futex/core.c", Line: 766},
			{Func: "exit_robust_list+0x90/0x120", File: "kernel/futex/core.c", Line: 850}}, "kernel/futex/core.c:766"},
		{"ubsan: past the reporting code and guesses", "UBSAN: shift-out-of-bounds in kernel/futex/waitwake.c:173", ubsan, "kernel/futex/waitwake.c:173"},
		{"kcsan: the first of the two", "KCSAN: data-race in futex_wake / futex_wait", []Frame{
			{Func: "kcsan_report+0x1/0x2", File: "kernel/kcsan/report.c", Line: 5},
			{Func: "futex_wake+0x3e/0x124", File: "kernel/futex/waitwake.c", Line: 160}}, "kernel/futex/waitwake.c:160"},
		{"not decoded", "WARNING in handle_futex_death", []Frame{{Func: "handle_futex_death+0x2c/0x1f0"}}, ""},
		{"only reporting code", "BUG: KFENCE: use-after-free read in x", kasan[:2], ""},
	} {
		if got := (Oops{Title: tc.title, Stack: tc.stack}).Where(); got != tc.want {
			t.Errorf("%s: Where() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
