// Package bench measures the rig against this machine's limits side by
// side in one run (boot against raw QEMU, rebuild against plain make,
// image builds, a whole warm run), as medians of interleaved repetitions
// reported as ratios and JSON.
package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/internal/lines"
)

// Sample is a series of timings of one thing.
type Sample struct {
	Name   string          `json:"name"`
	Runs   []time.Duration `json:"runs_ns"`
	Errors []string        `json:"errors,omitempty"`
}

// Median is the median run (0 when there is none).
func (s Sample) Median() time.Duration {
	if len(s.Runs) == 0 {
		return 0
	}
	r := append([]time.Duration(nil), s.Runs...)
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// Min is the fastest run (0 when there is none): on a loaded host the
// least disturbed one.
func (s Sample) Min() time.Duration {
	var m time.Duration
	for _, r := range s.Runs {
		if m == 0 || r < m {
			m = r
		}
	}
	return m
}

// Pair is the rig against its limit.
type Pair struct {
	What  string `json:"what"` // "boot x86_64", "build x86_64", ...
	Rig   Sample `json:"rig"`
	Limit Sample `json:"limit"`
	// Ratio is the median of Ratios, one per interleaved repetition in
	// which both sides worked (spread.go); Spread their interquartile
	// range, or min to max with fewer than 5 (SpreadKind says which).
	Ratio      float64    `json:"ratio"`
	Ratios     []float64  `json:"ratios,omitempty"`
	Spread     [2]float64 `json:"spread"`
	SpreadKind string     `json:"spread_kind,omitempty"`
	Goal       float64    `json:"goal,omitempty"`
	// Verdict is GoalMet, GoalMissed or GoalUndecided; Noisy, a spread
	// wider than the goal's margin over 1 (Note then says so).
	Verdict string `json:"verdict,omitempty"`
	Noisy   bool   `json:"noisy,omitempty"`
	Note    string `json:"note,omitempty"`
}

// StageShare is one stage of a whole run.
type StageShare struct {
	Name    string        `json:"name"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Share   float64       `json:"share"` // of the wall time
	Cached  bool          `json:"cached,omitempty"`
}

// Whole is one warm `rig run`.
type Whole struct {
	Arch    string        `json:"arch"`
	Series  string        `json:"series"`
	Tests   []string      `json:"tests"`
	Status  string        `json:"status"`
	Wall    time.Duration `json:"wall_ns"`
	Stages  []StageShare  `json:"stages"`
	Error   string        `json:"error,omitempty"`
	Command string        `json:"command"`
}

// Report is everything one `rig bench` measured.
type Report struct {
	Start   time.Time `json:"start"`
	Host    string    `json:"host"`
	Pairs   []Pair    `json:"pairs"`
	Singles []Sample  `json:"singles,omitempty"` // pack cold/cached, cold build, ...
	Whole   []Whole   `json:"whole,omitempty"`
	// Verdicts are the broken kernels of patches/, timed to their verdict.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Nightly is a matrix plan's warm run against its cells' minimal work.
	Nightly *Nightly `json:"nightly,omitempty"`
	// Reliability counts clean rig boots (first event and power-off) per arch.
	Reliability map[string][2]int `json:"reliability,omitempty"` // arch -> {passed, tried}
	Commands    map[string]string `json:"commands,omitempty"`    // what was run, for replay
}

// BootPair boots img n times the rig's way and n times the raw way,
// interleaved so load changes hit both alike. Each round also boots
// today's raw command (today.go) when the arch has one, so the second
// pair is the rig against the boot goal's reference.
func BootPair(ctx context.Context, img Image, n int, progress func(string)) []Pair {
	p := Pair{What: "boot " + img.Arch, Rig: Sample{Name: "rig: machine.Boot to first event"},
		Limit: Sample{Name: "raw qemu to first byte on the events port"}, Goal: 1.10}
	today, hasToday := TodayVariant(img.Arch)
	t := Pair{What: "boot " + img.Arch + " vs today", Rig: p.Rig, Goal: TodayGoal[img.Arch],
		Limit: Sample{Name: "today's raw command (rig/bench/today.go) to first byte on the events port"}}
	todayImg := img.withToday()
	if img.Today == "" && hasToday {
		var err error
		if a, lerr := arch.Lookup(img.Arch); lerr == nil && ownTodayKernel(a) {
			// The image's kernel may have every option today's fragments
			// ask for and still not be today's kernel (its image and added
			// options differ): only BuildToday's counts.
			err = fmt.Errorf("today's %s kernel is one of its own and was not built: %s", img.Arch, orDash(img.TodayErr))
		} else {
			err = TodayKernel(img.Arch, img.Kernel)
		}
		if err != nil {
			t.Limit.Errors = append(t.Limit.Errors, err.Error())
			hasToday = false
		}
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		var old RawTimes
		var oldErr error
		if hasToday {
			old, oldErr = RawBoot(ctx, todayImg, today, "")
		}
		raw, rawErr := RawBoot(ctx, img, Variant{}, "")
		first := raw.First
		d, err := RigBoot(ctx, img)
		p.rep(d, err, first, rawErr)
		if hasToday {
			t.rep(d, err, old.First, oldErr)
		}
		if progress != nil {
			progress(fmt.Sprintf("boot %s %d/%d: today's raw %s, raw %s, rig %s", img.Arch, i+1, n, ms(old.First), ms(first), ms(d)))
		}
	}
	p.finish()
	if _, ok := TodayVariant(img.Arch); !ok {
		return []Pair{p}
	}
	t.finish() // with no today's boots: its error says why
	return []Pair{p, t}
}

func record(s *Sample, d time.Duration, err error) {
	if err != nil {
		s.Errors = append(s.Errors, err.Error())
		return
	}
	s.Runs = append(s.Runs, d)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/1e6) }

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	if len(r.Pairs) > 0 {
		fmt.Fprintf(w, "%-21s %8s %8s %7s %-11s %6s %-16s  %8s %8s  %s\n", "what", "rig", "limit", "ratio", "spread", "goal", "verdict", "rig min", "lim min", "n / errors")
		for _, p := range r.Pairs {
			goal := ""
			if p.Goal > 0 {
				goal = fmt.Sprintf("<=%.2f", p.Goal)
			}
			errs := fmt.Sprintf("%d+%d / %d+%d", len(p.Rig.Runs), len(p.Limit.Runs), len(p.Rig.Errors), len(p.Limit.Errors))
			spread := "-"
			if p.SpreadKind != "" {
				spread = fmt.Sprintf("%.2f-%.2f", p.Spread[0], p.Spread[1])
			}
			verdict := orDash(p.Verdict)
			if p.Noisy {
				verdict += ", noisy"
			}
			fmt.Fprintf(w, "%-21s %8s %8s %7.2f %-11s %6s %-16s  %8s %8s  %s\n", p.What, secs(p.Rig.Median()), secs(p.Limit.Median()), p.Ratio, spread, goal,
				verdict, secs(p.Rig.Min()), secs(p.Limit.Min()), errs)
			for _, e := range append(p.Rig.Errors, p.Limit.Errors...) {
				fmt.Fprintf(w, "    error: %s\n", lines.First(e))
			}
			if p.Note != "" {
				fmt.Fprintf(w, "    %s\n", p.Note)
			}
		}
	}
	for _, s := range r.Singles {
		fmt.Fprintf(w, "%-40s %8s  (min %s, n=%d)\n", s.Name, secs(s.Median()), secs(s.Min()), len(s.Runs))
		for _, e := range s.Errors {
			fmt.Fprintf(w, "    error: %s\n", lines.First(e))
		}
	}
	for _, wh := range r.Whole {
		fmt.Fprintf(w, "whole %s, series %s (%s): %s, %s\n", wh.Arch, wh.Series, wh.Command, secs(wh.Wall), wh.Status)
		if wh.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", lines.First(wh.Error))
		}
		for _, s := range wh.Stages {
			c := ""
			if s.Cached {
				c = " (cached)"
			}
			fmt.Fprintf(w, "    %-10s %8s %5.1f%%%s\n", s.Name, secs(s.Elapsed), 100*s.Share, c)
		}
	}
	if len(r.Verdicts) > 0 {
		fmt.Fprintf(w, "%-20s %-27s %-11s %8s %8s %8s  %s\n", "broken kernel", "kind", "status", "wall", "machine", "detect", "cause")
		for _, v := range r.Verdicts {
			detect := "-" // a report found after the machine ended
			if v.Detect > 0 {
				detect = secs(v.Detect)
			}
			fmt.Fprintf(w, "%-20s %-27s %-11s %8s %8s %8s  %s\n", v.Series, v.Kind, orDash(v.Status), secs(v.Wall), secs(v.Machine), detect, lines.First(v.Cause))
			if v.Error != "" {
				fmt.Fprintf(w, "    error: %s\n", lines.First(v.Error))
			}
		}
	}
	if r.Nightly != nil {
		r.Nightly.print(w)
	}
	for a, c := range r.Reliability {
		fmt.Fprintf(w, "reliability %s: %d/%d clean boots\n", a, c[0], c[1])
	}
}
