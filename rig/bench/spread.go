package bench

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Ratio spread: each interleaved repetition gives one ratio (the rig's time
// over the limit's in the same repetition), so load that hits a repetition
// hits both sides of its ratio. A pair reports the median of those ratios
// with their spread, and whether the spread decides its goal.

// minIQR is the number of ratios from which the spread is the interquartile
// range; below it the spread is min to max.
const minIQR = 5

// Verdicts of a pair against its goal. A pair whose spread is wider than
// its goal's margin over 1 is also Noisy, whatever its verdict.
const (
	GoalMet       = "met"       // the whole spread is at or under the goal
	GoalMissed    = "missed"    // the whole spread is over the goal
	GoalUndecided = "undecided" // the spread straddles the goal
)

// rep records one interleaved repetition: both timings, and their ratio
// when both sides worked.
func (p *Pair) rep(rig time.Duration, rigErr error, limit time.Duration, limitErr error) {
	record(&p.Rig, rig, rigErr)
	record(&p.Limit, limit, limitErr)
	if rigErr == nil && limitErr == nil && limit > 0 {
		p.Ratios = append(p.Ratios, float64(rig)/float64(limit))
	}
}

// finish sets the ratio (the median of the repetitions' ratios; of the
// medians when the sides never worked in the same repetition), its spread
// and the verdict against the goal.
func (p *Pair) finish() {
	if len(p.Ratios) == 0 {
		if l := p.Limit.Median(); l > 0 {
			p.Ratio = float64(p.Rig.Median()) / float64(l)
		}
		return
	}
	p.Ratio, p.Spread, p.SpreadKind = spreadOf(p.Ratios)
	r := p.Ratios
	if p.Goal <= 0 {
		return
	}
	lo, hi := p.Spread[0], p.Spread[1]
	switch {
	case hi <= p.Goal:
		p.Verdict = GoalMet
	case lo > p.Goal:
		p.Verdict = GoalMissed
	default:
		p.Verdict = GoalUndecided
		p.Note = fmt.Sprintf("spread %.2f-%.2f straddles the goal <=%.2f: not decided", lo, hi, p.Goal)
	}
	if margin := math.Abs(p.Goal - 1); margin > 0 && hi-lo > margin {
		p.Noisy = true
		p.Note = fmt.Sprintf("noisy: spread %.2f-%.2f (%s of %d) is wider than the goal's margin (%.2f from 1), so this ratio cannot tell the rig within the goal from one just past it; repeat with a larger --n or on a quieter host",
			lo, hi, p.SpreadKind, len(r), margin)
	}
}

// spreadOf is the median of ratios (not empty) and their spread: the
// interquartile range from minIQR ratios on, else min to max.
func spreadOf(ratios []float64) (median float64, spread [2]float64, kind string) {
	r := append([]float64(nil), ratios...)
	sort.Float64s(r)
	if len(r) >= minIQR {
		return quantile(r, 0.5), [2]float64{quantile(r, 0.25), quantile(r, 0.75)}, "iqr"
	}
	return quantile(r, 0.5), [2]float64{r[0], r[len(r)-1]}, "min-max"
}

// quantile is the q-quantile of sorted r, interpolated between neighbours.
func quantile(r []float64, q float64) float64 {
	pos := q * float64(len(r)-1)
	i := int(pos)
	if i+1 >= len(r) {
		return r[len(r)-1]
	}
	return r[i] + (pos-float64(i))*(r[i+1]-r[i])
}
