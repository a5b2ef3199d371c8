// Package bisect finds the first patch of a series that makes a cell go
// bad, and judges one tree for `git bisect run`. The search runs against
// Env (Runner is the real one, a fake scripts results in tests); steps,
// the bad rule and the repeat rule for flaky races are described in
// docs/design.md, "Bisection".
package bisect

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// Env runs one tree once: the base with the first k patches of the series
// applied (k = 0: the base alone). attempt counts from 1 for the repeats of
// a step (the real Env varies the guest's seed with it). An error means the
// run could not happen at all; it aborts the bisection.
type Env interface {
	Run(ctx context.Context, k, attempt int) (Run, error)
}

// Run is one run of one step as the Env reports it.
type Run struct {
	Cell result.Cell
	Dir  string // the run's directory (results/<bisect>/<run>), "" for fakes
}

// PatchInfo names one patch of the series for the report.
type PatchInfo struct {
	Name    string `json:"name"`
	Subject string `json:"subject,omitempty"`
}

// Config is what a bisection needs besides its Env.
type Config struct {
	Patches []PatchInfo
	// Repeat is the runs per step; 0 chooses it from the full series' hit
	// rate (ChooseRepeat) after Calibrate runs of the full series.
	Repeat    int
	Calibrate int // 0: DefaultCalibrate
	Rule      Rule
	Log       io.Writer // human log, one line per run and per step (nil: none)
}

// Outcome of a whole bisection.
type Outcome string

const (
	Found        Outcome = "found"        // Culprit is the first bad patch
	Inconclusive Outcome = "inconclusive" // skips hide it: one of Candidates
	BaseBad      Outcome = "base-bad"     // bad without any patch: not the series
	SeriesGood   Outcome = "series-good"  // the full series is not bad
)

// RunRecord is one run in the log.
type RunRecord struct {
	Attempt      int           `json:"attempt"`
	Status       result.Status `json:"status"`
	Cause        string        `json:"cause,omitempty"`
	Verdict      Verdict       `json:"verdict"`
	Why          string        `json:"why"`
	Title        string        `json:"title,omitempty"`
	Dir          string        `json:"dir,omitempty"`
	BuildSeconds float64       `json:"build_seconds"`
	BuildCached  bool          `json:"build_cached,omitempty"`
	Seconds      float64       `json:"seconds"`
}

// Step is one tree (prefix length K) and its runs.
type Step struct {
	K       int         `json:"k"` // patches applied
	Patch   string      `json:"patch,omitempty"`
	Verdict Verdict     `json:"verdict"`
	Why     string      `json:"why"`
	Runs    []RunRecord `json:"runs"`
}

// Result is a bisection's record: bisect.json.
type Result struct {
	Outcome    Outcome       `json:"outcome"`
	Culprit    int           `json:"culprit,omitempty"` // 1-based index into Patches
	Patch      *PatchInfo    `json:"patch,omitempty"`
	Candidates []int         `json:"candidates,omitempty"`
	Title      string        `json:"title,omitempty"`    // the failure title tracked
	Evidence   string        `json:"evidence,omitempty"` // the culprit step's cause
	EvidenceIn string        `json:"evidence_dir,omitempty"`
	Rule       string        `json:"rule"`
	Repeat     int           `json:"repeat"`
	RepeatWhy  string        `json:"repeat_why"`
	Patches    []PatchInfo   `json:"patches"`
	Steps      []Step        `json:"steps"`
	Summary    string        `json:"summary"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// AbortError stops a bisection: the rig could not judge a step.
type AbortError struct {
	K      int
	Status result.Status // infra-error or interrupted
	Cause  string
	Err    error // from the Env, if any
}

func (e *AbortError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("bisection aborted at %d patch(es): %v", e.K, e.Err)
	}
	return fmt.Sprintf("bisection aborted at %d patch(es): %s: %s", e.K, e.Status, e.Cause)
}

func (e *AbortError) Unwrap() error { return e.Err }

type bisector struct {
	env  Env
	cfg  Config
	res  *Result
	rule Rule
	n    int
	done map[int]Verdict
	what string // names the tree in the log instead of its prefix (Judge)
}

// DefaultCalibrate is how many runs of the full series measure its hit
// rate when the runs per step are not given.
const DefaultCalibrate = 3

// Bisect finds the first patch whose prefix is bad. The full series is
// tested first (it defines the failure title and, without Repeat, the
// runs per step), then the base, then prefixes by binary search; a skipped
// prefix is stepped around. The returned Result is filled as far as the
// bisection got even when it returns an *AbortError.
func Bisect(ctx context.Context, env Env, cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.Calibrate <= 0 {
		cfg.Calibrate = DefaultCalibrate
	}
	b := &bisector{env: env, cfg: cfg, rule: cfg.Rule, n: len(cfg.Patches), done: map[int]Verdict{},
		res: &Result{Patches: cfg.Patches, Repeat: cfg.Repeat}}
	err := b.search(ctx)
	b.res.Title = b.rule.Track
	b.res.Rule = b.rule.String()
	b.res.Elapsed = time.Since(start)
	if err == nil {
		b.res.Summary = b.summary()
		b.logf("result: %s", b.res.Summary)
	} else {
		b.res.Summary = err.Error()
		b.logf("aborted: %v", err)
	}
	return b.res, err
}

func (b *bisector) logf(format string, args ...any) {
	if b.cfg.Log != nil {
		fmt.Fprintf(b.cfg.Log, format+"\n", args...)
	}
}

func (b *bisector) search(ctx context.Context) error {
	n := b.n
	if n == 0 {
		return &AbortError{Status: result.InfraError, Cause: "empty series"}
	}
	b.logf("bisecting %d patches; bad means %s", n, b.rule.String())

	// The full series: calibrate the runs per step unless given.
	var full Step
	var err error
	if b.cfg.Repeat > 0 {
		b.res.RepeatWhy = fmt.Sprintf("--repeat %d", b.cfg.Repeat)
		full, err = b.step(ctx, n, b.cfg.Repeat, true)
	} else {
		full, err = b.step(ctx, n, b.cfg.Calibrate, false)
		if err == nil && full.Verdict == Bad {
			hits := 0
			for _, r := range full.Runs {
				if r.Verdict == Bad {
					hits++
				}
			}
			rep, capped := ChooseRepeat(hits, len(full.Runs))
			b.res.Repeat = rep
			b.res.RepeatWhy = fmt.Sprintf("the full series showed %q in %d of %d runs: %d run(s) per step give (1-%d/%d)^%d < %.2f",
				b.rule.Track, hits, len(full.Runs), rep, hits, len(full.Runs), rep, MissRisk)
			if capped {
				b.res.RepeatWhy = fmt.Sprintf("the full series showed %q in %d of %d runs: capped at %d runs per step (the %.0f%% confidence rule wants more)",
					b.rule.Track, hits, len(full.Runs), rep, 100*(1-MissRisk))
			}
			b.logf("runs per step: %s", b.res.RepeatWhy)
		}
	}
	if err != nil {
		return err
	}
	if b.res.Repeat == 0 {
		b.res.Repeat = 1
	}
	switch full.Verdict {
	case Good:
		b.res.Outcome = SeriesGood
		return nil
	case Skip:
		b.res.Outcome = Inconclusive
		b.res.Candidates = seq(1, n)
		return nil
	}

	// The base.
	base, err := b.step(ctx, 0, b.res.Repeat, true)
	if err != nil {
		return err
	}
	switch base.Verdict {
	case Bad:
		b.res.Outcome = BaseBad
		return nil
	case Skip:
		b.res.Outcome = Inconclusive
		b.res.Candidates = seq(1, n)
		return nil
	}

	// Binary search: lo is good, hi is bad.
	lo, hi := 0, n
	for hi-lo > 1 {
		k := b.pick(lo, hi)
		if k < 0 {
			b.res.Outcome = Inconclusive
			b.res.Candidates = seq(lo+1, hi)
			return nil
		}
		st, err := b.step(ctx, k, b.res.Repeat, true)
		if err != nil {
			return err
		}
		switch st.Verdict {
		case Good:
			lo = k
		case Bad:
			hi = k
		}
	}
	b.res.Outcome, b.res.Culprit = Found, hi
	p := b.cfg.Patches[hi-1]
	b.res.Patch = &p
	for _, s := range b.res.Steps {
		if s.K == hi && s.Verdict == Bad {
			for _, r := range s.Runs {
				if r.Verdict == Bad {
					b.res.Evidence, b.res.EvidenceIn = r.Cause, r.Dir
					break
				}
			}
		}
	}
	return nil
}

// pick returns the untested prefix in (lo, hi) nearest the middle (the
// lower one on a tie), or -1 when every one was skipped.
func (b *bisector) pick(lo, hi int) int {
	mid := (lo + hi) / 2
	for d := 0; d < hi-lo; d++ {
		for _, k := range []int{mid - d, mid + d + 1} {
			if k > lo && k < hi {
				if _, seen := b.done[k]; !seen {
					return k
				}
			}
		}
	}
	return -1
}

// step runs prefix k up to runs times. With stopOnBad the first bad run
// decides (bad if any run is bad); without it every run is made, to
// measure the hit rate. A step is good only if all its runs are good; a
// build that fails is not retried (the same tree fails the same way).
func (b *bisector) step(ctx context.Context, k, runs int, stopOnBad bool) (Step, error) {
	st := Step{K: k}
	if k > 0 && k <= len(b.cfg.Patches) {
		st.Patch = b.cfg.Patches[k-1].Name
	}
	if st.Patch != "" {
		b.logf("step: %s (last %s), up to %d run(s)", b.label(k), st.Patch, runs)
	} else {
		b.logf("step: %s, up to %d run(s)", b.label(k), runs)
	}
	bad, good, skip := 0, 0, 0
	var firstBad, firstSkip string
	for a := 1; a <= runs; a++ {
		if ctx.Err() != nil {
			return st, b.abort(st, &AbortError{K: k, Status: result.Interrupted, Cause: "interrupted", Err: context.Cause(ctx)})
		}
		t0 := time.Now()
		run, err := b.env.Run(ctx, k, a)
		if err != nil {
			return st, b.abort(st, &AbortError{K: k, Status: result.InfraError, Err: err})
		}
		v, title, why := b.rule.Classify(run.Cell)
		rec := RunRecord{Attempt: a, Status: run.Cell.Status, Cause: run.Cell.Cause, Verdict: v, Why: why, Title: title,
			Dir: run.Dir, Seconds: time.Since(t0).Seconds()}
		for _, s := range run.Cell.Stages {
			if s.Name == "build" {
				rec.BuildSeconds, rec.BuildCached = s.Elapsed.Seconds(), s.Cached
			}
		}
		st.Runs = append(st.Runs, rec)
		build := fmt.Sprintf("build %.1fs", rec.BuildSeconds)
		if rec.BuildCached {
			build = "build cached"
		}
		b.logf("  run %d/%d: %s -> %s: %s (%s, %.0fs in all) %s", a, runs, orDash(run.Cell.Status), v, why, build, rec.Seconds, run.Dir)
		switch v {
		case Abort:
			return st, b.abort(st, &AbortError{K: k, Status: run.Cell.Status, Cause: run.Cell.Cause})
		case Bad:
			bad++
			if b.rule.Track == "" {
				b.rule.Track = title
				b.logf("  failure title to track from now on: %s", title)
			}
			if firstBad == "" {
				firstBad = why
			}
		case Good:
			good++
		case Skip:
			skip++
			if firstSkip == "" {
				firstSkip = why
			}
		}
		if v == Bad && stopOnBad {
			break
		}
		if v == Skip && (run.Cell.Status == result.PatchError || run.Cell.Status == result.BuildError) {
			break // deterministic: a rerun fails the same way
		}
	}
	switch {
	case bad > 0:
		st.Verdict = Bad
		st.Why = fmt.Sprintf("bad: %d of %d run(s) showed it: %s", bad, len(st.Runs), firstBad)
	case skip > 0:
		st.Verdict = Skip
		st.Why = fmt.Sprintf("skip: %d of %d run(s) could not be judged (%s); good needs all runs good", skip, len(st.Runs), firstSkip)
	default:
		st.Verdict = Good
		st.Why = fmt.Sprintf("good: all %d run(s) good", good)
		for _, r := range st.Runs {
			if r.Status != result.Pass {
				st.Why += "; " + r.Why
				break
			}
		}
	}
	b.done[k] = st.Verdict
	b.res.Steps = append(b.res.Steps, st)
	b.logf("  => %s is %s", b.label(k), st.Why)
	return st, nil
}

func (b *bisector) abort(st Step, e *AbortError) error {
	st.Verdict, st.Why = Abort, e.Error()
	b.res.Steps = append(b.res.Steps, st)
	return e
}

func (b *bisector) label(k int) string {
	if b.what != "" {
		return b.what
	}
	switch k {
	case 0:
		return "base (no patches)"
	case b.n:
		return fmt.Sprintf("full series (%d patches)", k)
	}
	return fmt.Sprintf("patches 1..%d", k)
}

func (b *bisector) summary() string {
	r := b.res
	switch r.Outcome {
	case Found:
		return fmt.Sprintf("first bad patch: %d/%d %s (%s); evidence: %s", r.Culprit, b.n, r.Patch.Name, r.Patch.Subject, r.Evidence)
	case BaseBad:
		return fmt.Sprintf("the base tree is already bad (%s): the series did not introduce it", r.Title)
	case SeriesGood:
		return fmt.Sprintf("the full series is not bad (%s): nothing to bisect", r.rule())
	}
	var names []string
	for _, k := range r.Candidates {
		names = append(names, fmt.Sprintf("%d %s", k, b.cfg.Patches[k-1].Name))
	}
	return "inconclusive: skipped steps hide the first bad patch; it is one of: " + strings.Join(names, ", ")
}

func (r *Result) rule() string {
	if r.Title != "" {
		return r.Title
	}
	return r.Rule
}

func seq(a, b int) []int {
	var s []int
	for i := a; i <= b; i++ {
		s = append(s, i)
	}
	return s
}

func orDash(s result.Status) string {
	if s == "" {
		return "-"
	}
	return string(s)
}
