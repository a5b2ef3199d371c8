package kbuild

import "github.com/rig-kernel/rig/rig/cache"

// slotKey is the key of the slot of a source repository, arch and config
// (the slot's name is <arch>-<key>).
func slotKey(gitDir, archName, configKey string) string {
	return cache.Key("slot", gitDir, archName, configKey)[:16]
}
