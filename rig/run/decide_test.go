package run_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/oops"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

func TestDecide(t *testing.T) {
	tail := []string{"[    0.912345] Freeing unused kernel image memory: 2048K", "[    1.000000] Run /init as init process", "  "}
	const lastConsole = "[    1.000000] Run /init as init process"
	pass := func(name string) result.Test { return result.Test{Name: name, Status: "pass"} }
	panicOops := result.Oops{Kind: oops.KindPanic, Title: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009", Line: 40}
	warnOops := result.Oops{Kind: oops.KindWarning, Title: "WARNING: CPU: 1 PID: 77 at kernel/futex/core.c:1100 handle_futex_death+0x1f/0x120", Line: 31}
	stallOops := result.Oops{Kind: oops.KindRCUStall, Title: "rcu: INFO: rcu_sched self-detected stall on CPU", Line: 178}
	bootTO, runTO := 60*time.Second, 5*time.Minute

	for _, tc := range []struct {
		name   string
		out    machine.Outcome
		ob     run.Observed
		status result.Status
		want   []string // substrings of the cause; none means an empty cause
	}{
		{
			name:   "no hello, boot timeout",
			out:    machine.Outcome{BootTimedOut: true, Shutdown: "host-qmp-quit", Exit: machine.Exited(0)},
			ob:     run.Observed{ConsoleTail: tail},
			status: result.BootError,
			want:   []string{"boot timeout (1m0s)", lastConsole},
		},
		{
			name:   "no hello, no console",
			out:    machine.Outcome{BootTimedOut: true},
			ob:     run.Observed{},
			status: result.BootError,
			want:   []string{"boot timeout", "(no console output)"},
		},
		{
			name:   "no hello, panic",
			out:    machine.Outcome{Shutdown: "guest-reset", Exit: machine.Exited(0)},
			ob:     run.Observed{Oopses: []result.Oops{panicOops}, ConsoleTail: tail},
			status: result.BootError,
			want:   []string{"kernel panic", panicOops.Title, "console.log:40"},
		},
		{
			name:   "no hello, the cause before the panic",
			out:    machine.Outcome{Shutdown: "guest-reset"},
			ob:     run.Observed{Oopses: []result.Oops{panicOops, {Kind: oops.KindBUG, Title: "BUG: kernel NULL pointer dereference, address: 0000000000000000", Line: 20}}},
			status: result.BootError,
			want:   []string{"kernel BUG", "kernel NULL pointer dereference", "console.log:20"},
		},
		{
			name:   "the guest runs another build than the one the cell built",
			out:    machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Done: true, Results: []result.Test{pass("robust-kill-in-unlock")}, WantBuildID: "rig-0123456789ab", BootedVersion: "#rig-ba9876543210 SMP Thu Jan  1 00:00:00 UTC 2026"},
			status: result.InfraError,
			want:   []string{"booted the wrong kernel", "#rig-ba9876543210 SMP", "#rig-0123456789ab"},
		},
		{
			name:   "a guest that reports no kernel version is refused when a build id is expected",
			out:    machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Done: true, Results: []result.Test{pass("robust-kill-in-unlock")}, WantBuildID: "rig-0123456789ab"},
			status: result.InfraError,
			want:   []string{"booted the wrong kernel"},
		},
		{
			name:   "the right build passes",
			out:    machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Done: true, Results: []result.Test{pass("robust-kill-in-unlock")}, WantBuildID: "rig-0123456789ab", BootedVersion: "#rig-0123456789ab SMP Thu Jan  1 00:00:00 UTC 2026"},
			status: result.Pass,
		},
		{
			name: "a wedged machine the rig stopped: the report is the cause, not the test it broke",
			out:  machine.Outcome{Stopped: "kernel rcu-stall (console.log:178)", Shutdown: "host-qmp-quit", Exit: machine.Exited(0)},
			ob: run.Observed{Hello: true, Results: []result.Test{{Name: "pi-giveup", Status: "fail", Reason: "waiter hung"}},
				Oopses: []result.Oops{warnOops, stallOops}, WedgeLine: 178, Running: "pi-consistency"},
			status: result.Fail,
			want:   []string{"kernel rcu-stall: rcu: INFO: rcu_sched self-detected stall on CPU", "console.log:178", "wedged and stopped"},
		},
		{
			name:   "a guest silent while a test runs: a timeout naming the test",
			out:    machine.Outcome{Silent: true, Shutdown: "host-qmp-quit", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Running: "robust-owner-death", EventTimeout: 30 * time.Second, ConsoleTail: tail},
			status: result.Timeout,
			want:   []string{"test robust-owner-death: no guest event for 30s (--event-timeout)", lastConsole},
		},
		{
			name:   "no hello, run timeout",
			out:    machine.Outcome{TimedOut: true},
			ob:     run.Observed{ConsoleTail: tail},
			status: result.BootError,
			want:   []string{"run timeout (5m0s)", lastConsole},
		},
		{
			name:   "no hello, machine exited",
			out:    machine.Outcome{Exit: machine.KilledBy(syscall.SIGKILL)},
			ob:     run.Observed{ConsoleTail: tail},
			status: result.BootError,
			want:   []string{"before the guest started", "no shutdown event", "killed by signal 9", lastConsole},
		},
		{
			name: "failing test",
			out:  machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob: run.Observed{Hello: true, Done: true, Results: []result.Test{pass("pi-owner"),
				{Name: "robust-unlock", Status: "fail", Reason: "OWNER_DIED set in unrelated mapping"}}},
			status: result.Fail,
			want:   []string{"test robust-unlock failed: OWNER_DIED set in unrelated mapping"},
		},
		{
			name: "two failing tests",
			out:  machine.Outcome{Shutdown: "guest-shutdown"},
			ob: run.Observed{Hello: true, Done: true, Results: []result.Test{
				{Name: "a", Status: "fail", Reason: "ra"}, {Name: "b", Status: "fail", Reason: "rb"}}},
			status: result.Fail,
			want:   []string{"test a failed: ra", "and 1 more failing"},
		},
		{
			name: "failing test beats oops and timeout",
			out:  machine.Outcome{TimedOut: true},
			ob: run.Observed{Hello: true, Oopses: []result.Oops{warnOops},
				Results: []result.Test{{Name: "pi-owner", Status: "fail", Reason: "word names tid 12, owner is 13"}}},
			status: result.Fail,
			want:   []string{"test pi-owner failed: word names tid 12, owner is 13"},
		},
		{
			name:   "all pass with a WARNING",
			out:    machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Done: true, Results: []result.Test{pass("a"), pass("b")}, Oopses: []result.Oops{warnOops}},
			status: result.Fail,
			want:   []string{"WARNING", warnOops.Title, "console.log:31"},
		},
		{
			// Another CPU's WARNING, a symptom of the freed object KASAN
			// reports, printed just before KASAN's report.
			name: "all pass with a WARNING printed before the KASAN report it follows from",
			out:  machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob: run.Observed{Hello: true, Done: true, Results: []result.Test{pass("a")}, Oopses: []result.Oops{
				{Kind: oops.KindWarning, Title: "WARNING in put_pi_state", Line: 178},
				{Kind: oops.KindKASAN, Title: "KASAN: slab-use-after-free Read in put_pi_state", Line: 180}}},
			status: result.Fail,
			want:   []string{"kernel KASAN: slab-use-after-free Read in put_pi_state (console.log:180)"},
		},
		{
			name:   "guest reset without verdict",
			out:    machine.Outcome{Shutdown: "guest-reset", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Results: []result.Test{pass("a")}, ConsoleTail: tail},
			status: result.Fail,
			want:   []string{"guest exited without verdict", "reset", lastConsole},
		},
		{
			name:   "guest powered off without verdict",
			out:    machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, ConsoleTail: tail},
			status: result.Fail,
			want:   []string{"guest exited without verdict", "guest-shutdown", "exited 0"},
		},
		{
			name:   "run timeout",
			out:    machine.Outcome{TimedOut: true, Shutdown: "host-qmp-quit"},
			ob:     run.Observed{Hello: true, Results: []result.Test{pass("a")}, ConsoleTail: tail},
			status: result.Timeout,
			want:   []string{"run timeout (5m0s)", lastConsole},
		},
		{
			name: "test could not decide",
			out:  machine.Outcome{Shutdown: "guest-shutdown"},
			ob: run.Observed{Hello: true, Done: true, Results: []result.Test{pass("a"),
				{Name: "uffd-window", Status: "error", Reason: "userfaultfd: operation not permitted"}}},
			status: result.InfraError,
			want:   []string{"uffd-window", "userfaultfd: operation not permitted"},
		},
		{
			name:   "done without tests",
			out:    machine.Outcome{Shutdown: "guest-shutdown"},
			ob:     run.Observed{Hello: true, Done: true},
			status: result.InfraError,
			want:   []string{"without running any test"},
		},
		{
			name:   "skips only count as run",
			out:    machine.Outcome{Shutdown: "guest-shutdown"},
			ob:     run.Observed{Hello: true, Done: true, Results: []result.Test{{Name: "vdso", Status: "skip", Reason: "no vDSO"}}},
			status: result.Pass,
		},
		{
			name:   "pass",
			out:    machine.Outcome{Shutdown: "guest-shutdown", Exit: machine.Exited(0)},
			ob:     run.Observed{Hello: true, Done: true, Results: []result.Test{pass("a"), pass("b")}, ConsoleTail: tail},
			status: result.Pass,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := tc.ob
			ob.BootTimeout, ob.RunTimeout = bootTO, runTO
			out := tc.out
			status, cause := run.Decide(&out, ob)
			if status != tc.status {
				t.Errorf("status = %s, want %s (cause %q)", status, tc.status, cause)
			}
			if len(tc.want) == 0 && cause != "" {
				t.Errorf("cause = %q, want none", cause)
			}
			for _, w := range tc.want {
				if !strings.Contains(cause, w) {
					t.Errorf("cause %q lacks %q", cause, w)
				}
			}
			if strings.Contains(cause, "\n") {
				t.Errorf("cause is not one line: %q", cause)
			}
		})
	}
}
