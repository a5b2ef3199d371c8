package cli

import (
	"context"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/run"
)

// testsCommand is `rig tests`: the guest's tests, one a line.
func testsCommand(e *env) *ffcli.Command {
	return leaf{
		name:  "tests",
		short: "list the guest's tests",
		run: func(ctx context.Context, args []string) int {
			for _, n := range run.TestNames() {
				fmt.Fprintln(e.stdout, n)
			}
			return ExitPass
		},
	}.command(e, "")
}
