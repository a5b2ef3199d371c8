package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/result"
)

// Two rigs at once on the same cache and the same results directory (in
// process, two goroutines): both pass, with distinct run ids and
// directories, each run.json whole and its own.
func TestConcurrentRuns(t *testing.T) {
	_, results := e2e(t)
	args := []string{"run", "--arch", "x86_64", "--tests", "robust-owner-death", "--duration", "2s", "--results", results}
	type out struct {
		code           int
		stdout, stderr string
		took           time.Duration
	}
	var (
		wg   sync.WaitGroup
		outs [2]out
	)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var so, se bytes.Buffer
			start := time.Now()
			code := Execute(ctx, args, &so, &se)
			outs[i] = out{code, so.String(), se.String(), time.Since(start)}
		}()
	}
	wg.Wait()

	ids := map[string]bool{}
	for i, o := range outs {
		t.Logf("rig #%d: exit %d in %v\n%s\nstderr:\n%s", i, o.code, o.took.Round(time.Millisecond), o.stdout, lastN(o.stderr, 25))
		if o.code != ExitPass {
			t.Errorf("rig #%d: exit %d", i, o.code)
		}
		var dir string
		for _, l := range strings.Split(o.stdout, "\n") {
			if d, ok := strings.CutPrefix(l, "results: "); ok {
				dir = d
			}
		}
		if filepath.Dir(dir) != results {
			t.Errorf("rig #%d: run directory %q not in %s", i, dir, results)
			continue
		}
		r, err := result.Load(dir)
		if err != nil {
			t.Errorf("rig #%d: %v", i, err)
			continue
		}
		if r.ID != filepath.Base(dir) || ids[r.ID] {
			t.Errorf("rig #%d: run id %q (dir %s) not distinct or not its own", i, r.ID, dir)
		}
		ids[r.ID] = true
		if r.Status != result.Pass || len(r.Cells) != 1 || len(r.Cells[0].Tests) != 1 {
			t.Errorf("rig #%d: status %s, %d cells", i, r.Status, len(r.Cells))
		}
	}
	ents, _ := os.ReadDir(results)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("results holds %v, want the two run directories", names)
	}
}
