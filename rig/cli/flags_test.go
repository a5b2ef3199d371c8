package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// sharedOnPurpose names the flags whose meaning differs by command: a
// list of arches to run or the one arch to boot; make's -j or the
// matrix's cells in parallel; the series to test, to bisect, to bench or
// to name in KCIDB; the tree to use or the checkout being bisected; runs
// per bisect step or per commit; bench's tests and the guest's;
// bench's JSON file or report diff's JSON output.
var sharedOnPurpose = map[string]bool{"arch": true, "accel": true, "j": true, "series": true,
	"kernel-src": true, "repeat": true, "tests": true, "json": true}

// flagUse is one flag of one command.
type flagUse struct{ cmd, help string }

// buildTree builds a command tree, turning flag's panic on a flag
// registered twice in one command into an error.
func buildTree(build func() *ffcli.Command) (root *ffcli.Command, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the commands: %v", r)
		}
	}()
	return build(), nil
}

// checkFlags walks every command under root and returns what is wrong:
// a command without a one-line help, a subcommand name used twice, a flag
// without help, or a flag whose help differs between commands (unless
// allowed).
func checkFlags(root *ffcli.Command, allowed map[string]bool) []string {
	var bad []string
	uses := map[string][]flagUse{}
	var walk func(c *ffcli.Command, path string)
	walk = func(c *ffcli.Command, path string) {
		if path != "rig" && c.ShortHelp == "" {
			bad = append(bad, fmt.Sprintf("%s: no one-line help", path))
		}
		if c.FlagSet != nil {
			c.FlagSet.VisitAll(func(f *flag.Flag) {
				if strings.TrimSpace(f.Usage) == "" {
					bad = append(bad, fmt.Sprintf("%s: flag -%s has no help", path, f.Name))
				}
				uses[f.Name] = append(uses[f.Name], flagUse{path, f.Usage})
			})
		}
		names := map[string]bool{}
		for _, s := range c.Subcommands {
			if names[s.Name] {
				bad = append(bad, fmt.Sprintf("%s: subcommand %q defined twice", path, s.Name))
			}
			names[s.Name] = true
			walk(s, path+" "+s.Name)
		}
	}
	walk(root, "rig")
	for name, us := range uses {
		if allowed[name] {
			continue
		}
		for _, u := range us[1:] {
			if u.help != us[0].help {
				bad = append(bad, fmt.Sprintf("flag -%s says %q in %s but %q in %s", name, us[0].help, us[0].cmd, u.help, u.cmd))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// testEnv writes nowhere.
func testEnv() *env { return &env{stdout: io.Discard, stderr: io.Discard} }

// TestFlagsDocumented walks every command, report's and cache's
// subcommands included: each command has a line of help, each flag has
// help and is registered once, and a flag that several commands take says
// the same thing everywhere (the flag groups in flags.go are there for
// that).
func TestFlagsDocumented(t *testing.T) {
	root, err := buildTree(func() *ffcli.Command { return newRoot(testEnv()) })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkFlags(root, sharedOnPurpose) {
		t.Error(p)
	}
	usage := rootUsage(root.Subcommands)
	n := 0
	for _, c := range root.Subcommands {
		if !strings.Contains(usage, "\n  "+c.Name+" ") {
			t.Errorf("command %q is not in rig's usage:\n%s", c.Name, usage)
		}
		n++
	}
	if n < 10 {
		t.Errorf("the walk found %d commands; the tree lost some", n)
	}
}

// The check must be able to fail: a command with a flag without help, a
// flag registered twice, a subcommand defined twice and a flag that
// drifts from its group's help are each caught.
func TestCheckFlagsCatches(t *testing.T) {
	e := testEnv()
	noop := func(context.Context, []string) int { return 0 }
	withFlags := func(name string, f func(fs *flag.FlagSet)) *ffcli.Command {
		return leaf{name: name, short: "a test command", flags: f, run: noop}.command(e, "")
	}
	root, err := buildTree(func() *ffcli.Command {
		return group{name: "rig", usage: rootUsage, subs: []*ffcli.Command{
			withFlags("quiet", func(fs *flag.FlagSet) { fs.Bool("secret", false, "") }),
			withFlags("drift", func(fs *flag.FlagSet) { fs.Int("cpus", 2, "CPUs, roughly") }),
			withFlags("good", func(fs *flag.FlagSet) { fs.Int("cpus", 2, "vCPUs of each guest") }),
			withFlags("good", nil),
			leaf{name: "terse", run: noop}.command(e, ""),
		}}.command(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkFlags(root, nil), "\n")
	for _, want := range []string{
		"rig quiet: flag -secret has no help",
		`flag -cpus says "CPUs, roughly" in rig drift but "vCPUs of each guest" in rig good`,
		`rig: subcommand "good" defined twice`,
		"rig terse: no one-line help",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("checkFlags missed %q; it said:\n%s", want, got)
		}
	}

	_, err = buildTree(func() *ffcli.Command {
		return withFlags("twice", func(fs *flag.FlagSet) {
			var o struct{ a, b int }
			fs.IntVar(&o.a, "cpus", 2, "vCPUs of each guest")
			fs.IntVar(&o.b, "cpus", 2, "vCPUs of each guest")
		})
	})
	if err == nil || !strings.Contains(err.Error(), "flag redefined: cpus") {
		t.Errorf("a flag registered twice: got %v, want flag redefined", err)
	}
}

// Every command answers -h as rig does: its usage naming its flags on
// stdout, exit 0, nothing run; a flag it does not know is a usage error
// on stderr (bisect-step's code is git's). No flag's help reads oddly: a
// backquoted word becomes the value's name in flag's output ("-kernel rig
// run"), and a help text that states its default gets flag's too.
func TestHelpEveryCommand(t *testing.T) {
	root := newRoot(testEnv())
	var walk func(c *ffcli.Command, path []string)
	walk = func(c *ffcli.Command, path []string) {
		for _, s := range c.Subcommands {
			walk(s, append(append([]string{}, path...), s.Name))
		}
		if len(path) == 0 || len(c.Subcommands) > 0 {
			return
		}
		var stdout, stderr bytes.Buffer
		code := Execute(context.Background(), append(append([]string{}, path...), "-h"), &stdout, &stderr)
		name := strings.Join(path, " ")
		if code != ExitPass || !strings.Contains(stdout.String(), "usage: rig "+name) || stderr.Len() > 0 {
			t.Errorf("rig %s -h: exit %d (want 0), stdout:\n%s\nstderr:\n%s", name, code, stdout.String(), stderr.String())
		}
		c.FlagSet.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(stdout.String(), "  -"+f.Name) {
				t.Errorf("rig %s -h does not list -%s", name, f.Name)
			}
			if vname, _ := flag.UnquoteUsage(f); strings.Contains(vname, " ") {
				t.Errorf("rig %s -h shows -%s %s: a backquoted word in its help", name, f.Name, vname)
			}
			if strings.Contains(f.Usage, "(default") && f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
				t.Errorf("rig %s -%s: help states a default and flag adds (default %s)", name, f.Name, f.DefValue)
			}
		})
		stdout.Reset()
		code = Execute(context.Background(), append(append([]string{}, path...), "--no-such-flag"), &stdout, &stderr)
		want := ExitUsage
		if path[0] == "bisect-step" {
			want = StepUsage
		}
		if code != want || !strings.Contains(stderr.String(), "-no-such-flag") || stdout.Len() > 0 {
			t.Errorf("rig %s --no-such-flag: exit %d (want %d)\n%s", name, code, want, stderr.String())
		}
	}
	walk(root, nil)

	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"report", "-h"}, {"report", "help"}, {"cache", "-h"}, {"cache", "help"}} {
		var stdout, stderr bytes.Buffer
		if code := Execute(context.Background(), args, &stdout, &stderr); code != ExitPass || !strings.Contains(stdout.String(), "usage: rig") {
			t.Errorf("rig %q: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
		}
	}
}
