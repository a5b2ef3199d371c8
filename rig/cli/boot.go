package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/run"
)

// bootTree is the tree rig boot --gdb builds when no --kernel is given.
var bootTree = treeHelp{
	kernelSrc: "with --gdb and no --kernel: the kernel tree to build with debug info (default: the kernel tree you are in, else Debian's linux-source-6.12; \"debian\": Debian's always)",
	series:    "with --gdb and no --kernel: the patch series to build on it, as rig run's --series",
}

// bootCommand is `rig boot`: a kernel (default: the last built) with the
// guest, or with a shell, or under gdb.
func bootCommand(e *env) *ffcli.Command {
	var (
		o              run.Options
		b              run.BootOptions
		tests, configs listFlag
		fs             *flag.FlagSet
	)
	return leaf{
		name:     "boot",
		synopsis: "[--kernel IMAGE] [--initramfs CPIO] [--shell] [--gdb [--kernel-src PATH] [--series S] [--config FRAG]] [--tests a,b] ...",
		short:    "boot a kernel (default: the last built) with the guest; --shell for a shell, --gdb to debug it",
		flags: func(f *flag.FlagSet) {
			fs = f
			registerTarget(fs, &o)
			registerTests(fs, &tests, &o.Duration)
			registerGuest(fs, &o)
			registerMachine(fs, &o)
			registerExtras(fs, &o)
			registerResults(fs, &o)
			registerTree(fs, &o, &configs, bootTree)
			fs.StringVar(&b.Kernel, "kernel", "", "kernel image (default: the last one 'rig run' built for --arch; with --gdb: the tree's, built with debug info)")
			fs.StringVar(&b.Initramfs, "initramfs", "", "initramfs (default: the guest image, built if needed)")
			fs.BoolVar(&b.Shell, "shell", false, "drop into u-root's shell on the console instead of running tests")
			fs.BoolVar(&b.GDB, "gdb", false, "start QEMU paused with a gdb stub on a free local port and print the gdb-multiarch command line with the matching vmlinux (booted with nokaslr; no boot or run timeout); without --kernel, build the tree with the "+run.DebugInfoFragment+" fragment first")
		},
		run: func(ctx context.Context, args []string) int {
			if !noArgs(e, "boot", args) {
				return ExitUsage
			}
			if !b.GDB || b.Kernel != "" {
				// Only rig boot --gdb builds: elsewhere a tree flag would be ignored.
				bad := ""
				fs.Visit(func(f *flag.Flag) {
					switch f.Name {
					case "kernel-src", "series", "committed", "base", "config", "j", "allow-missing-config":
						if bad == "" {
							bad = f.Name
						}
					}
				})
				if bad != "" {
					fmt.Fprintf(e.stderr, "rig boot: --%s builds a kernel, which only rig boot --gdb without --kernel does (rig run builds and boots)\n", bad)
					return ExitUsage
				}
			}
			o.Tests, o.Configs = tests.vals, configs.vals
			o.Command = e.command()
			o.UI = ui.New(e.stderr)
			r, dir, err := run.Boot(ctx, o, b)
			return finish(r, dir, err, e.stdout, e.stderr)
		},
	}.command(e, "")
}
