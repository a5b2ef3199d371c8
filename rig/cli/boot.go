package cli

import (
	"context"
	"flag"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/run"
)

// bootCommand is `rig boot`: a kernel (default: the last built) with the
// guest, or with a shell.
func bootCommand(e *env) *ffcli.Command {
	var (
		o     run.Options
		b     run.BootOptions
		tests listFlag
	)
	return leaf{
		name:     "boot",
		synopsis: "[--kernel IMAGE] [--initramfs CPIO] [--shell] [--tests a,b] ...",
		short:    "boot a kernel (default: the last built) with the guest; --shell for a shell",
		flags: func(fs *flag.FlagSet) {
			registerTarget(fs, &o)
			registerTests(fs, &tests, &o.Duration)
			registerGuest(fs, &o)
			registerMachine(fs, &o)
			registerExtras(fs, &o)
			registerResults(fs, &o)
			fs.StringVar(&b.Kernel, "kernel", "", "kernel image (default: the last one `rig run` built for --arch)")
			fs.StringVar(&b.Initramfs, "initramfs", "", "initramfs (default: the guest image, built if needed)")
			fs.BoolVar(&b.Shell, "shell", false, "drop into u-root's shell on the console instead of running tests")
		},
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "boot", args) {
				return ExitUsage
			}
			o.Tests = tests.vals
			o.Command = e.command()
			o.UI = ui.New(e.stderr)
			r, dir, err := run.Boot(ctx, o, b)
			return finish(r, dir, err, e.stdout, e.stderr)
		},
	}.command(e, "")
}
