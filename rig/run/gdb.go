package run

import (
	"fmt"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/symbolize"
)

// gdbCommand is the gdb command line that debugs a machine whose stub is
// on localhost:port with the symbols of vmlinux.
func gdbCommand(vmlinux string, port int) string {
	return fmt.Sprintf("gdb-multiarch -q %s -ex 'target remote localhost:%d'", quote(vmlinux), port)
}

// gdbStub gives the boot a gdb stub on a free local port and tells the
// user how to attach: the machine waits, paused, for gdb to continue it.
func (c *cell) gdbStub(cfg *machine.Config) error {
	port, err := machine.FreePort()
	if err != nil {
		return err
	}
	cfg.GDBPort = port
	if c.vmlinux == "" {
		c.ui.Notice("no vmlinux is kept for %s: gdb will have no symbols", c.res.KernelImage)
	} else if !symbolize.ConfigHasDebugInfo(c.kernelConfig()) {
		c.ui.Notice("%s has no debug info: gdb will have symbols but no source lines (leave --kernel out to build one with the %s fragment)", c.vmlinux, DebugInfoFragment)
	}
	vmlinux := c.vmlinux
	if vmlinux == "" {
		vmlinux = "vmlinux"
	}
	c.ui.Printf("gdb: QEMU waits, paused, for gdb on localhost:%d; in another terminal:", port)
	c.ui.Printf("gdb: %s", gdbCommand(vmlinux, port))
	c.ui.Printf("gdb: `continue` boots the guest; its console goes to %s; Ctrl-C here stops the machine", filepath.Join(c.dir, "console.log"))
	return nil
}
