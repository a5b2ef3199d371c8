package run

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
)

// A report's stack reaches the cell as printed, and a decoded one puts
// the innermost file:line in the cause.
func TestReportStacks(t *testing.T) {
	sc := oops.NewScanner()
	for _, l := range []string{
		"[    1.0] WARNING: CPU: 0 PID: 37 at kernel/futex/core.c:766 handle_futex_death+0x62/0xff",
		"[    1.0] RIP: 0010:handle_futex_death+0x62/0xff",
		"[    1.0] Call Trace:",
		"[    1.0]  ? futex_cleanup+0xc9/0x26b",
		"[    1.0]  mod_fn+0x1/0x2 [mod]",
		"[    1.0] ---[ end trace 0000000000000000 ]---",
	} {
		sc.Line(l)
	}
	oo, stacks := oopses(sc)
	if len(oo) != 1 || len(stacks) != 1 || len(stacks[0]) != 3 {
		t.Fatalf("oopses: %+v, stacks %v", oo, stacks)
	}
	want := []result.Frame{{Func: "handle_futex_death+0x62/0xff"}, {Func: "futex_cleanup+0xc9/0x26b", Guess: true}, {Func: "mod_fn+0x1/0x2 [mod]"}}
	if !slices.Equal(oo[0].Stack, want) {
		t.Errorf("stack %v, want %v", oo[0].Stack, want)
	}

	// Not decoded: the cause is the title's.
	out := &machine.Outcome{Shutdown: machine.GuestShutdown, Exit: machine.Exited(0)}
	ob := Observed{Hello: true, Done: true, Results: []result.Test{{Name: "t", Status: "pass"}}, Oopses: oo}
	if _, cause := Decide(out, ob); strings.Contains(cause, " at ") {
		t.Errorf("undecoded cause %q names a place", cause)
	}
	decoded := oo[0]
	decoded.Stack = []result.Frame{
		{Func: "futex_cmpxchg_value_locked", File: "kernel/futex/core.c", Line: 536, Inline: true},
		{Func: "handle_futex_death+0x62/0xff", File: "kernel/futex/core.c", Line: 766},
	}
	ob.Oopses = []result.Oops{decoded}
	st, cause := Decide(out, ob)
	if st != result.Fail || cause != "kernel WARNING in handle_futex_death at kernel/futex/core.c:766 (in inlined futex_cmpxchg_value_locked, kernel/futex/core.c:536) (console.log:1)" {
		t.Errorf("Decide = %s, %q", st, cause)
	}
}

// A KASAN report comes first though another CPU's WARNING was printed
// before it, and each report keeps its own stack: the symbolizer decodes
// stacks[i] into Oopses[i]. The console is a real x86_64 KASAN run of
// patches/break-pi-uaf in which the two CPUs' reports interleave.
func TestReportsMostTellingFirst(t *testing.T) {
	data, err := os.ReadFile("../oops/testdata/kasan-pi-uaf-interleaved-x86_64-6.12.log")
	if err != nil {
		t.Fatal(err)
	}
	sc := oops.NewScanner()
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		sc.Line(l)
	}
	oo, stacks := oopses(sc)
	if len(oo) != 2 || len(stacks) != 2 {
		t.Fatalf("oopses: %+v, stacks %v", oo, stacks)
	}
	if oo[0].Kind != oops.KindKASAN || oo[0].Line != 179 || oo[1].Kind != oops.KindWarning || oo[1].Line != 178 {
		t.Fatalf("oopses %+v; want the KASAN report (line 179) before the WARNING (line 178)", oo)
	}
	// Without printk caller ids the interleaved frames all join the
	// report still open, KASAN's; the WARNING keeps none.
	if len(oo[0].Stack) == 0 || len(oo[1].Stack) != 0 {
		t.Errorf("stacks: KASAN %v, WARNING %v; want the frames with KASAN", oo[0].Stack, oo[1].Stack)
	}
	for i, o := range oo {
		if len(o.Stack) != len(stacks[i]) || len(o.Stack) > 0 && o.Stack[0].Func != stacks[i][0].Sym {
			t.Errorf("report %d (%s): stack %v, stacks[%d] %v", i, o.Kind, o.Stack, i, stacks[i])
		}
	}
}

func TestWithDebugInfo(t *testing.T) {
	if got := WithDebugInfo([]string{"debug"}); !slices.Equal(got, []string{"debug", "debuginfo"}) {
		t.Errorf("WithDebugInfo(debug) = %v", got)
	}
	if got := WithDebugInfo([]string{"debuginfo", "kasan"}); !slices.Equal(got, []string{"debuginfo", "kasan"}) {
		t.Errorf("WithDebugInfo(debuginfo, kasan) = %v", got)
	}
}
