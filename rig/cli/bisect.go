package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/bisect"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
	"github.com/rig-kernel/rig/rig/setup"
)

// bisectFlags are run's flags for one arch plus the bisection's own.
type bisectFlags struct {
	o                     run.Options
	tests, configs, badIf listFlag
	repeat, calibrate     int
}

// The tree flags of a bisection: the series is what is bisected; a step
// judges the checkout `git bisect` walks and nothing else.
var (
	bisectTree = treeHelp{
		kernelSrc: "kernel tree or git checkout, its working tree as it is (default: the kernel tree you are in, else Debian's linux-source-6.12; \"debian\": Debian's always)",
		series:    "the patch series to bisect: a directory of *.patch, an mbox, or a quilt series file",
	}
	stepTree = treeHelp{
		kernelSrc: "the git checkout being bisected (default: the one the step runs in; no other tree is accepted)",
		series:    "patch series applied on top of the commit under test (default: none)",
	}
)

func (f *bisectFlags) register(fs *flag.FlagSet, step bool) {
	registerTarget(fs, &f.o)
	registerTests(fs, &f.tests, &f.o.Duration)
	registerGuest(fs, &f.o)
	registerMachine(fs, &f.o)
	registerResults(fs, &f.o)
	tree := bisectTree
	if step {
		tree = stepTree
	}
	registerTree(fs, &f.o, &f.configs, tree)
	fs.Var(&f.badIf, "bad-if", "what counts as bad (repeatable, any matches): test=NAME, oops=TEXT (title or kind contains TEXT, e.g. oops=WARNING), timeout; default: any failing test or kernel report")
	if step {
		fs.IntVar(&f.repeat, "repeat", 1, "runs of the commit: bad if any run is bad, good only if all are good")
	} else {
		fs.IntVar(&f.repeat, "repeat", 0, "runs per step: bad if any run shows the failure, good only if all pass (default: chosen from the full series' hit rate, see --calibrate)")
		fs.IntVar(&f.calibrate, "calibrate", bisect.DefaultCalibrate, "without --repeat: runs of the full series that measure the hit rate p; then each step runs N times, the least N with (1-p)^N < 0.05 (at most 20)")
	}
}

// options turns the flags into run options and the decision rule.
func (f *bisectFlags) options(e *env) (run.Options, bisect.Rule, error) {
	o := f.o
	o.Tests, o.Configs = f.tests.vals, f.configs.vals
	o.Command = e.command()
	o.UI = ui.New(e.stderr)
	rule, err := bisect.ParseRule(f.badIf.vals, run.TestNames())
	if err != nil {
		return o, rule, &run.UsageError{Err: err}
	}
	if f.repeat < 0 || f.repeat > 1000 {
		return o, rule, &run.UsageError{Err: fmt.Errorf("--repeat %d: want 1..1000", f.repeat)}
	}
	if err := run.Prepare(&o); err != nil {
		return o, rule, err
	}
	return o, rule, nil
}

// bisectCommand is `rig bisect`: the first patch of a series that goes bad.
func bisectCommand(e *env) *ffcli.Command {
	var f bisectFlags
	return leaf{
		name:     "bisect",
		synopsis: "--series DIR [--tests a,b] [--bad-if test=NAME|oops=TEXT] [--repeat N] ...",
		short:    "--series DIR [--tests X] [--bad-if test=X|oops=TEXT] [--repeat N]: the first patch that goes bad",
		flags:    func(fs *flag.FlagSet) { f.register(fs, false) },
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "bisect", args) {
				return ExitUsage
			}
			return runBisect(ctx, e, &f)
		},
	}.command(e, "")
}

func runBisect(ctx context.Context, e *env, f *bisectFlags) int {
	stdout, stderr := e.stdout, e.stderr
	if f.o.Series == "" {
		fmt.Fprintln(stderr, "rig bisect: --series is required (the series to bisect)")
		return ExitUsage
	}
	o, rule, err := f.options(e)
	if err != nil {
		return bisectErr(err, stderr, false)
	}
	dir, log, closeLog, err := bisect.OpenDir(o.Results, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rig bisect: %v\n", err)
		return ExitInfra
	}
	defer closeLog()
	env, err := bisect.NewRunner(o, dir)
	if err != nil {
		return bisectErr(err, stderr, false)
	}
	fmt.Fprintf(log, "rig bisect: %s, series %s (%d patches), arch %s; results in %s\n", strings.Join(o.Command, " "), o.Series, len(env.Patches()), o.Arch, dir)
	res, err := bisect.Bisect(ctx, env, bisect.Config{Patches: env.Patches(), Repeat: f.repeat, Calibrate: f.calibrate, Rule: rule, Log: log})
	if serr := bisect.Save(dir, res); serr != nil {
		fmt.Fprintf(stderr, "rig bisect: saving bisect.json: %v\n", serr)
	}
	printBisect(stdout, res, dir)
	if err != nil {
		return bisectErr(err, stderr, false)
	}
	if res.Outcome == bisect.Found {
		return ExitPass
	}
	return ExitFail
}

// printBisect is the one-screen summary of a bisection.
func printBisect(w io.Writer, r *bisect.Result, dir string) {
	sayf(w, "bisect: %s\n", r.Summary)
	if r.Outcome == bisect.Found {
		sayf(w, "culprit: %s\nsubject: %s\nfailure: %s\nevidence: %s\n", r.Patch.Name, r.Patch.Subject, r.Title, r.Evidence)
		if r.EvidenceIn != "" {
			sayf(w, "evidence run: %s\n", r.EvidenceIn)
		}
	}
	sayf(w, "bad means: %s; runs per step: %d (%s)\n", r.Rule, r.Repeat, r.RepeatWhy)
	for _, s := range r.Steps {
		sayf(w, "  %d/%d patches: %s\n", s.K, len(r.Patches), s.Why)
	}
	sayf(w, "elapsed: %s\nresults: %s\n", r.Elapsed.Round(time.Second), dir)
}

// bisectErr reports an error and maps it to an exit code; step selects
// the >= 128 codes of bisect-step.
func bisectErr(err error, stderr io.Writer, step bool) int {
	var ue *run.UsageError
	var me *setup.MissingError
	var ae *bisect.AbortError
	name := "bisect"
	if step {
		name = "bisect-step"
	}
	code := func(normal, forStep int) int {
		if step {
			return forStep
		}
		return normal
	}
	switch {
	case errors.As(err, &ue):
		sayf(stderr, "rig %s: %v\n", name, result.Clean(err.Error(), 2000))
		return code(ExitUsage, StepUsage)
	case errors.As(err, &me):
		sayf(stderr, "rig %s: %v\n", name, err)
		return code(ExitInfra, StepInfra)
	case errors.As(err, &ae) && ae.Status == result.Interrupted, errors.Is(err, context.Canceled):
		sayf(stderr, "rig %s: interrupted: %v\n", name, err)
		return code(ExitInterrupted, StepInterrupted)
	}
	if step {
		sayf(stderr, "rig bisect-step: the rig could not judge this commit, aborting the bisection (exit %d): %v\n", StepInfra, err)
		return StepInfra
	}
	sayf(stderr, "rig bisect: %v\n", err)
	return ExitInfra
}
