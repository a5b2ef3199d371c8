package report

import (
	"fmt"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// Geometry of a cell's stage timeline (an inline SVG Gantt chart: one row
// and one bar per stage, on a shared time axis from the first stage's start).
const (
	tlWidth  = 720 // whole drawing
	tlLabel  = 84  // left column with the stage names
	tlBars   = 480 // the time axis
	tlRow    = 20  // row pitch
	tlBar    = 14  // bar height
	tlAxis   = 22  // room for the axis below the rows
	tlMinBar = 2   // a zero-length (cached) stage stays visible

	// Bounds for a run.json from elsewhere: the pipeline has about ten
	// stages, and the axis never has more than tlMaxTicks ticks whatever
	// the durations and start times say.
	tlMaxStages = 64
	tlMaxTicks  = 8
)

type timeline struct {
	Width, Height int
	AxisY         int
	AxisX1        int
	AxisX2        int
	Bars          []bar
	Ticks         []tick
	Total         string
}

type bar struct {
	Name, Label, Title, Class string
	X, Y, W, H                float64
	NameX, TextX, TextY       float64
}

type tick struct {
	X     float64
	Label string
}

// stageClass colours the stages the pipeline knows; others get a neutral
// colour (the class never carries untrusted text).
var stageClass = map[string]string{
	"source": "sg-source", "apply": "sg-apply", "config": "sg-config", "build": "sg-build",
	"pack": "sg-pack", "boot": "sg-boot", "tests": "sg-tests", "poweroff": "sg-poweroff",
}

func buildTimeline(stages []result.Stage) *timeline {
	if len(stages) == 0 {
		return nil
	}
	stages = saneStages(stages)
	// Stages without a start time follow the previous one.
	starts := make([]time.Time, len(stages))
	var t0, end, cursor time.Time
	for i, s := range stages {
		st := s.Start
		if st.IsZero() {
			st = cursor
		}
		starts[i] = st
		if !st.IsZero() && (t0.IsZero() || st.Before(t0)) {
			t0 = st
		}
		if e := st.Add(s.Elapsed); e.After(end) {
			end = e
		}
		if e := st.Add(s.Elapsed); e.After(cursor) {
			cursor = e
		}
	}
	if t0.IsZero() { // no times at all: lay the stages end to end
		var off time.Duration
		t0 = time.Unix(0, 0)
		for i, s := range stages {
			starts[i] = t0.Add(off)
			off += s.Elapsed
		}
		end = t0.Add(off)
	}
	total := end.Sub(t0)
	if total <= 0 {
		total = time.Millisecond
	}
	scale := float64(tlBars) / float64(total)
	tl := &timeline{
		Width:  tlWidth,
		Height: len(stages)*tlRow + tlAxis,
		AxisY:  len(stages) * tlRow,
		AxisX1: tlLabel,
		AxisX2: tlLabel + tlBars,
		Total:  dur(total),
	}
	for i, s := range stages {
		x := float64(tlLabel) + float64(starts[i].Sub(t0))*scale
		w := min(float64(s.Elapsed)*scale, tlBars)
		if w < tlMinBar {
			w = tlMinBar
		}
		x = max(min(x, tlLabel+tlBars-w), tlLabel)
		y := float64(i*tlRow) + (tlRow-tlBar)/2
		name := result.Clean(s.Name, 20)
		label := dur(s.Elapsed)
		if s.Cached {
			label += " (cached)"
		}
		class := "bar " + stageClass[s.Name]
		if stageClass[s.Name] == "" {
			class = "bar sg-other"
		}
		if s.Cached {
			class += " cached"
		}
		title := name + ": " + label
		if s.Note != "" {
			title += " - " + result.Clean(s.Note, maxLine)
		}
		if !s.Start.IsZero() {
			title += fmt.Sprintf(" (from +%s)", dur(s.Start.Sub(t0)))
		}
		tl.Bars = append(tl.Bars, bar{
			Name: name, Label: label, Title: title, Class: class,
			X: round1(x), Y: y, W: round1(w), H: tlBar,
			NameX: tlLabel - 6, TextX: round1(x + w + 5), TextY: y + tlBar - 3,
		})
	}
	step := tickStep(total)
	// Counted, not summed: t += step would overflow near the largest
	// Duration and never pass total.
	for i := time.Duration(0); i <= total/step && i < tlMaxTicks; i++ {
		t := i * step
		label := dur(t)
		if t == 0 {
			label = "0"
		}
		tl.Ticks = append(tl.Ticks, tick{X: round1(float64(tlLabel) + float64(t)*scale), Label: label})
	}
	return tl
}

// saneStages bounds what a hand-made or hostile run.json can ask of the
// drawing: at most tlMaxStages stages, no negative durations, and no start
// time outside the years 1970-9999 (such a stage follows the previous
// one, as a stage without a start time does).
func saneStages(stages []result.Stage) []result.Stage {
	if len(stages) > tlMaxStages {
		stages = stages[:tlMaxStages]
	}
	out := make([]result.Stage, len(stages))
	for i, s := range stages {
		if s.Elapsed < 0 {
			s.Elapsed = 0
		}
		if y := s.Start.Year(); !s.Start.IsZero() && (y < 1970 || y > 9999) {
			s.Start = time.Time{}
		}
		out[i] = s
	}
	return out
}

// tickStep picks a round axis step giving at most about six ticks.
func tickStep(total time.Duration) time.Duration {
	for _, s := range []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
	} {
		if total/s <= 6 {
			return s
		}
	}
	return max(total/6, time.Millisecond)
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }
