package kbuild

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
)

// The compiler launcher. Kernel compiles go through ccache in depend mode
// (CCacheEnv), and ccache before 4.13 does not look for `.incbin` in depend
// mode: an assembler file that pulls a binary in by name (the compressed
// kernel in arch/x86/boot/compressed/piggy.S, the vDSO in
// arch/arm64/kernel/vdso-wrap.S, the real-mode blob in
// arch/x86/realmode/rmpiggy.S, the initramfs in usr/initramfs_data.S) has
// the same text and the same dependency list whatever the binary holds, so
// ccache serves the object of an earlier build. That is how a kernel built
// from a changed core.c booted as the base tree: vmlinux was right, the
// bzImage's piggy.o was an earlier kernel's whenever both compressed to the
// same sizes (docs/design.md, "Build integrity"). Outside depend mode ccache
// refuses to cache any source whose text contains ".incbin"; the launcher
// applies that same rule in front of ccache and runs the compiler directly
// for such a source.
const launcherScript = `#!/bin/sh
# Written by rig (rig/kbuild/launcher.go); rewritten when it differs.
# ccache for every compile, except a source that contains ".incbin": ccache's
# depend mode (before 4.13) would serve the object of an earlier build.
for a do
	case $a in
	*.c|*.S|*.s)
		if [ -f "$a" ] && grep -qF .incbin "$a"; then
			exec "$@"
		fi
		;;
	esac
done
exec ccache "$@"
`

// Launcher installs the compiler launcher in the rig's cache (once; again
// if its text changed) and returns its path. The path is stable, so the
// kbuild command lines that name it stay the same from run to run.
func Launcher() (string, error) {
	dir, err := cache.Dir()
	if err != nil {
		return "", err
	}
	path := cache.Launcher.Path(dir)
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, []byte(launcherScript)) {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("installing the compiler launcher: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(launcherScript), 0o755); err != nil {
		return "", fmt.Errorf("installing the compiler launcher: %w", err)
	}
	return path, nil
}
