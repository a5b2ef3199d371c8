package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/bisect"
	"github.com/rig-kernel/rig/rig/run"
)

// Exit codes of `rig bisect-step`, for `git bisect run`: 0 good, 1 bad,
// 125 skip (the commit does not apply, build or boot). Anything the rig
// itself could not decide exits >= 128, which makes git abort the
// bisection instead of marking the commit.
const (
	StepGood        = 0
	StepBad         = 1
	StepSkip        = 125
	StepWrongTree   = 128 // the step would judge a tree other than the one being bisected
	StepUsage       = 129 // bad flags (git's own usage exit code)
	StepInterrupted = 130
	StepInfra       = 131
)

// bisectStepCommand is `rig bisect-step`, for `git bisect run rig
// bisect-step --tests X` run inside the kernel checkout being bisected: its
// HEAD (plus --series if given) judged good (0), bad (1) or skip (125). A
// step that would judge any other tree aborts the bisection
// (StepWrongTree).
func bisectStepCommand(e *env) *ffcli.Command {
	var f bisectFlags
	return leaf{
		name:     "bisect-step",
		synopsis: "[--tests a,b] [--bad-if test=NAME|oops=TEXT] [--repeat N] ...  (run by `git bisect run` inside the kernel checkout)",
		short:    "[run flags]: one \"git bisect run\" step (exit 0 good, 1 bad, 125 skip, >=128 abort)",
		flags:    func(fs *flag.FlagSet) { f.register(fs, true) },
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "bisect-step", args) {
				return StepUsage
			}
			return runBisectStep(ctx, e, &f)
		},
	}.command(e, "")
}

func runBisectStep(ctx context.Context, e *env, f *bisectFlags) int {
	stdout, stderr := e.stdout, e.stderr
	o, rule, err := f.options(e)
	if err != nil {
		return bisectErr(err, stderr, true)
	}
	cwd, err := os.Getwd()
	if err != nil {
		sayf(stderr, "rig bisect-step: %v; aborting the bisection (exit %d)\n", err, StepInfra)
		return StepInfra
	}
	tree, err := bisect.ResolveStepTree(ctx, cwd, o.KernelSrc)
	if err != nil {
		var wt *bisect.WrongTreeError
		if errors.As(err, &wt) {
			sayf(stderr, "rig bisect-step: %v; aborting the bisection (exit %d)\n", err, StepWrongTree)
			return StepWrongTree
		}
		return bisectErr(err, stderr, true)
	}
	o.KernelSrc = tree.Path
	// git bisect judges commits: the step tests HEAD, never uncommitted
	// files, and a series goes on top of it whatever base it states.
	o.Committed, o.Input = true, &run.Input{}
	if !tree.Bisecting {
		fmt.Fprintf(stderr, "rig bisect-step: note: no git bisection is in progress in %s; judging its HEAD anyway\n", tree.Path)
	}
	what := fmt.Sprintf("commit %.12s (\"%s\") of %s", tree.Commit, tree.Subject, tree.Path)
	sayf(stderr, "rig bisect-step: testing %s\n", what)
	dir, log, closeLog, err := bisect.OpenDir(o.Results, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rig bisect-step: %v (aborting the bisection)\n", err)
		return StepInfra
	}
	defer closeLog()
	env, err := bisect.NewRunner(o, dir)
	if err != nil {
		return bisectErr(err, stderr, true)
	}
	if o.Series != "" {
		what += " with " + o.Series
	}
	st, err := bisect.Judge(ctx, env, len(env.Patches()), f.repeat, what, bisect.Config{Patches: env.Patches(), Rule: rule, Log: log})
	if serr := bisect.Save(dir, &bisect.Result{Rule: rule.String(), Repeat: f.repeat, Patches: env.Patches(), Steps: []bisect.Step{st}, Summary: st.Why}); serr != nil {
		fmt.Fprintf(stderr, "rig bisect-step: saving bisect.json: %v\n", serr)
	}
	if err != nil {
		return bisectErr(err, stderr, true)
	}
	sayf(stdout, "bisect-step: %s is %s\nresults: %s\n", what, st.Why, dir)
	switch st.Verdict {
	case bisect.Good:
		return StepGood
	case bisect.Bad:
		return StepBad
	}
	return StepSkip
}
