package bisect

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/rig-kernel/rig/rig/result"
)

// Verdict is the judgement of one run, or of one step (all its runs).
type Verdict string

const (
	Good Verdict = "good"
	Bad  Verdict = "bad"
	// Skip: this tree cannot be judged (it does not apply, build or boot,
	// or the property the rule tracks was not observed).
	Skip Verdict = "skip"
	// Abort: the rig itself could not decide (infra-error, interrupted);
	// the bisection stops.
	Abort Verdict = "abort"
)

// Criterion is one --bad-if: what counts as bad.
type Criterion struct {
	Kind  string // "test", "oops" or "timeout"
	Value string // test name; substring of an oops title or kind
}

func (c Criterion) String() string {
	if c.Kind == "timeout" {
		return "timeout"
	}
	return c.Kind + "=" + c.Value
}

// ParseRule reads the --bad-if values into a Rule; a test criterion
// must name one of tests.
func ParseRule(badIf, tests []string) (Rule, error) {
	var r Rule
	for _, s := range badIf {
		c, err := ParseCriterion(s)
		if err != nil {
			return r, err
		}
		if c.Kind == "test" && !slices.Contains(tests, c.Value) {
			return r, fmt.Errorf("--bad-if %s: unknown test (known: %s)", s, strings.Join(tests, ", "))
		}
		r.BadIf = append(r.BadIf, c)
	}
	return r, nil
}

// ParseCriterion reads a --bad-if value: "test=NAME" (that guest test
// fails), "oops=TEXT" (a kernel report whose title or kind contains TEXT,
// e.g. "oops=WARNING"), or "timeout" (the tests did not finish).
func ParseCriterion(s string) (Criterion, error) {
	s = strings.TrimSpace(s)
	if s == "timeout" {
		return Criterion{Kind: "timeout"}, nil
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok || v == "" || (k != "test" && k != "oops") {
		return Criterion{}, fmt.Errorf("--bad-if %q: want test=NAME, oops=TEXT or timeout", s)
	}
	return Criterion{Kind: k, Value: v}, nil
}

// Signatures names every way a cell failed, one string each:
// "test=NAME" for a failing test, "oops=TITLE" for a kernel report,
// "timeout" for tests still running at the run timeout, and "fail=CAUSE"
// when the cell failed with neither (the guest ended without a verdict).
// These are the failure titles the bisection tracks.
func Signatures(c result.Cell) []string {
	var out []string
	for _, t := range c.Tests {
		if t.Status == "fail" {
			out = append(out, "test="+t.Name)
		}
	}
	for _, o := range c.Oopses {
		title := o.Title
		if !strings.HasPrefix(title, o.Kind) {
			title = o.Kind + ": " + title
		}
		out = append(out, "oops="+title)
	}
	if c.Status == result.Timeout {
		out = append(out, "timeout")
	}
	if len(out) == 0 && c.Status == result.Fail {
		cause, _, _ := strings.Cut(c.Cause, ";")
		out = append(out, "fail="+strings.TrimSpace(cause))
	}
	return out
}

// Rule decides whether one run is good, bad or a skip.
//
// By default any failure is bad (cell status fail or timeout). BadIf
// narrows it: a run is bad only if one of its signatures matches a
// criterion. Once the first bad run of the bisection is seen, Track holds
// its first matching signature (the failure title), and later runs are bad
// only when they show that same title: an unrelated failure does not steer
// the search. A run that failed only in other ways is good, and the log
// says so; one where the tracked property was not observed at all (its
// test did not report, or the tests timed out) is a skip.
type Rule struct {
	BadIf []Criterion
	Track string // the failure title, once known
}

func (r Rule) matches(sig string) bool {
	if r.Track != "" {
		return sig == r.Track
	}
	if len(r.BadIf) == 0 {
		return true
	}
	for _, c := range r.BadIf {
		switch c.Kind {
		case "test":
			if sig == "test="+c.Value {
				return true
			}
		case "oops":
			if strings.HasPrefix(sig, "oops=") && strings.Contains(sig, c.Value) {
				return true
			}
		case "timeout":
			if sig == "timeout" {
				return true
			}
		}
	}
	return false
}

// narrowed reports whether something less than "any failure" is bad.
func (r Rule) narrowed() bool { return r.Track != "" || len(r.BadIf) > 0 }

// Classify judges one run of a step. It returns the verdict, the failure
// title when bad, and why, in one line.
func (r Rule) Classify(c result.Cell) (v Verdict, title, why string) {
	switch c.Status {
	case result.Pass:
		return Good, "", "passed"
	case result.PatchError, result.BuildError, result.BootError:
		return Skip, "", fmt.Sprintf("%s (untestable, not bad): %s", c.Status, c.Cause)
	case result.Fail, result.Timeout:
	default: // infra-error, interrupted, or no verdict at all
		st := c.Status
		if st == "" {
			st = result.InfraError
		}
		return Abort, "", fmt.Sprintf("%s: %s", st, c.Cause)
	}
	sigs := Signatures(c)
	for _, s := range sigs {
		if r.matches(s) {
			return Bad, s, fmt.Sprintf("%s: %s", s, c.Cause)
		}
	}
	// Failed, but not in a way that counts. Was the property observed?
	if !r.observed(c) {
		return Skip, "", fmt.Sprintf("%s not observed (%s: %s)", r.String(), c.Status, c.Cause)
	}
	return Good, "", fmt.Sprintf("good for %s: failed only in other ways (%s), not counted", r.String(), strings.Join(sigs, ", "))
}

// String names what the rule counts as bad, for the log and bisect.json.
func (r Rule) String() string {
	if r.Track != "" {
		return r.Track
	}
	var s []string
	for _, c := range r.BadIf {
		s = append(s, c.String())
	}
	if len(s) == 0 {
		return "any failure"
	}
	return strings.Join(s, " or ")
}

// observed reports whether a failing run could have shown the tracked
// failure: a tracked test must have reported, and kernel reports need the
// tests to have run to the end.
func (r Rule) observed(c result.Cell) bool {
	if c.Status == result.Timeout {
		return false
	}
	var tests []string
	if t, ok := strings.CutPrefix(r.Track, "test="); ok {
		tests = []string{t}
	} else if r.Track == "" {
		for _, cr := range r.BadIf {
			if cr.Kind == "test" {
				tests = append(tests, cr.Value)
			}
		}
	}
	for _, t := range tests {
		seen := false
		for _, ct := range c.Tests {
			if ct.Name == t {
				seen = true
			}
		}
		if !seen {
			return false
		}
	}
	return true
}

// Confidence rule for flaky failures.
const (
	// MissRisk is the accepted chance of calling a bad step good: a step
	// is run N times with (1-p)^N < MissRisk, p the measured hit rate.
	MissRisk = 0.05
	// MaxRepeat caps N: a failure seen in fewer than about 1 of 7 runs
	// would need more boots per step than a bisection should spend.
	MaxRepeat = 20
)

// ChooseRepeat returns the runs per step N for a failure seen in bad of
// runs runs of the full series: the smallest N with (1-bad/runs)^N <
// MissRisk, capped at MaxRepeat (capped reports that the cap was hit).
func ChooseRepeat(bad, runs int) (n int, capped bool) {
	if runs <= 0 || bad <= 0 {
		return 1, false
	}
	p := float64(bad) / float64(runs)
	if p >= 1 {
		return 1, false
	}
	n = int(math.Floor(math.Log(MissRisk)/math.Log(1-p))) + 1
	if n < 1 {
		n = 1
	}
	if n > MaxRepeat {
		return MaxRepeat, true
	}
	return n, false
}
