package cli

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/report"
)

// reportDiffCommand is `rig report diff OLD NEW`: exit 1 if NEW regressed.
func reportDiffCommand(e *env) *ffcli.Command {
	var (
		fs     *flag.FlagSet
		asJSON bool
	)
	return leaf{
		name:     "diff",
		synopsis: "[--json] OLD NEW",
		short:    "compare two run directories; exit 1 if NEW regressed or a regression could hide",
		flags: func(f *flag.FlagSet) {
			fs = f
			fs.BoolVar(&asJSON, "json", false, "print the differences as JSON instead of text")
		},
		run: func(_ context.Context, args []string) int {
			if !reportArgs(e, fs, "diff", args, "OLD", "NEW") {
				return ExitUsage
			}
			old, ok := reportLoad(e, "diff", "OLD", args[0])
			if !ok {
				return ExitUsage
			}
			cur, ok := reportLoad(e, "diff", "NEW", args[1])
			if !ok {
				return ExitUsage
			}
			d := report.Diff(old, cur)
			if err := writeDiff(e, d, asJSON); err != nil {
				sayf(e.stderr, "rig report diff: %v\n", err)
				return ExitInfra
			}
			if d.Failed() {
				return ExitFail
			}
			return ExitPass
		},
	}.command(e, "report")
}

// writeDiff prints the differences as text or as JSON with the verdict.
func writeDiff(e *env, d report.DiffResult, asJSON bool) error {
	if !asJSON {
		return report.WriteDiff(e.stdout, d)
	}
	b, err := json.MarshalIndent(struct {
		report.DiffResult
		Regressed bool `json:"regressed"`
		Failed    bool `json:"failed"`
	}{d, d.Regressed(), d.Failed()}, "", "  ")
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(b, '\n'))
	return err
}
