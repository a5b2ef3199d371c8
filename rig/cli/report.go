package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/rig-kernel/rig/rig/patch"
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

Exit codes: 0 done (diff: no regression), 1 diff: regression, 2 usage or a bad run directory,
3 a report could not be written.
`

// cmdReport is `rig report`: renderings of finished runs.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_ = ctx // every report is quick and local
	if len(args) == 0 {
		fmt.Fprint(stderr, reportUsage)
		return ExitUsage
	}
	switch args[0] {
	case "html":
		return reportHTML(args[1:], stdout, stderr)
	case "diff":
		return reportDiff(args[1:], stdout, stderr)
	case "kcidb":
		return reportKCIDB(args[1:], stdout, stderr)
	case "merge":
		return cmdReportMerge(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, reportUsage)
		return ExitPass
	}
	fmt.Fprintf(stderr, "rig report: unknown command %q\n\n%s", args[0], reportUsage)
	return ExitUsage
}

// reportArgs parses flags and requires exactly the named arguments.
func reportArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() < len(names):
		return nil, fmt.Errorf("missing %s", names[fs.NArg()])
	case fs.NArg() > len(names):
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(len(names)))
	}
	return fs.Args(), nil
}

// reportLoad reads a run directory named on the command line; a directory
// that is not a run, or a damaged run.json, is bad input (exit 2).
func reportLoad(cmd, what, dir string, stderr io.Writer) (*result.Run, bool) {
	r, err := report.LoadRun(dir)
	if err != nil {
		fmt.Fprintf(stderr, "rig report %s: %s %s: %v\n", cmd, what, dir, result.Clean(err.Error(), 2000))
		return nil, false
	}
	return r, true
}

func reportBadArgs(fs *flag.FlagSet, cmd string, err error, stderr io.Writer) int {
	if err != flag.ErrHelp {
		fmt.Fprintf(stderr, "rig report %s: %v\n", cmd, err)
		fs.Usage()
	}
	return ExitUsage
}

func reportHTML(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report html", stderr, "DIR")
	a, err := reportArgs(fs, args, "DIR")
	if err != nil {
		return reportBadArgs(fs, "html", err, stderr)
	}
	r, ok := reportLoad("html", "DIR", a[0], stderr)
	if !ok {
		return ExitUsage
	}
	if err := report.WriteHTML(a[0], r); err != nil {
		fmt.Fprintf(stderr, "rig report html: %v\n", err)
		return ExitInfra
	}
	fmt.Fprintf(stdout, "%s/%s\n", a[0], report.HTMLFile)
	return ExitPass
}

func reportDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report diff", stderr, "[--json] OLD NEW")
	asJSON := fs.Bool("json", false, "print the differences as JSON instead of text")
	a, err := reportArgs(fs, args, "OLD", "NEW")
	if err != nil {
		return reportBadArgs(fs, "diff", err, stderr)
	}
	old, ok := reportLoad("diff", "OLD", a[0], stderr)
	if !ok {
		return ExitUsage
	}
	cur, ok := reportLoad("diff", "NEW", a[1], stderr)
	if !ok {
		return ExitUsage
	}
	d := report.Diff(old, cur)
	if *asJSON {
		b, err := json.MarshalIndent(struct {
			report.DiffResult
			Regressed bool `json:"regressed"`
		}{d, d.Regressed()}, "", "  ")
		if err == nil {
			_, err = stdout.Write(append(b, '\n'))
		}
		if err != nil {
			fmt.Fprintf(stderr, "rig report diff: %v\n", err)
			return ExitInfra
		}
	} else if err := report.WriteDiff(stdout, d); err != nil {
		fmt.Fprintf(stderr, "rig report diff: %v\n", err)
		return ExitInfra
	}
	if d.Regressed() {
		return ExitFail
	}
	return ExitPass
}

func reportKCIDB(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report kcidb", stderr, "[--origin rig] [--base-url URL] [--series PATH] [--git-commit SHA] ... DIR")
	var o report.KCIDBOptions
	fs.StringVar(&o.Origin, "origin", "rig", "CI system name prefixing every id ([a-z0-9_]+)")
	fs.StringVar(&o.BaseURL, "base-url", "", "URL the run directory is published at (default: no log URLs: KCIDB takes absolute ones only)")
	series := fs.String("series", "", "the series as applied, for patchset_hash (default: the run's --series, if still readable)")
	fs.StringVar(&o.TreeName, "tree-name", "", "tree name, e.g. mainline, net-next")
	fs.StringVar(&o.GitRepositoryURL, "git-url", "", "https:// or git:// URL of the base tree")
	fs.StringVar(&o.GitRepositoryBranch, "git-branch", "", "branch of the base tree")
	fs.StringVar(&o.GitCommitHash, "git-commit", "", "full commit hash of the base tree (40 hex digits)")
	fs.StringVar(&o.GitCommitName, "git-describe", "", "`git describe` name of the base commit")
	a, err := reportArgs(fs, args, "DIR")
	if err != nil {
		return reportBadArgs(fs, "kcidb", err, stderr)
	}
	if err := o.Check(); err != nil {
		return reportBadArgs(fs, "kcidb", err, stderr)
	}
	r, ok := reportLoad("kcidb", "DIR", a[0], stderr)
	if !ok {
		return ExitUsage
	}
	switch {
	case *series != "":
		ps, err := patch.ReadSeries(*series)
		if err != nil {
			fmt.Fprintf(stderr, "rig report kcidb: --series %s: %v\n", *series, err)
			return ExitUsage
		}
		o.Patches = report.PatchFiles(ps)
	case r.Series != "":
		ps, err := patch.ReadSeries(r.Series)
		if err != nil {
			fmt.Fprintf(stderr, "rig report kcidb: patchset_hash left out: the run's series %s: %v (pass --series)\n", result.Clean(r.Series, 300), result.Clean(err.Error(), 300))
		}
		o.Patches = report.PatchFiles(ps)
	}
	if err := report.WriteKCIDB(a[0], r, o); err != nil {
		fmt.Fprintf(stderr, "rig report kcidb: %v\n", err)
		return ExitInfra
	}
	fmt.Fprintf(stdout, "%s/%s\n", a[0], report.KCIDBFile)
	return ExitPass
}
