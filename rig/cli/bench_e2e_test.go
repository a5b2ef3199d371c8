package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/bench"
	"github.com/rig-kernel/rig/rig/result"
)

// TestE2EBenchNightly runs `rig bench --what nightly` on the 2-cell plan
// and checks its figures against the run.json the run wrote: the minimal
// work is the cells' uncached builds, boots and tests, the ratio is the
// wall time over it, and the table prints them.
func TestE2EBenchNightly(t *testing.T) {
	root, results := e2e(t)
	plan := filepath.Join(root, "rig/cli/testdata/matrix-small.yaml")
	out := filepath.Join(results, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, []string{"bench", "--what", "nightly", "--plan", plan, "--json", out}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), lastN(stderr.String(), 40))
	if code != ExitPass {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	n := rep.Nightly
	if n == nil || n.Error != "" || n.Status != string(result.Pass) || n.Results == "" {
		t.Fatalf("nightly: %+v", n)
	}
	if len(rep.Pairs)+len(rep.Whole)+len(rep.Verdicts) != 0 {
		t.Errorf("--what nightly measured more: %d pairs, %d whole, %d verdicts", len(rep.Pairs), len(rep.Whole), len(rep.Verdicts))
	}
	r, err := result.Load(n.Results)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 2 || n.Work.CellCount != 2 {
		t.Fatalf("run.json has %d cells, the bench says %d", len(r.Cells), n.Work.CellCount)
	}
	// The sums, again, straight from run.json.
	var minimal, boot, tests, busy time.Duration
	boots := 0
	for _, c := range r.Cells {
		if c.Status != result.Pass {
			t.Errorf("cell %s: %s (%s)", c.ID, c.Status, c.Cause)
		}
		var first, last time.Time
		for i, s := range c.Stages {
			switch {
			case s.Name == "build" && !s.Cached, s.Name == "tests":
				minimal += s.Elapsed
				if s.Name == "tests" {
					tests += s.Elapsed
				}
			case s.Name == "boot" && !s.Cached:
				minimal += s.Elapsed
				boot += s.Elapsed
				boots++
			}
			if i == 0 || s.Start.Before(first) {
				first = s.Start
			}
			if e := s.Start.Add(s.Elapsed); e.After(last) {
				last = e
			}
		}
		busy += last.Sub(first)
	}
	w := n.Work
	if w.Minimal != minimal || w.Boot != boot || w.Tests != tests || w.Boots != boots || boots != 2 || w.Busy != busy {
		t.Errorf("bench: minimal %s boot %s tests %s boots %d busy %s; run.json: %s %s %s %d %s",
			w.Minimal, w.Boot, w.Tests, w.Boots, w.Busy, minimal, boot, tests, boots, busy)
	}
	var over time.Duration
	for _, o := range w.Overhead {
		over += o.Elapsed
	}
	if w.Minimal+over != w.Busy {
		t.Errorf("minimal %s + overhead %s != the cells' time %s", w.Minimal, over, w.Busy)
	}
	if span := r.Finished.Sub(r.Started); n.Wall < span || w.Span != span {
		t.Errorf("wall %s, span %s: the run.json span is %s", n.Wall, w.Span, span)
	}
	if want := float64(n.Wall) / float64(minimal); math.Abs(n.Ratio-want) > 1e-9 || math.Abs(n.RatioShared-want*float64(n.Parallel)) > 1e-9 {
		t.Errorf("ratio %f shared %f (parallel %d); want %f", n.Ratio, n.RatioShared, n.Parallel, want)
	}
	for _, want := range []string{"nightly " + plan, fmt.Sprintf("%.2f", n.Ratio), "minimal work, summed over cells", r.Cells[0].ID, r.Cells[1].ID} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout has no %q", want)
		}
	}
}
