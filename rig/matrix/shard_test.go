package matrix

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// bigPlan has 6 kernel groups (2 arches x 3 configs) of 8 cells (2 series x
// 2 accels x 2 repeats); no paths, so it needs no files.
const bigPlan = `arches: [x86_64, arm64]
accels: [tcg, auto]
configs: [[], [debug], [lockdep]]
repeats: 2
`

func specsOf(t *testing.T, plan string) []Spec {
	t.Helper()
	p, err := Parse("testdata/inline.yaml", []byte(plan), Check{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Expand()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(specs []Spec) []string {
	var l []string
	for _, s := range specs {
		l = append(l, s.ID)
	}
	return l
}

func TestParseShard(t *testing.T) {
	if sh, err := ParseShard("2/4"); err != nil || sh != (Shard{2, 4}) || sh.String() != "2/4" {
		t.Errorf("2/4: %v %v", sh, err)
	}
	for _, bad := range []string{"", "0/4", "5/4", "1/0", "x/4", "1", "1/2/3", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGroups(t *testing.T) {
	specs := specsOf(t, bigPlan+"series: [\"\", fix-a]\n")
	g := Groups(specs)
	if len(g) != 6 {
		t.Fatalf("%d groups, want 6 (arch x config; series share a group)", len(g))
	}
	for _, grp := range g {
		if len(grp) != 8 {
			t.Errorf("group of %d: %v", len(grp), ids(grp))
		}
		for _, s := range grp {
			if KernelKey(s) != KernelKey(grp[0]) {
				t.Errorf("%s in the group of %s", s.ID, grp[0].ID)
			}
		}
	}
	// Ordered by first ID.
	for i := 1; i < len(g); i++ {
		if g[i-1][0].ID >= g[i][0].ID {
			t.Errorf("group order: %s before %s", g[i-1][0].ID, g[i][0].ID)
		}
	}
}

func TestShardsCompleteDisjointGrouped(t *testing.T) {
	specs := specsOf(t, bigPlan+"series: [\"\", fix-a]\n")
	for n := 1; n <= 8; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			owner := map[string]int{}
			kernelShard := map[string]int{}
			for i := 1; i <= n; i++ {
				got := Select(specs, Shard{i, n})
				again := Select(specs, Shard{i, n})
				if !reflect.DeepEqual(got, again) {
					t.Fatalf("shard %d/%d not deterministic", i, n)
				}
				for _, s := range got {
					if prev, ok := owner[s.ID]; ok {
						t.Errorf("%s in shards %d and %d", s.ID, prev, i)
					}
					owner[s.ID] = i
					k := KernelKey(s)
					if prev, ok := kernelShard[k]; ok && prev != i {
						t.Errorf("kernel of %s built in shards %d and %d", s.ID, prev, i)
					}
					kernelShard[k] = i
				}
			}
			if len(owner) != len(specs) {
				t.Errorf("shards cover %d of %d cells", len(owner), len(specs))
			}
		})
	}
}

// TestShardRule pins the documented rule: groups in order of their first ID,
// group k to shard k%n+1.
func TestShardRule(t *testing.T) {
	specs := specsOf(t, bigPlan)
	// Group order: arm64/base, arm64/debug, arm64/lockdep, x86_64/base, ...
	want := map[int][]string{
		1: {"arm64-auto-base-unpatched-r1", "arm64-auto-base-unpatched-r2", "arm64-tcg-base-unpatched-r1", "arm64-tcg-base-unpatched-r2",
			"x86_64-auto-base-unpatched-r1", "x86_64-auto-base-unpatched-r2", "x86_64-tcg-base-unpatched-r1", "x86_64-tcg-base-unpatched-r2"},
		3: {"arm64-auto-lockdep-unpatched-r1", "arm64-auto-lockdep-unpatched-r2", "arm64-tcg-lockdep-unpatched-r1", "arm64-tcg-lockdep-unpatched-r2",
			"x86_64-auto-lockdep-unpatched-r1", "x86_64-auto-lockdep-unpatched-r2", "x86_64-tcg-lockdep-unpatched-r1", "x86_64-tcg-lockdep-unpatched-r2"},
	}
	for i, w := range want {
		if got := ids(Select(specs, Shard{i, 3})); !reflect.DeepEqual(got, w) {
			t.Errorf("shard %d/3:\n got %q\nwant %q", i, got, w)
		}
	}
	if got := Select(specs, Shard{7, 7}); len(got) != 0 {
		t.Errorf("6 groups, shard 7/7 should be empty: %q", ids(got))
	}
}

func TestList(t *testing.T) {
	var b bytes.Buffer
	specs, err := Cells("testdata/plan.yaml", Check{}, Shard{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := List(&b, specs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 16 || lines[0] != "arm64-auto-base-fix-a-r1" {
		t.Errorf("list: %q", lines)
	}
}
