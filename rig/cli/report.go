package cli

import (
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

const reportUsage = `usage: rig report <command> [flags] ARGS

commands:
  html DIR          (re)write DIR/report.html from DIR/run.json (self-contained; links the cells' logs)
  diff OLD NEW      compare two run directories: new failures, fixes, cell status flips, tests that
                    appeared or disappeared (cells matched by id). Exit 1 if NEW regressed (a test went
                    from pass to fail/error, or a cell from pass to fail, patch-, build- or boot-error or
                    timeout), else 0
  kcidb DIR         write DIR/kcidb.json in KernelCI's KCIDB v4 schema (see 'rig report kcidb -h')
  merge OUT DIR...  join the run directories of matrix shards into one run in OUT
  history RUN...    per (cell, test) across nights: first failing, last passing, streak, flips and
                    flaky rows; writes OUT/history.json and OUT/history.html (-o OUT, default .;
                    --flaky N/M, default 3/10). RUN: a run directory or a directory of them; each run
                    is a night, so give merged nights (rig report merge), not their shards

Exit codes: 0 done (diff: no regression), 1 diff: regression, 2 usage or a bad run directory,
3 a report could not be written.
`

// reportCommand is `rig report`: renderings of finished runs, each quick
// and local.
func reportCommand(e *env) *ffcli.Command {
	return group{
		name:  "report",
		short: "html DIR | diff OLD NEW | kcidb DIR | merge OUT DIR... | history RUN...: reports from run directories",
		usage: func([]*ffcli.Command) string { return reportUsage },
		subs: []*ffcli.Command{
			reportHTMLCommand(e), reportDiffCommand(e), reportKCIDBCommand(e), reportMergeCommand(e),
			reportHistoryCommand(e),
		},
	}.command(e)
}

// reportArgs requires exactly the named arguments after the flags; else
// it prints what is wrong and the usage.
func reportArgs(e *env, fs *flag.FlagSet, cmd string, args []string, names ...string) bool {
	var err error
	switch {
	case len(args) < len(names):
		err = fmt.Errorf("missing %s", names[len(args)])
	case len(args) > len(names):
		err = fmt.Errorf("unexpected argument %q", args[len(names)])
	}
	if err != nil {
		reportBadArgs(e, fs, cmd, err)
		return false
	}
	return true
}

func reportBadArgs(e *env, fs *flag.FlagSet, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "rig report %s: %s\n", cmd, result.CleanLines(err.Error(), 2000))
	fs.Usage()
	return ExitUsage
}

// reportLoad reads a run directory named on the command line; a directory
// that is not a run, or a damaged run.json, is bad input (exit 2).
func reportLoad(e *env, cmd, what, dir string) (*result.Run, bool) {
	r, err := report.LoadRun(dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "rig report %s: %s %s: %v\n", cmd, what, dir, result.Clean(err.Error(), 2000))
		return nil, false
	}
	return r, true
}
