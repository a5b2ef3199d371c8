package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--what", "boot,fly"}, `--what "fly"`},
		{[]string{"bench", "--arch", "sparc"}, `unknown arch "sparc"`},
		{[]string{"bench", "--n", "0"}, "at least 1"},
		{[]string{"bench", "stray"}, `unexpected argument "stray"`},
		{[]string{"bench", "--what", "nightly", "--plan", "/nonexistent/plan.yaml"}, "--plan: plan /nonexistent/plan.yaml"},
		{[]string{"bench", "--what", "nightly", "--jobs", "-1"}, "must not be negative"},
	} {
		var out, errb bytes.Buffer
		if code := Execute(context.Background(), tc.args, &out, &errb); code != ExitUsage {
			t.Errorf("rig %v: exit %d, want %d\n%s", tc.args, code, ExitUsage, errb.String())
			continue
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("rig %v: stderr %q does not contain %q", tc.args, errb.String(), tc.want)
		}
	}
}
