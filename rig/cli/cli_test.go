package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Usage errors are caught before any work, with exit code 2 and a message
// naming the bad input.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: rig"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--frobnicate"}, `unknown command "--frobnicate"`},
		{[]string{"RUN"}, `rig: unknown command "RUN"`}, // names are exact, though ffcli ignores case
		{[]string{"report", "HTML", "dir"}, `rig report: unknown command "HTML"`},
		{[]string{"report", "--bogus"}, `rig report: unknown command "--bogus"`},
		{[]string{"run", "--arch", "sparc"}, `unknown arch "sparc"`},
		{[]string{"run", "--accel", "hvf"}, `--accel "hvf"`},
		{[]string{"run", "--tests", "no-such-test"}, `unknown test "no-such-test"`},
		{[]string{"run", "--duration", "-1s"}, "must not be negative"},
		{[]string{"run", "--min-kills", "-3"}, "must not be negative"},
		{[]string{"run", "--series", "/nonexistent/series"}, "/nonexistent/series"},
		{[]string{"run", "--arch", "arm64", "--accel", "kvm"}, "KVM runs arm64 guests only on a arm64 host"},
		{[]string{"run", "--duration", "soon"}, "invalid value"},
		{[]string{"run", "stray"}, `unexpected argument "stray"`},
		{[]string{"boot", "--kernel", "/nonexistent/bzImage"}, "/nonexistent/bzImage"},
	} {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), tc.args, &out, &errb)
		if code != ExitUsage {
			t.Errorf("rig %v: exit %d, want %d\n%s", tc.args, code, ExitUsage, errb.String())
			continue
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("rig %v: stderr %q does not contain %q", tc.args, errb.String(), tc.want)
		}
	}
}

func TestListFlag(t *testing.T) {
	l := listFlag{vals: []string{"x86_64", "arm64"}}
	l.Set("arm64")
	l.Set("x86_64, ,riscv64")
	if got := l.String(); got != "arm64,x86_64,riscv64" {
		t.Errorf("got %q: the default must be replaced by the first Set, later ones append", got)
	}
	// A value that names nothing, or one already given, would silently
	// mean the default or make two cells with one id.
	for _, v := range []string{"", ",", " , ", "arm64", "s390x,s390x"} {
		if err := l.Set(v); err == nil {
			t.Errorf("Set(%q) accepted: %q", v, l.String())
		}
	}
}

func TestTestsCommandListsGuestTests(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"tests"}, &out, &errb); code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"robust-owner-death", "robust-unmap-remap", "robust-kill-in-lock", "robust-kill-in-unlock"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("rig tests does not list %s:\n%s", want, out.String())
		}
	}
}
