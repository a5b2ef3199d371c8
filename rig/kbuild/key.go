package kbuild

import "github.com/rig-kernel/rig/rig/cache"

func slotKey(gitDir, archName, configKey string) string {
	return archName + "-" + cache.Key("slot", gitDir, archName, configKey)[:16]
}
