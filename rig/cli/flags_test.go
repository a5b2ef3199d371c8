package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// commandsWithFlags are the commands (and subcommands) that parse flags,
// as a user reaches them.
var commandsWithFlags = [][]string{
	{"setup"}, {"run"}, {"boot"}, {"matrix"}, {"bench"}, {"bisect"}, {"bisect-step"},
	{"cache", "prune"}, {"report", "diff"}, {"report", "kcidb"},
}

// flagLine is "  -name type" in flag.PrintDefaults output; the help text
// follows on the next line, indented by a tab.
var flagLine = regexp.MustCompile(`^  -([\w-]+)`)

// helpOf returns each flag of a command with its help text, from `-h`.
func helpOf(t *testing.T, cmd []string) map[string]string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	Execute(context.Background(), append(append([]string{}, cmd...), "-h"), &stdout, &stderr)
	out := stdout.String() + stderr.String()
	flags := map[string]string{}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		m := flagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		help := ""
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
			help = strings.TrimSpace(lines[i+1])
		}
		flags[m[1]] = help
	}
	if len(flags) == 0 {
		t.Errorf("rig %s -h lists no flags:\n%s", strings.Join(cmd, " "), out)
	}
	return flags
}

// TestFlagsDocumented walks every command: each flag has help, every
// command is in the top-level usage, and a flag that several commands
// share says the same thing everywhere (the run flags are registered by
// one function for that reason).
func TestFlagsDocumented(t *testing.T) {
	seen := map[string]map[string][]string{} // flag -> help -> commands
	for _, cmd := range commandsWithFlags {
		name := strings.Join(cmd, " ")
		if !strings.Contains(usage, "\n  "+cmd[0]+" ") {
			t.Errorf("command %q is not in rig's usage", cmd[0])
		}
		for f, help := range helpOf(t, cmd) {
			if help == "" {
				t.Errorf("rig %s: flag -%s has no help", name, f)
			}
			// The default is part of the help line; compare without it.
			help = regexp.MustCompile(` \(default [^)]*\)$`).ReplaceAllString(help, "")
			if seen[f] == nil {
				seen[f] = map[string][]string{}
			}
			seen[f][help] = append(seen[f][help], name)
		}
	}
	for f, helps := range seen {
		if len(helps) > 1 && !sharedOnPurpose[f] {
			t.Errorf("flag -%s says different things in different commands: %v", f, helps)
		}
	}
}

// sharedOnPurpose names the flags whose meaning differs by command: a
// list of arches to run or the one arch to boot; make's -j or the
// matrix's cells in parallel; the series to test, to bisect, to bench or
// to name in KCIDB; the tree to use or the checkout being bisected; runs
// per bisect step or per commit.
var sharedOnPurpose = map[string]bool{"arch": true, "accel": true, "n": true, "json": true, "results": true, "tests": true,
	"j": true, "series": true, "kernel-src": true, "repeat": true}
