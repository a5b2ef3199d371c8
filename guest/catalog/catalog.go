// Package catalog names the guest's tests and what the host needs of each
// (name, what it checks, natural or not, default timeout). It holds no
// test code (standard library only), so the host links it without the
// guest's syscall code; each package under guest/stress binds an entry.
package catalog

import (
	"slices"
	"time"
)

// Test is one guest test as the host and the guest's runner see it.
type Test struct {
	Name string
	Doc  string
	// Natural tests run for the run's duration; the others finish on
	// their own.
	Natural bool
	// MaxTime overrides the default timeout when nonzero.
	MaxTime time.Duration
}

// Timeout is how long the guest's runner lets t run before it gives up on
// it: MaxTime, or the duration plus a minute for a natural test, or a
// minute.
func (t Test) Timeout(duration time.Duration) time.Duration {
	switch {
	case t.MaxTime > 0:
		return t.MaxTime
	case t.Natural:
		return duration + 60*time.Second
	}
	return 60 * time.Second
}

// tests is the catalog, sorted by name (the order the runner runs them).
var tests = []Test{
	{Name: "kselftest-futex", MaxTime: 5 * time.Minute,
		Doc: "the tree's tools/testing/selftests/futex, run as functional/run.sh runs them; TAP decides"},
	{Name: "pi-consistency", Natural: true,
		Doc: "PI futexes under contention and owner death: the word names the owner, mutual exclusion, WAITERS, bounded waits"},
	{Name: "pi-giveup", Natural: true,
		Doc: "PI waiters that time out (LOCK_PI, LOCK_PI2, requeue-PI) or are killed while the owner unlocks: the unlock, the word and every errno checked"},
	{Name: "pi-handover", MaxTime: 30 * time.Second,
		Doc: "PI handover with waiters seen asleep: the word names each new owner with WAITERS kept, unlocks go through the kernel, a waiter that timed out is left out"},
	{Name: "robust-kill-in-lock", MaxTime: 40 * time.Second,
		Doc: "SIGKILL inside the robust lock sequence (pending set, word taken, not linked): OWNER_DIED set, waiter woken"},
	{Name: "robust-kill-in-unlock", MaxTime: 40 * time.Second,
		Doc: "SIGKILL inside the robust unlock sequence (word released, pending still set): waiter woken, no OWNER_DIED on a word the dead task no longer owns"},
	{Name: "robust-owner-death",
		Doc: "a robust futex owner is SIGKILLed: OWNER_DIED set, waiter woken, other words untouched"},
	{Name: "robust-unmap-remap", Natural: true,
		Doc: "robust unlock window held by userfaultfd (deterministic), then the real unlock in a loop killed at random " +
			"times (natural, for the duration); mutex page remapped to a file, SIGKILL: the file must not change"},
}

// ExecDir is where the image holds the programs `--exec` packs (relative
// to its root): each is a test named after its file (docs/protocol.md).
const ExecDir = "rig/exec"

// Exec is the entry of a program packed with --exec: it may run for the
// run's duration, and is a hang a minute past it.
func Exec(name string) Test {
	return Test{Name: name, Natural: true,
		Doc: "a program packed with --exec: exit status 0 passes, another status or a signal fails"}
}

// ValidExecName reports whether name can be an --exec'd test's name: it
// travels in rig.tests= (comma-separated, on the kernel command line) and
// names a file of the results.
func ValidExecName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '+') {
			return false
		}
	}
	return true
}

// All returns every test, sorted by name.
func All() []Test { return slices.Clone(tests) }

// Lookup returns the test called name.
func Lookup(name string) (Test, bool) {
	i := slices.IndexFunc(tests, func(t Test) bool { return t.Name == name })
	if i < 0 {
		return Test{}, false
	}
	return tests[i], true
}

// Names returns every test's name, sorted.
func Names() []string {
	n := make([]string, len(tests))
	for i, t := range tests {
		n[i] = t.Name
	}
	return n
}
