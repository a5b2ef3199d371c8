package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// reportKCIDBCommand is `rig report kcidb DIR`: DIR/kcidb.json.
func reportKCIDBCommand(e *env) *ffcli.Command {
	var (
		fs     *flag.FlagSet
		o      report.KCIDBOptions
		series string
	)
	return leaf{
		name:     "kcidb",
		synopsis: "[--origin rig] [--base-url URL] [--series PATH] [--git-commit SHA] ... DIR",
		short:    "write DIR/kcidb.json in KernelCI's KCIDB v4 schema",
		flags: func(f *flag.FlagSet) {
			fs = f
			fs.StringVar(&o.Origin, "origin", "rig", "CI system name prefixing every id ([a-z0-9_]+)")
			fs.StringVar(&o.BaseURL, "base-url", "", "URL the run directory is published at (default: no log URLs: KCIDB takes absolute ones only)")
			fs.StringVar(&series, "series", "", "the series as applied, for patchset_hash (default: the sha256 of each patch the run recorded)")
			fs.StringVar(&o.TreeName, "tree-name", "", "tree name, e.g. mainline, net-next")
			fs.StringVar(&o.GitRepositoryURL, "git-url", "", "https:// or git:// URL of the base tree")
			fs.StringVar(&o.GitRepositoryBranch, "git-branch", "", "branch of the base tree")
			fs.StringVar(&o.GitCommitHash, "git-commit", "", "full commit hash of the base tree (40 hex digits)")
			fs.StringVar(&o.GitCommitName, "git-describe", "", "the 'git describe' name of the base commit")
		},
		run: func(_ context.Context, args []string) int {
			if !reportArgs(e, fs, "kcidb", args, "DIR") {
				return ExitUsage
			}
			if err := o.Check(); err != nil {
				return reportBadArgs(e, fs, "kcidb", err)
			}
			r, ok := reportLoad(e, "kcidb", "DIR", args[0])
			if !ok {
				return ExitUsage
			}
			switch {
			case series != "":
				ps, err := patch.ReadSeries(series)
				if err != nil {
					fmt.Fprintf(e.stderr, "rig report kcidb: --series %s: %v\n", series, err)
					return ExitUsage
				}
				o.Patches = report.PatchFiles(ps)
			case r.Series != "" && !recordsPatchSums(r):
				// A run from before the rig recorded each patch's sha256:
				// the series on disk is the only source, if unchanged.
				ps, err := patch.ReadSeries(r.Series)
				if err != nil {
					fmt.Fprintf(e.stderr, "rig report kcidb: patchset_hash left out: the run's series %s: %v (pass --series)\n", result.Clean(r.Series, 300), result.Clean(err.Error(), 300))
				}
				o.Patches = report.PatchFiles(ps)
			}
			if err := report.WriteKCIDB(args[0], r, o); err != nil {
				sayf(e.stderr, "rig report kcidb: %v\n", err)
				return ExitInfra
			}
			fmt.Fprintf(e.stdout, "%s/%s\n", args[0], report.KCIDBFile)
			return ExitPass
		},
	}.command(e, "report")
}

// recordsPatchSums reports whether every cell with patches recorded their
// sha256 (result.Patch.SHA256), so patchset_hash needs no file.
func recordsPatchSums(r *result.Run) bool {
	for _, c := range r.Cells {
		for _, p := range c.Patches {
			if p.SHA256 == "" {
				return false
			}
		}
	}
	return true
}
