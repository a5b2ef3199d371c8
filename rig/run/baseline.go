package run

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/result"
)

// Labels of a patched test against the baseline (the tree without the
// series).
const (
	LabelFixed        = "fixed"         // failed on the baseline, passes with the series
	LabelRegressed    = "regressed"     // passed on the baseline, fails with the series
	LabelStillFailing = "still-failing" // fails on both
	LabelPassing      = "passing"       // passes on both
	LabelUndecided    = "undecided"     // one side could not decide (error) or did not run
)

func failing(status string) bool { return status == event.Fail }
func passing(status string) bool { return status == event.Pass || status == event.Skip }

// Label sets Label (and, for statistical tests, Compare) on every patched
// test from the baseline's verdict of the same test.
func Label(baseline, patched *[]result.Test) {
	base := map[string]result.Test{}
	for _, t := range *baseline {
		base[t.Name] = t
	}
	for i := range *patched {
		t := &(*patched)[i]
		b, ok := base[t.Name]
		switch {
		case !ok:
			t.Label = LabelUndecided
		case failing(b.Status) && passing(t.Status):
			t.Label = LabelFixed
		case passing(b.Status) && failing(t.Status):
			t.Label = LabelRegressed
		case failing(b.Status) && failing(t.Status):
			t.Label = LabelStillFailing
		case passing(b.Status) && passing(t.Status):
			t.Label = LabelPassing
		default:
			t.Label = LabelUndecided
		}
		if ok {
			t.Compare = CompareNatural(b, *t)
			if f := CompareFlaky(b, *t); f != "" {
				t.Compare = strings.TrimPrefix(t.Compare+"; "+f, "; ")
			}
		}
	}
}

// CompareFlaky states which parts of a test passed only on a rerun, on
// each side ("flaky with the series: futex_requeue; without: none"), or ""
// when neither side had any.
func CompareFlaky(base, patched result.Test) string {
	b, p := base.Evidence[event.Flaky], patched.Evidence[event.Flaky]
	if b == "" && p == "" {
		return ""
	}
	return "flaky with the series: " + orNoneList(p) + "; without: " + orNoneList(b)
}

func orNoneList(s string) string {
	if s == "" {
		return "none"
	}
	return strings.ReplaceAll(s, ",", ", ")
}

// Evidence keys of a natural (statistical) test.
const (
	evKills       = "natural_kills"
	evCorruptions = "natural_corruptions"
)

// CompareNatural renders a statistical test's two hit rates side by side,
// so that "fixed" reads as a measurement, never as "nothing seen this
// time": "baseline 37 of 412 kills corrupted (9.0%); patched 0 of 3000,
// below 0.10% at 95%". It returns "" when either side has no counts.
func CompareNatural(base, patched result.Test) string {
	bk, bc, ok1 := counts(base)
	pk, pc, ok2 := counts(patched)
	if !ok1 || !ok2 {
		return ""
	}
	return "baseline " + rateText(bk, bc) + "; patched " + rateText(pk, pc)
}

func counts(t result.Test) (kills, corruptions int64, ok bool) {
	k, err1 := strconv.ParseInt(t.Evidence[evKills], 10, 64)
	c, err2 := strconv.ParseInt(t.Evidence[evCorruptions], 10, 64)
	return k, c, err1 == nil && err2 == nil
}

// rateText states a hit count with its rate, or for zero hits the 95%
// upper bound of the per-kill probability (rule of three: 3/N).
func rateText(kills, hits int64) string {
	switch {
	case kills == 0:
		return "no kills (no evidence either way)"
	case hits == 0:
		return fmt.Sprintf("0 of %d kills corrupted, below %s at 95%%", kills, pct(3/float64(kills)))
	}
	return fmt.Sprintf("%d of %d kills corrupted (%s)", hits, kills, pct(float64(hits)/float64(kills)))
}

func pct(f float64) string {
	switch {
	case f >= 0.1:
		return fmt.Sprintf("%.0f%%", f*100)
	case f >= 0.01:
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

// JudgeSeries sets the patched cell c's Verdict from its baseline's: the
// run fails for what the series changed (a test that regressed or errs, a
// kernel report the base does not show), not for failures the tree
// without the series shares, which the verdict's cause names instead. A
// cell that did not get as far as its tests (patch-error, build-error,
// boot-error, timeout) or a base that did not decide is left as it is:
// its Status counts.
func JudgeSeries(base, c *result.Cell) {
	decided := func(s result.Status) bool { return s == result.Pass || s == result.Fail }
	if !decided(c.Status) || !decided(base.Status) {
		return
	}
	var still []string
	for _, t := range c.Tests {
		if passing(t.Status) {
			continue
		}
		if t.Label != LabelStillFailing {
			c.Verdict = result.Fail
			c.VerdictCause = fmt.Sprintf("test %s %s: %s", t.Name, orLabel(t.Label), t.Reason)
			if t.Label == LabelRegressed {
				c.VerdictCause = fmt.Sprintf("test %s regressed (passes without the series): %s", t.Name, t.Reason)
			}
			return
		}
		still = append(still, t.Name)
	}
	seen := map[string]bool{}
	for _, o := range base.Oopses {
		seen[o.Title] = true
	}
	var old []string
	for _, o := range c.Oopses {
		if !seen[o.Title] {
			c.Verdict, c.VerdictCause = result.Fail, fmt.Sprintf("new kernel report (not seen without the series): %s", o.Title)
			return
		}
		old = append(old, o.Title)
	}
	if c.Status == result.Fail && len(still) == 0 && len(old) == 0 {
		return // failed in a way no test or report explains: as it is
	}
	c.Verdict = result.Pass
	if len(still)+len(old) > 0 {
		c.VerdictCause = "fails without the series too (pre-existing): " + strings.Join(append(still, old...), ", ")
	}
}

// orLabel names a failing test's label for a cause, "failed" when it has
// none to give.
func orLabel(label string) string {
	if label == "" || label == LabelUndecided {
		return "failed"
	}
	return label
}
