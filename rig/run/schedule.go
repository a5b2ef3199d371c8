package run

import (
	"context"
	"sync"
)

// schedule is the order of rig run's cells. The cells of one arch prepare
// one after another, in order (they share the arch's build slot), while
// the arches prepare in parallel, so a cold two-arch run is bounded by
// the slower build, not their sum. Boots wait until every cell is
// prepared, so that no build distorts the race tests; then each arch's
// cells boot one at a time in order, the arches side by side: two QEMUs
// at once did not lower the races' hit rates (docs/speed.md), and a
// two-arch run takes the longer arch's boots, not their sum.
type schedule struct {
	preps    map[string]queue // per arch
	prepPos  []int            // each cell's place in its arch's queues
	cellArch []string
	boots    map[string]queue // per arch
	prepared chan struct{}    // closed when every cell is prepared

	mu      sync.Mutex
	pending int
}

func newSchedule(cells []*cell) *schedule {
	s := &schedule{preps: map[string]queue{}, prepPos: make([]int, len(cells)), cellArch: make([]string, len(cells)),
		boots: map[string]queue{}, prepared: make(chan struct{}), pending: len(cells)}
	count := map[string]int{}
	for i, c := range cells {
		s.cellArch[i], s.prepPos[i] = c.arch.Name, count[c.arch.Name]
		count[c.arch.Name]++
	}
	for a, n := range count {
		s.preps[a], s.boots[a] = newQueue(n), newQueue(n)
	}
	if len(cells) == 0 {
		close(s.prepared)
	}
	return s
}

// turn is cell i's place in the schedule.
func (s *schedule) turn(i int) turn { return scheduled{s, i} }

type scheduled struct {
	s *schedule
	i int
}

func (t scheduled) prepare(ctx context.Context) (func(), error) {
	q, pos := t.s.preps[t.s.cellArch[t.i]], t.s.prepPos[t.i]
	if err := q.wait(ctx, pos); err != nil {
		return nil, err
	}
	return func() {
		q.pass(pos)
		t.s.mu.Lock()
		defer t.s.mu.Unlock()
		if t.s.pending--; t.s.pending == 0 {
			close(t.s.prepared)
		}
	}, nil
}

func (t scheduled) boot(ctx context.Context) (func(), error) {
	select {
	case <-t.s.prepared:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	q, pos := t.s.boots[t.s.cellArch[t.i]], t.s.prepPos[t.i]
	if err := q.wait(ctx, pos); err != nil {
		return nil, err
	}
	return func() { q.pass(pos) }, nil
}

// queue lets goroutines go one at a time in a fixed order: position i
// goes when q[i] is closed, and passing closes q[i+1].
type queue []chan struct{}

func newQueue(n int) queue {
	q := make(queue, n+1)
	for i := range q {
		q[i] = make(chan struct{})
	}
	close(q[0])
	return q
}

func (q queue) wait(ctx context.Context, i int) error {
	select {
	case <-q[i]:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (q queue) pass(i int) { close(q[i+1]) }
