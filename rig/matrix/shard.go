package matrix

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// KernelKey identifies the cells that share a build: the same tree, arch and
// config fragments. It deliberately leaves out the series: the rig builds
// every series of one (tree, arch, config) in the same build slot
// (kbuild.SlotFor), so the second series is an incremental build, and a
// --baseline cell needs its tree's unpatched kernel too. Cells with one key
// form a group: a group's cells run one after another, on one machine.
func KernelKey(s Spec) string {
	return strings.Join(append([]string{s.Tree, s.Arch}, s.Configs...), "\x00")
}

// Groups splits specs into kernel groups. Each group keeps its cells in ID
// order, and groups are ordered by their first (smallest) cell ID.
func Groups(specs []Spec) [][]Spec {
	sorted := append([]Spec(nil), specs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	idx := map[string]int{}
	var groups [][]Spec
	for _, s := range sorted {
		k := KernelKey(s)
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], s)
	}
	return groups
}

// Shard is a 1-based slice i of n.
type Shard struct{ I, N int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// ParseShard reads "i/n" with 1 <= i <= n.
func ParseShard(v string) (Shard, error) {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 1 <= i <= n, e.g. 2/4", v)
	}
	return Shard{I: i, N: n}, nil
}

// Select returns shard sh of specs, sorted by ID. The rule, which CI
// workflows rely on:
//
//  1. sort the cells by ID;
//  2. group them by KernelKey (tree, arch, config fragments), ordering the
//     groups by the first position at which each appears in that sorted
//     list (that is, by the group's smallest cell ID);
//  3. shard i/n takes every group whose 0-based position k in that order
//     has k % n == i-1, with all of its cells.
//
// So the shards 1/n..n/n are disjoint and together cover every cell, a kernel
// is only ever built on one shard, and a shard may be empty when the plan has
// fewer groups than shards. The result depends only on the plan, never on
// the machine.
func Select(specs []Spec, sh Shard) []Spec {
	if sh.N <= 1 {
		out := append([]Spec(nil), specs...)
		sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out
	}
	var out []Spec
	for k, g := range Groups(specs) {
		if k%sh.N == sh.I-1 {
			out = append(out, g...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// List writes the IDs of specs, one a line: `rig matrix PLAN --list`.
func List(w io.Writer, specs []Spec) error {
	for _, s := range specs {
		if _, err := fmt.Fprintln(w, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// Cells loads the plan at path and returns its cells sorted by ID, or with
// sh.N > 0 only shard sh's (Select). It is what `rig matrix PLAN --list
// [--shard i/n]` prints.
func Cells(path string, chk Check, sh Shard) ([]Spec, error) {
	p, err := Load(path, chk)
	if err != nil {
		return nil, err
	}
	specs, err := p.Expand()
	if err != nil {
		return nil, err
	}
	if sh.N > 0 {
		specs = Select(specs, sh)
	}
	return specs, nil
}
