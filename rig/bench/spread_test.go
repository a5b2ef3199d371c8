package bench

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestPairSpread: a pair's ratio is the median of its repetitions' ratios,
// with their spread, and a spread wider than the goal's margin is said in
// the verdict, the note and the printed table.
func TestPairSpread(t *testing.T) {
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name       string
		rig, limit []float64 // per repetition, in ms; 0 is a failed run
		goal       float64
		ratio      float64
		spread     [2]float64
		kind       string
		verdict    string
		noisy      bool
	}{
		{"quiet, met", []float64{1000, 1010, 1020}, []float64{1000, 1000, 1000}, 1.10, 1.01, [2]float64{1.00, 1.02}, "min-max", GoalMet, false},
		{"quiet, missed", []float64{1300, 1250, 1280}, []float64{1000, 1000, 1000}, 1.10, 1.28, [2]float64{1.25, 1.30}, "min-max", GoalMissed, false},
		{"straddles", []float64{1050, 1120, 1090}, []float64{1000, 1000, 1000}, 1.10, 1.09, [2]float64{1.05, 1.12}, "min-max", GoalUndecided, false},
		// Five or more: the interquartile range, so one outlier does not
		// make the pair noisy; a wide middle does.
		{"outlier", []float64{1000, 1010, 1020, 1030, 3000}, []float64{1000, 1000, 1000, 1000, 1000}, 1.10, 1.02, [2]float64{1.01, 1.03}, "iqr", GoalMet, false},
		{"noisy", []float64{900, 1000, 1100, 1200, 1300}, []float64{1000, 1000, 1000, 1000, 1000}, 1.10, 1.10, [2]float64{1.00, 1.20}, "iqr", GoalUndecided, true},
		// Wide but all under the goal: met, and still said to be noisy.
		{"noisy, met", []float64{600, 700, 800, 900, 1000}, []float64{1000, 1000, 1000, 1000, 1000}, 1.10, 0.80, [2]float64{0.70, 0.90}, "iqr", GoalMet, true},
		// A goal under 1 (the boot goal against today's command): its
		// margin is its distance from 1.
		{"half, met", []float64{300, 350, 400, 420, 450}, []float64{1000, 1000, 1000, 1000, 1000}, 0.5, 0.40, [2]float64{0.35, 0.42}, "iqr", GoalMet, false},
		{"half, noisy", []float64{100, 200, 500, 900, 1000}, []float64{1000, 1000, 1000, 1000, 1000}, 0.5, 0.50, [2]float64{0.20, 0.90}, "iqr", GoalUndecided, true},
		// A repetition where one side failed gives no ratio.
		{"failed side", []float64{1000, 0, 1020}, []float64{1000, 1000, 0}, 1.10, 1.00, [2]float64{1.00, 1.00}, "min-max", GoalMet, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Pair{What: "boot x", Goal: tc.goal}
			for i := range tc.rig {
				var re, le error
				if tc.rig[i] == 0 {
					re = errors.New("rig failed")
				}
				if tc.limit[i] == 0 {
					le = errors.New("raw failed")
				}
				p.rep(ms(tc.rig[i]), re, ms(tc.limit[i]), le)
			}
			p.finish()
			near := func(a, b float64) bool { return math.Abs(a-b) < 0.006 }
			if !near(p.Ratio, tc.ratio) || !near(p.Spread[0], tc.spread[0]) || !near(p.Spread[1], tc.spread[1]) ||
				p.SpreadKind != tc.kind || p.Verdict != tc.verdict || p.Noisy != tc.noisy {
				t.Errorf("ratio %.3f spread %.3f-%.3f (%s) verdict %s noisy %v; want %.2f %.2f-%.2f (%s) %s %v",
					p.Ratio, p.Spread[0], p.Spread[1], p.SpreadKind, p.Verdict, p.Noisy, tc.ratio, tc.spread[0], tc.spread[1], tc.kind, tc.verdict, tc.noisy)
			}
			var b bytes.Buffer
			(&Report{Pairs: []Pair{p}}).Print(&b)
			if !strings.Contains(b.String(), tc.verdict) {
				t.Errorf("table does not say %s:\n%s", tc.verdict, b.String())
			}
			if tc.noisy && (!strings.Contains(b.String(), "noisy") || !strings.Contains(b.String(), "wider than the goal's margin")) {
				t.Errorf("a noisy ratio printed without saying so:\n%s", b.String())
			}
		})
	}
}
