package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/result"
)

// Base results: a run with a series judges the tree without it too, and
// that tree rarely changes between runs. What its kernel did under one
// test configuration (kernel, guest image, tests, duration, machine) is
// kept in the cache, so the base is not rebooted on every run. A
// statistical test's counts are summed over every boot of the base, and
// the base is booted again until each such test has minBaseKills kills
// behind it (or a corruption, which decides it): its rate gets more
// precise, then stays.

// minBaseKills is how many kills a statistical test's base rate rests on
// before the base's results are reused instead of booting it again.
const minBaseKills = 100

// baseEntry is a kept base result.
type baseEntry struct {
	Boots   int           `json:"boots"`
	Accel   string        `json:"accel,omitempty"` // the accelerator really used
	Updated time.Time     `json:"updated"`
	Status  result.Status `json:"status"`
	Cause   string        `json:"cause,omitempty"`
	Tests   []result.Test `json:"tests,omitempty"`
	Oopses  []result.Oops `json:"oopses,omitempty"`
	// Machine is the last boot's machine: a cell that reuses the entry
	// writes its reproduce.sh from it (with its own kernel and image).
	Machine *machine.Config `json:"machine,omitempty"`
}

// basePath is the cache entry of the cell's base results under the test
// configuration it runs, for the kernel and image prepare made.
func (c *cell) basePath(initrd string) (string, error) {
	img, err := cache.HashFile(initrd)
	if err != nil {
		return "", err
	}
	key := cache.Key("base-v1", c.res.BuildID, img, c.arch.Name, c.spec.Accel, strings.Join(orAll(c.spec.Tests), ","),
		c.spec.Duration.String(), strconv.Itoa(c.opts.MinKills), strconv.Itoa(c.opts.CPUs), strconv.Itoa(c.memoryMB()),
		"append="+strings.TrimSpace(c.opts.Append), "qemu="+strings.Join(c.opts.QEMUArgs, "\x00"),
		// The machine the results came from: a new CPU model or machine
		// type in the arch table boots the base again.
		"machine="+c.arch.Machine, "cpu="+c.arch.TCGCPU+","+c.arch.KVMCPU)
	return cache.Baselines.Path(c.opts.Cache, c.arch.Name, key), nil
}

// loadBase reads a kept base result; nil when there is none.
func loadBase(path string) (*baseEntry, error) {
	b, err := safefile.ReadFile(path, 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e baseEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &e, nil
}

// settled reports whether e can stand for a boot of the base: it decided
// (passed or failed), and every statistical test has a corruption or
// enough kills.
func (e *baseEntry) settled() bool {
	if e.Status != result.Pass && e.Status != result.Fail {
		return false
	}
	if e.Machine == nil {
		return false // kept before entries recorded it: one boot more gives its cells a reproduce.sh
	}
	for _, t := range e.Tests {
		// A corruption decides the test (the guest stops at the first);
		// a pass needs its kills.
		if k, h, ok := counts(t); ok && h == 0 && k < minBaseKills {
			return false
		}
	}
	return true
}

// bootBase boots a baseline cell unless it need not: when none of its
// patched twins got to a boot (the base would judge nothing: not-run), or
// when its results under this test configuration are kept. A boot is
// added to the kept results.
func (c *cell) bootBase(ctx context.Context, kern, initrd string) {
	if len(c.twins) > 0 && !slices.ContainsFunc(c.twins, func(p *cell) bool { return p.bootable }) {
		_ = c.stage("boot", func() (bool, string, error) { return false, "not booted: the series did not get to boot", nil })
		c.fail(result.NotRun, "not booted: the series did not get to boot")
		return
	}
	path, err := c.basePath(initrd)
	if err != nil {
		c.ui.Notice("base results: %v: booting the base without keeping them", err)
		c.boot(ctx, kern, initrd)
		return
	}
	if !c.opts.FreshBase && c.reuseBase(path, kern, initrd) {
		return
	}
	c.boot(ctx, kern, initrd)
	if ctx.Err() != nil {
		return
	}
	if err := c.keepBase(ctx, path); err != nil {
		c.ui.Notice("keeping the base's results: %v", err)
	}
}

// reuseBase fills a baseline cell from its kept results instead of
// booting it, with the reproduce.sh of the results' last boot on kern
// and initrd (and them kept, when the base did not pass). It reports
// false (boot it) when there are none, or not enough yet.
func (c *cell) reuseBase(path, kern, initrd string) bool {
	e, err := loadBase(path)
	if err != nil {
		c.ui.Notice("base results: %v: booting the base again", err)
		return false
	}
	if e == nil || !e.settled() {
		return false
	}
	_ = c.stage("boot", func() (bool, string, error) {
		return true, fmt.Sprintf("base results of %d boots (%s)", e.Boots, filepath.Base(path)), nil
	})
	c.res.Tests, c.res.Oopses, c.res.Accel = e.Tests, e.Oopses, e.Accel
	c.fail(e.Status, e.Cause)
	cfg := *e.Machine                        // settled: it has one
	cfg.Kernel, cfg.Initramfs = kern, initrd // the same content: the entry's key
	c.writeReproducer(cfg)
	c.keep(kern, initrd)
	return true
}

// keepBase adds the baseline cell's boot to its kept results: the
// statistical tests' counts are summed, everything else is this boot's.
func (c *cell) keepBase(ctx context.Context, path string) error {
	if c.res.Status != result.Pass && c.res.Status != result.Fail {
		return nil // nothing decided, nothing to keep
	}
	lock, err := cache.Acquire(ctx, path+".lock", nil)
	if err != nil {
		return err
	}
	defer lock.Release()
	old, err := loadBase(path)
	if err != nil {
		old = nil // a damaged entry is replaced
	}
	e := baseEntry{Boots: 1, Updated: time.Now(), Accel: c.res.Accel, Status: c.res.Status, Cause: c.res.Cause,
		Tests: append([]result.Test(nil), c.res.Tests...), Oopses: c.res.Oopses, Machine: c.booted}
	if old != nil {
		e.Boots += old.Boots
		sumCounts(e.Tests, old.Tests)
	}
	for _, t := range e.Tests {
		if e.Status == result.Pass && failing(t.Status) {
			e.Status, e.Cause = result.Fail, fmt.Sprintf("test %s failed: %s", t.Name, t.Reason)
		}
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// sumCounts adds the earlier boots' kills and corruptions to each
// statistical test of tests (copying its evidence), and judges the sum:
// any corruption in any boot fails the base's test.
func sumCounts(tests, earlier []result.Test) {
	prev := map[string]result.Test{}
	for _, t := range earlier {
		prev[t.Name] = t
	}
	for i := range tests {
		t := &tests[i]
		k, h, ok1 := counts(*t)
		pk, ph, ok2 := counts(prev[t.Name])
		if !ok1 || !ok2 {
			continue
		}
		ev := make(map[string]string, len(t.Evidence))
		for key, v := range t.Evidence {
			ev[key] = v
		}
		ev[evKills], ev[evCorruptions] = strconv.FormatInt(k+pk, 10), strconv.FormatInt(h+ph, 10)
		t.Evidence = ev
		if h+ph > 0 && t.Status == "pass" {
			t.Status, t.Reason = "fail", fmt.Sprintf("%d of %d kills corrupted over the base's boots", h+ph, k+pk)
		}
	}
}
