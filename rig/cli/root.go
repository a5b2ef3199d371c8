// Package cli is the rig command line, callable in-process (cmd/rig is a
// thin main around Execute): an ffcli tree, one file per command, flag
// groups in flags.go. A command parses, calls the package that does the
// work, prints and picks the exit code.
package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/result"
)

// Exit codes (docs/design.md, "Verdicts and exit codes").
const (
	ExitPass        = 0
	ExitFail        = 1
	ExitUsage       = 2
	ExitInfra       = 3
	ExitInterrupted = 130
)

// env is what every command writes to, and the command line it was given
// (recorded in run.json).
type env struct {
	stdout, stderr io.Writer
	args           []string
	// flagOut holds what a leaf's flag set prints (an error, the usage)
	// until it is known whether that was -h (stdout) or not (stderr).
	flagOut bytes.Buffer
}

// flagFailure ends a command whose flags did not parse: -h (or -help)
// prints the usage to stdout and exits 0, as `rig -h` does; anything else
// prints the error and the usage to stderr and exits code.
func (e *env) flagFailure(err error, code int) int {
	w := e.stderr
	if errors.Is(err, flag.ErrHelp) {
		w, code = e.stdout, ExitPass
	}
	w.Write(e.flagOut.Bytes())
	e.flagOut.Reset()
	return code
}

// command records the command line as run.json keeps it: "rig" and the
// arguments as given.
func (e *env) command() []string { return append([]string{"rig"}, e.args...) }

// exitCode carries a command's exit code through ffcli's error return.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

// leaf is a command that does something: its flags, parsed into the
// closures of run, and run itself, which gets the arguments after the
// flags and returns the exit code.
type leaf struct {
	name     string
	synopsis string // after "usage: rig <name> "
	short    string // one line in the parent's usage
	flags    func(fs *flag.FlagSet)
	run      func(ctx context.Context, args []string) int
}

// command builds the ffcli command of a leaf; path is its parents' names
// ("report" for "rig report diff").
func (l leaf) command(e *env, path string) *ffcli.Command {
	full := strings.TrimSpace(path + " " + l.name)
	fs := flag.NewFlagSet("rig "+full, flag.ContinueOnError)
	fs.SetOutput(&e.flagOut)
	if l.flags != nil {
		l.flags(fs)
	}
	return &ffcli.Command{
		Name:       l.name,
		ShortUsage: strings.TrimSpace("rig " + full + " " + l.synopsis),
		ShortHelp:  l.short,
		FlagSet:    fs,
		UsageFunc:  leafUsage,
		Exec: func(ctx context.Context, args []string) error {
			if err := checkSet(fs); err != nil {
				fmt.Fprintf(e.stderr, "rig %s: %s\n", full, result.CleanLines(err.Error(), 300))
				return exitCode(usageExitOf(l.name))
			}
			return exitCode(l.run(ctx, args))
		},
	}
}

// leafUsage is a command's -h: its synopsis and flag.PrintDefaults.
func leafUsage(c *ffcli.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n", c.ShortUsage)
	if !hasFlags(c.FlagSet) {
		return strings.TrimSuffix(b.String(), "\n")
	}
	b.WriteString("\nflags:\n")
	out := c.FlagSet.Output()
	c.FlagSet.SetOutput(&b)
	c.FlagSet.PrintDefaults()
	c.FlagSet.SetOutput(out)
	return strings.TrimSuffix(b.String(), "\n")
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// group is a command made of subcommands (rig, rig report, rig cache):
// it takes no flags; without a subcommand it runs bare.
type group struct {
	name  string
	short string
	usage func(subs []*ffcli.Command) string
	subs  []*ffcli.Command
	// bare runs the group without a subcommand; nil: print the usage and
	// exit 2.
	bare func(ctx context.Context) int
}

func (g group) command(e *env) *ffcli.Command {
	fs := flag.NewFlagSet(g.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Execute reports a group's bad input
	text := g.usage(g.subs)
	return &ffcli.Command{
		Name:        g.name,
		ShortHelp:   g.short,
		FlagSet:     fs,
		Subcommands: g.subs,
		UsageFunc:   func(*ffcli.Command) string { return text },
		Exec: func(ctx context.Context, args []string) error {
			switch {
			case len(args) == 0 && g.bare != nil:
				return exitCode(g.bare(ctx))
			case len(args) == 0:
				fmt.Fprint(e.stderr, text)
				return exitCode(ExitUsage)
			case args[0] == "help":
				fmt.Fprint(e.stdout, text)
				return exitCode(ExitPass)
			}
			return exitCode(unknownCommand(e, g.display(), args[0], text))
		},
	}
}

// display is the group as the user types it: "rig", "rig report".
func (g group) display() string {
	if g.name == "rig" {
		return g.name
	}
	return "rig " + g.name
}

func unknownCommand(e *env, name, arg, usage string) int {
	fmt.Fprintf(e.stderr, "%s: unknown command %q\n\n%s", name, arg, usage)
	return ExitUsage
}

// newRoot is the command tree, writing to e.
func newRoot(e *env) *ffcli.Command {
	return group{
		name:  "rig",
		usage: rootUsage,
		subs: []*ffcli.Command{
			setupCommand(e), runCommand(e), rerunCommand(e), bootCommand(e), matrixCommand(e),
			bisectCommand(e), bisectStepCommand(e), reportCommand(e),
			testsCommand(e), benchCommand(e), cacheCommand(e),
		},
	}.command(e)
}

// rootUsage is rig's usage: the commands, each with its one line.
func rootUsage(subs []*ffcli.Command) string {
	var b strings.Builder
	b.WriteString("rig: test Linux kernel patch series against futex races under QEMU\n\n" +
		"usage: rig <command> [flags]\n\ncommands:\n")
	for _, c := range subs {
		fmt.Fprintf(&b, "  %s%s%s\n", c.Name, strings.Repeat(" ", max(2, 9-len(c.Name))), c.ShortHelp)
	}
	b.WriteString("\nRun 'rig <command> -h' for its flags. Exit codes: 0 pass, 1 fail, 2 usage, 3 infrastructure, 130 interrupted.\n")
	return b.String()
}

// Execute runs the command line args (without the program name) and returns
// the exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, args: args}
	root := newRoot(e)
	if code, ok := exactNames(e, root, args); !ok {
		return code
	}
	if err := root.Parse(args); err != nil {
		return parseError(e, failed(root), err)
	}
	err := root.Run(ctx)
	stderr.Write(e.flagOut.Bytes()) // a usage a command printed on bad arguments
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "rig: %v\n", err) // not reached: every Exec returns an exitCode
	return ExitInfra
}

// exactNames refuses a command name in the wrong case before ffcli, which
// ignores case, would take it: `rig RUN` is an unknown command.
func exactNames(e *env, root *ffcli.Command, args []string) (int, bool) {
	c, name := root, "rig"
	for _, a := range args {
		var next *ffcli.Command
		for _, s := range c.Subcommands {
			if strings.EqualFold(a, s.Name) {
				next = s
			}
		}
		if next == nil {
			return 0, true
		}
		if next.Name != a {
			return unknownCommand(e, name, a, c.UsageFunc(c)), false
		}
		c, name = next, name+" "+next.Name
	}
	return 0, true
}

// failed is the command whose flags did not parse: the deepest one that
// began parsing (its parents parsed, its subcommands never started).
func failed(c *ffcli.Command) *ffcli.Command {
	for _, s := range c.Subcommands {
		if s.FlagSet != nil && s.FlagSet.Parsed() {
			return failed(s)
		}
	}
	return c
}

// parseError maps bad flags to the exit code. A leaf has printed the
// error and its usage to flagOut (flag does that); a group takes no flags,
// so what it got is an unknown command. -h is a request for the usage
// everywhere: stdout, exit 0.
func parseError(e *env, c *ffcli.Command, err error) int {
	if len(c.Subcommands) == 0 {
		return e.flagFailure(err, usageExit(c))
	}
	text := c.UsageFunc(c)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, text)
		return ExitPass
	}
	name, bad := "rig", e.args[0]
	if c.Name != "rig" {
		name, bad = "rig "+c.Name, e.args[1]
	}
	return unknownCommand(e, name, bad, text)
}

// usageExit is a leaf's exit code for bad flags: 2, except for
// bisect-step, whose caller is `git bisect run`.
func usageExit(c *ffcli.Command) int { return usageExitOf(c.Name) }

func usageExitOf(name string) int {
	if name == "bisect-step" {
		return StepUsage
	}
	return ExitUsage
}

// sayf prints a message that holds untrusted text (patch subjects, run
// fields, errors quoting them) with each line cleaned for a terminal.
func sayf(w io.Writer, format string, a ...any) {
	fmt.Fprint(w, result.CleanLines(fmt.Sprintf(format, a...), 2000))
}

// noArgs refuses stray arguments of a command whose every input is a flag.
func noArgs(e *env, name string, args []string) bool {
	if len(args) > 0 {
		fmt.Fprintf(e.stderr, "unexpected argument %q (every input is a flag; see rig %s -h)\n", args[0], name)
		return false
	}
	return true
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`rig matrix PLAN --shard 1/4` and `rig matrix
// --shard 1/4 PLAN` are the same) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if err := checkSet(fs); err != nil {
			fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), result.CleanLines(err.Error(), 300))
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Main is what cmd/rig calls: signals cancel the context (a second one,
// or a command slow to stop, ends the process), and the exit code is
// returned: ExitInterrupted whenever a signal cancelled the command, even
// if it went on to finish.
func Main() int {
	ctx, stop := signalContext()
	defer stop()
	code := Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if interrupted(ctx) {
		return ExitInterrupted
	}
	return code
}
