package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/report"
)

// reportHTMLCommand is `rig report html DIR`.
func reportHTMLCommand(e *env) *ffcli.Command {
	var fs *flag.FlagSet
	return leaf{
		name:     "html",
		synopsis: "DIR",
		short:    "(re)write DIR/report.html from DIR/run.json",
		flags:    func(f *flag.FlagSet) { fs = f },
		run: func(_ context.Context, args []string) int {
			if !reportArgs(e, fs, "html", args, "DIR") {
				return ExitUsage
			}
			r, ok := reportLoad(e, "html", "DIR", args[0])
			if !ok {
				return ExitUsage
			}
			if err := report.WriteHTML(args[0], r); err != nil {
				sayf(e.stderr, "rig report html: %v\n", err)
				return ExitInfra
			}
			fmt.Fprintf(e.stdout, "%s/%s\n", args[0], report.HTMLFile)
			return ExitPass
		},
	}.command(e, "report")
}
