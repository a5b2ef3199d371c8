// Package config reads the guest's options from the kernel command line
// (rig.tests, rig.seed, rig.duration, rig.events, rig.watchdog,
// rig.min-kills, rig.probe, rig.shell), so one image serves every run
// (docs/protocol.md).
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultEvents   = "/dev/ttyS1"
	DefaultDuration = 10 * time.Second
)

// Config is one run's options.
type Config struct {
	Tests    []string      // nil: every test (none in shell mode)
	TestsSet bool          // rig.tests was given (possibly empty)
	Seed     int64         // valid when SeedSet
	SeedSet  bool          //
	Duration time.Duration // per natural test
	MinKills int           // natural kill tests: kills wanted (bounded by Duration); 0: the test's default
	Events   string        // event port path, "-" for stdout
	Watchdog time.Duration // 0: derive with DefaultWatchdog
	Probe    bool          // hello + done, then power off
	Shell    bool          // exec /bin/gosh on the console after the tests
}

// Default returns the options when nothing is given.
func Default() Config {
	return Config{Duration: DefaultDuration, Events: DefaultEvents}
}

// WatchdogFor is the effective watchdog for ntests tests: the explicit one,
// or duration*ntests + 60s.
func (c Config) WatchdogFor(ntests int) time.Duration {
	if c.Watchdog > 0 {
		return c.Watchdog
	}
	return c.Duration*time.Duration(ntests) + 60*time.Second
}

// Parse reads the rig.* keys of a kernel command line. Unknown rig.* keys
// and malformed values are errors naming the key; other words are ignored.
func Parse(cmdline string) (Config, error) {
	c := Default()
	for _, word := range strings.Fields(cmdline) {
		if !strings.HasPrefix(word, "rig.") {
			continue
		}
		key, val, hasVal := strings.Cut(word, "=")
		if err := c.set(key, val, hasVal); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *Config) set(key, val string, hasVal bool) error {
	switch key {
	case "rig.tests":
		c.TestsSet = true
		c.Tests = nil
		for _, t := range strings.Split(val, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.Tests = append(c.Tests, t)
			}
		}
	case "rig.seed":
		n, err := strconv.ParseInt(val, 0, 64)
		if err != nil {
			return fmt.Errorf("%s=%q: not an integer", key, val)
		}
		c.Seed, c.SeedSet = n, true
	case "rig.duration", "rig.watchdog":
		d, err := time.ParseDuration(val)
		if err != nil {
			// A bare number means seconds.
			n, err2 := strconv.ParseUint(val, 10, 32)
			if err2 != nil {
				return fmt.Errorf("%s=%q: not a duration (like 10s or 2m)", key, val)
			}
			d = time.Duration(n) * time.Second
		}
		if d <= 0 {
			return fmt.Errorf("%s=%q: must be positive", key, val)
		}
		if key == "rig.duration" {
			c.Duration = d
		} else {
			c.Watchdog = d
		}
	case "rig.min-kills":
		n, err := strconv.ParseUint(val, 10, 31)
		if err != nil {
			return fmt.Errorf("%s=%q: not a non-negative integer", key, val)
		}
		c.MinKills = int(n)
	case "rig.events":
		if val == "" {
			return fmt.Errorf("%s: empty path", key)
		}
		c.Events = val
	case "rig.probe", "rig.shell":
		b := true
		if hasVal {
			var err error
			if b, err = parseBool(val); err != nil {
				return fmt.Errorf("%s=%q: %v", key, val, err)
			}
		}
		if key == "rig.probe" {
			c.Probe = b
		} else {
			c.Shell = b
		}
	default:
		return fmt.Errorf("unknown option %s (known: rig.tests, rig.seed, rig.duration, rig.events, rig.watchdog, rig.min-kills, rig.probe, rig.shell)", key)
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "y", "yes", "true", "on":
		return true, nil
	case "0", "n", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean (use 0 or 1)")
}
