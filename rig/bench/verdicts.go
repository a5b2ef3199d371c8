package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/run"
)

// Broken is a broken kernel of patches/: the series, the config that sees
// its bug, the test that catches it, and how its run should end.
type Broken struct {
	Series   string // under patches/
	Config   string // extra fragment ("" for none)
	Tests    []string
	Duration time.Duration
	Kind     string // what ends the run: a wedging report, a sanitizer report, ...
}

// BrokenKernels are the kinds of broken kernel in patches/, one series each.
var BrokenKernels = []Broken{
	{"break-exit-spin", "", []string{"pi-consistency"}, 5 * time.Second, "wedge: RCU stall"},
	{"break-pi-uaf", "kasan", []string{"pi-consistency"}, 5 * time.Second, "sanitizer report: KASAN"},
	{"warn-on-owner-death", "", []string{"robust-owner-death"}, 5 * time.Second, "kernel WARNING"},
	{"break-kill-in-lock", "", []string{"robust-kill-in-lock"}, 5 * time.Second, "hang: waiter never woken"},
	{"break-owner-death", "", []string{"robust-owner-death"}, 5 * time.Second, "a test's check"},
}

// Verdict is how long one broken kernel's x86_64 run took to its verdict.
type Verdict struct {
	Series  string `json:"series"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Cause   string `json:"cause,omitempty"`
	Error   string `json:"error,omitempty"`
	Command string `json:"command"`
	// Wall is the whole run; Machine the boot from QEMU's start to its
	// end (the boot, tests, wedged and poweroff stages); Detect the
	// wedged stage (a wedging report's line to the machine's end) or else
	// the failing test's own time.
	Wall    time.Duration `json:"wall_ns"`
	Machine time.Duration `json:"machine_ns"`
	Detect  time.Duration `json:"detect_ns,omitempty"`
}

// Verdicts runs each broken kernel warm on x86_64 (a kernel not in the
// cache is built first, and Wall says so) and times it to its verdict.
func Verdicts(ctx context.Context, o Options, say func(string)) []Verdict {
	if o.Patches == "" {
		return []Verdict{{Series: "patches/*", Error: "the broken kernels are a rig checkout's patches/: run `rig bench` inside one"}}
	}
	var out []Verdict
	for _, b := range BrokenKernels {
		if ctx.Err() != nil {
			break
		}
		ro := run.Options{Arches: []string{"x86_64"}, Accels: []string{"tcg"}, Tests: b.Tests, Duration: b.Duration,
			Series: filepath.Join(o.Patches, b.Series), Root: o.Root, Cache: o.Cache, Results: cache.BenchResults.Path(o.Cache)}
		if b.Config != "" {
			ro.Configs = []string{b.Config}
		}
		v := Verdict{Series: b.Series, Kind: b.Kind,
			Command: fmt.Sprintf("rig run --arch x86_64 --accel tcg --baseline=false --series patches/%s --tests %s --duration %s", b.Series, strings.Join(b.Tests, ","), b.Duration)}
		if b.Config != "" {
			v.Command += " --config " + b.Config
		}
		t0 := time.Now()
		r, _, err := run.Run(ctx, ro)
		v.Wall = time.Since(t0)
		if err != nil {
			v.Error = err.Error()
		}
		if r != nil && len(r.Cells) > 0 {
			c := r.Cells[0]
			v.Status, v.Cause = string(c.Status), c.Cause
			v.Machine, v.Detect = machineTimes(c)
		}
		say(fmt.Sprintf("verdict %s: %s in %s (machine %s)", b.Series, v.Status, secs(v.Wall), secs(v.Machine)))
		out = append(out, v)
	}
	return out
}

// machineTimes sums a cell's machine stages, and picks what detected its
// failure: the wedged stage, else the first failing test's time.
func machineTimes(c result.Cell) (machine, detect time.Duration) {
	for _, s := range c.Stages {
		switch s.Name {
		case "boot", "tests", "wedged", "poweroff":
			machine += s.Elapsed
		}
		if s.Name == "wedged" {
			detect = s.Elapsed
		}
	}
	if detect == 0 {
		for _, t := range c.Tests {
			if t.Status == "fail" {
				return machine, time.Duration(t.Seconds * float64(time.Second))
			}
		}
	}
	return machine, detect
}
