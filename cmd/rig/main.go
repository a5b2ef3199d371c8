// Command rig tests Linux kernel patch series against futex races: it
// applies a series, builds the kernel, packs the stress guest into an
// initramfs, boots it under QEMU and reports a verdict. See README.md.
package main

import (
	"os"

	"github.com/rig-kernel/rig/rig/cli"
)

func main() { os.Exit(cli.Main()) }
