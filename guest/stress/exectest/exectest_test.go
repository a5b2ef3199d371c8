package exectest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
)

// script writes an executable shell script called name into dir.
func script(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTests(t *testing.T) {
	dir := t.TempDir()
	script(t, dir, "b-prog", "exit 0", 0o755)
	script(t, dir, "a-prog", "exit 0", 0o755)
	script(t, dir, "data", "", 0o644)
	script(t, dir, "pi-handover", "exit 0", 0o755)
	script(t, dir, "bad,name", "exit 0", 0o755)
	tests, skipped := Tests(dir, []string{"pi-handover"})
	var names []string
	for _, x := range tests {
		names = append(names, x.Name)
		if !x.Natural || x.Doc == "" {
			t.Errorf("%s: catalog entry %+v", x.Name, x.Test)
		}
	}
	if strings.Join(names, ",") != "a-prog,b-prog" {
		t.Errorf("tests %v, want a-prog,b-prog", names)
	}
	got := strings.Join(skipped, "; ")
	for _, want := range []string{"data: not an executable", "pi-handover: a built-in test", "bad,name: not a valid test name"} {
		if !strings.Contains(got, want) {
			t.Errorf("skipped %q does not say %q", got, want)
		}
	}
	if tests, _ := Tests(filepath.Join(dir, "none"), nil); len(tests) != 0 {
		t.Errorf("a missing directory gave tests %v", tests)
	}
}

// runOne runs a script as the test called name, collecting its output events.
func runOne(t *testing.T, body string, timeout time.Duration) (stress.Outcome, []string) {
	t.Helper()
	p := script(t, t.TempDir(), "prog", body, 0o755)
	var lines []string
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	o := New("prog", p).Run(ctx, stress.Env{Seed: 42, Duration: 1500 * time.Millisecond, Output: func(s string) { lines = append(lines, s) }})
	return o, lines
}

func TestRunVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name, body   string
		status, want string
		exit         string
	}{
		{"pass", `echo "seed $RIG_SEED duration $RIG_DURATION test $RIG_TEST"; echo to stderr >&2`, event.Pass, "exit status 0", "0"},
		{"exit 1", `echo "2 owner deaths not reported"; exit 1`, event.Fail, "exit status 1 after", "1"},
		{"signal", `echo about to crash; kill -SEGV $$`, event.Fail, "killed by signal SIGSEGV (segmentation fault)", "SIGSEGV"},
		{"hang", `echo waiting forever; sleep 30`, event.Error, "test hung: still running at its", "killed at the deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			o, lines := runOne(t, tc.body, 700*time.Millisecond)
			if o.Status != tc.status || !strings.Contains(o.Reason, tc.want) || o.Evidence["exit"] != tc.exit {
				t.Fatalf("%s %q exit %q; want %s %q exit %q", o.Status, o.Reason, o.Evidence["exit"], tc.status, tc.want, tc.exit)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v: the hang was not killed at its deadline", time.Since(start))
			}
			if len(lines) == 0 || o.Evidence["output"] == "" || o.Evidence["output_lines"] == "0" {
				t.Fatalf("output not kept: lines %q evidence %v", lines, o.Evidence)
			}
			if tc.status != event.Pass && !strings.Contains(o.Reason, "output ends: "+lines[len(lines)-1]) {
				t.Errorf("reason %q does not end with the output's last line %q", o.Reason, lines[len(lines)-1])
			}
		})
	}
	o, lines := runOne(t, `echo "seed $RIG_SEED duration $RIG_DURATION test $RIG_TEST"; pwd; echo err >&2`, 5*time.Second)
	if len(lines) != 3 || lines[0] != "seed 42 duration 2 test prog" || !strings.Contains(lines[1], "exec-prog-") || lines[2] != "err" {
		t.Errorf("environment, directory or stderr wrong: %q (%s)", lines, o.Reason)
	}
}

func TestOutputBounds(t *testing.T) {
	o, lines := runOne(t, `head -c 10000 /dev/zero | tr '\0' x; echo; i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done`, 10*time.Second)
	if o.Status != event.Pass {
		t.Fatalf("%s %s", o.Status, o.Reason)
	}
	if len(lines) != 301 || !strings.HasSuffix(lines[0], "[rig: line cut]") || len(lines[0]) > maxLine+20 {
		t.Errorf("%d lines, first %d bytes", len(lines), len(lines[0]))
	}
	if n := strings.Count(o.Evidence["output"], "\n") + 1; n != tailLines || !strings.HasSuffix(o.Evidence["output"], "line 299") {
		t.Errorf("tail has %d lines: %q", n, o.Evidence["output"])
	}
	if o.Evidence["output_lines"] != "301" {
		t.Errorf("output_lines %q", o.Evidence["output_lines"])
	}
}
