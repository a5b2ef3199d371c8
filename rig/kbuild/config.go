package kbuild

import (
	"context"
	"os"
	"path/filepath"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/kconfig"
)

// Files in the build dir that record how its .config was made.
const (
	configKeyFile = ".rig-config-key"      // the fragments' key the .config was generated from
	touchedFile   = ".rig-kconfig-touched" // the last build's series touched Kconfig files
)

// Configure makes the slot's .config from frags (whose content key is
// configKey) with m. It generates the config once per key and refreshes it
// (olddefconfig) only when the series touches Kconfig files, or the last
// one did: otherwise the .config is current, and refreshing it would slow
// every warm run for nothing. missing are the requested options the
// .config lacks; cached is true when the .config was kept as it was.
func (s Slot) Configure(ctx context.Context, m kconfig.Make, frags []kconfig.Fragment, configKey string, touched bool) (missing []kconfig.Missing, cached bool, note string, err error) {
	stampPath := filepath.Join(s.Build, configKeyFile)
	dirtyPath := filepath.Join(s.Build, touchedFile)
	if s.ConfiguredFor(configKey) {
		if _, wasTouched := os.Stat(dirtyPath); !touched && wasTouched != nil {
			final, err := os.ReadFile(filepath.Join(s.Build, ".config"))
			if err != nil {
				return nil, false, "", err
			}
			return kconfig.Check(final, kconfig.Requested(frags)), true, "", nil
		}
		if missing, err = kconfig.Refresh(ctx, m, frags); err != nil {
			return nil, false, "", err
		}
		if touched {
			err = os.WriteFile(dirtyPath, nil, 0o644)
		} else {
			err = os.Remove(dirtyPath)
		}
		return missing, false, "olddefconfig: the series touches Kconfig", err
	}
	if missing, err = kconfig.Generate(ctx, m, frags); err != nil {
		return nil, false, "", err
	}
	if touched {
		if err := os.WriteFile(dirtyPath, nil, 0o644); err != nil {
			return nil, false, "", err
		}
	}
	return missing, false, "", os.WriteFile(stampPath, []byte(configKey), 0o644)
}

// ConfigKey identifies a config: the fragments' content, in order (not
// their names: a renamed fragment is the same config; nor their "# rig:"
// directives, which are about the machine, not the kernel). It keys build
// slots and kernel cache entries.
func ConfigKey(frags []kconfig.Fragment) string {
	parts := make([]string, len(frags))
	for i, f := range frags {
		parts[i] = string(kconfig.ConfigData(f.Data))
	}
	return cache.Key(parts...)
}

// ConfiguredFor reports whether the slot's .config was made from the
// config configKey.
func (s Slot) ConfiguredFor(configKey string) bool {
	stamp, _ := os.ReadFile(filepath.Join(s.Build, configKeyFile))
	return string(stamp) == configKey
}
