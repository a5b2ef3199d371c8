package run

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/initramfs"
)

// DefaultResults is where run directories go without --results: results/
// of the rig checkout the command runs in (the developer's loop, `go run
// ./cmd/rig`), or of RIG_ROOT's; anywhere else (a kernel tree, say, which
// must not be littered) $XDG_STATE_HOME/rig/results, by default
// ~/.local/state/rig/results: kept, unlike the cache, which can be pruned.
func DefaultResults() (string, error) {
	wd, _ := os.Getwd()
	if root := initramfs.Checkout(wd); root != "" {
		return filepath.Join(root, "results"), nil
	}
	if root := os.Getenv("RIG_ROOT"); root != "" {
		return filepath.Join(root, "results"), nil
	}
	state := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(state) { // the XDG spec ignores a relative path
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("results directory: %w (pass --results DIR)", err)
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "rig", "results"), nil
}
