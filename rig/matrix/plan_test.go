package matrix

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/known"
)

var testNames = []string{"robust-owner-death", "robust-unmap-remap", "pi-consistency"}

func kconfigDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../kconfigs")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExpandIDs(t *testing.T) {
	for _, name := range []string{"testdata/plan.yaml", "testdata/plan.json"} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			p, err := Load(name, Check{Tests: testNames, KconfigDir: kconfigDir(t)})
			if err != nil {
				t.Fatal(err)
			}
			specs, err := p.Expand()
			if err != nil {
				t.Fatal(err)
			}
			if len(specs) != 32 {
				t.Fatalf("%d cells, want 2 series x 2 arches x 2 accels x 2 configs x 2 repeats = 32", len(specs))
			}
			var ids []string
			for _, s := range specs {
				ids = append(ids, s.ID)
			}
			if !sort.StringsAreSorted(ids) {
				t.Errorf("cells not sorted by ID: %v", ids)
			}
			if _, d := dup(ids); d {
				t.Errorf("duplicate IDs: %v", ids)
			}
			want := map[string]Spec{
				"x86_64-tcg-debug-fix-a-r1": {ID: "x86_64-tcg-debug-fix-a-r1", Series: filepath.Join("testdata", "fix-a"), Arch: "x86_64", Accel: "tcg",
					Configs: []string{"debug"}, Tests: []string{"robust-owner-death"}, Duration: 5 * time.Second, Repeat: 1, Baseline: true},
				"arm64-auto-base-unpatched-r2": {ID: "arm64-auto-base-unpatched-r2", Arch: "arm64", Accel: "auto",
					Configs: []string{}, Tests: []string{"robust-owner-death"}, Duration: 5 * time.Second, Repeat: 2},
			}
			found := 0
			for _, s := range specs {
				if w, ok := want[s.ID]; ok {
					found++
					if !reflect.DeepEqual(s, w) {
						t.Errorf("cell %s:\n got %+v\nwant %+v", s.ID, s, w)
					}
				}
			}
			if found != len(want) {
				t.Errorf("found %d of the expected cells in %v", found, ids)
			}
			if ids[0] != "arm64-auto-base-fix-a-r1" {
				t.Errorf("first ID %s", ids[0])
			}
		})
	}
}

func TestExpandDefaults(t *testing.T) {
	p, err := Parse("min.yaml", []byte("{}\n"), Check{})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := p.Expand()
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || specs[0].ID != "x86_64-auto-base-unpatched-r1" || specs[0].Repeat != 1 || specs[0].Baseline {
		t.Fatalf("defaults: %+v", specs)
	}
}

func TestLabels(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "linux")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	plan := `trees: ["", ` + tree + `]
series: [fix-a, other/fix-a, fix-b]
configs: [[debug, frags/extra.config]]
`
	p, err := Parse("testdata/labels.yaml", []byte(plan), Check{KconfigDir: kconfigDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := p.Expand()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range specs {
		ids = append(ids, s.ID)
	}
	want := []string{
		"x86_64-auto-debug+extra-debian-fix-a-r1",
		"x86_64-auto-debug+extra-debian-fix-b-r1",
		"x86_64-auto-debug+extra-debian-other_fix-a-r1",
		"x86_64-auto-debug+extra-linux-fix-a-r1",
		"x86_64-auto-debug+extra-linux-fix-b-r1",
		"x86_64-auto-debug+extra-linux-other_fix-a-r1",
	}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("ids:\n got %q\nwant %q", ids, want)
	}
	if got := specs[0].Configs; !reflect.DeepEqual(got, []string{"debug", filepath.Join("testdata", "frags", "extra.config")}) {
		t.Errorf("path fragments resolve against the plan: %q", got)
	}
	if specs[3].Tree != tree {
		t.Errorf("absolute tree %q", specs[3].Tree)
	}
}

func TestBadPlans(t *testing.T) {
	for _, tc := range []struct {
		name, plan, key, want string
	}{
		{"unknown key", "arches: [x86_64]\nflavour: [vanilla]\n", "flavour", "unknown key"},
		{"typo key", "arch: [x86_64]\n", "arch", "unknown key"},
		{"twice", "arches: [x86_64]\narches: [arm64]\n", "arches", ""},
		{"unknown arch", "arches: [riscv64]\n", "arches", "unknown arch"},
		{"arch not a list", "arches: x86_64\n", "arches", "want a list"},
		{"dup arch", "arches: [x86_64, amd64]\n", "arches", "twice"},
		{"bad accel", "accels: [hvf]\n", "accels", "want one of"},
		{"bad duration", "duration: 10 seconds\n", "duration", "duration"},
		{"duration int", "duration: 10\n", "duration", "Go duration"},
		{"negative duration", "duration: -5s\n", "duration", "negative"},
		{"repeats zero", "repeats: 0\n", "repeats", "want 1.."},
		{"repeats string", "repeats: many\n", "repeats", "want int"},
		{"baseline", "baseline: sometimes\n", "baseline", "want bool"},
		{"configs flat", "configs: [debug]\n", "configs", "list of fragment names"},
		{"configs scalar", "configs: debug\n", "configs", "list of fragment lists"},
		{"unknown fragment", "configs: [[nosuch]]\n", "configs", "nosuch"},
		{"dup config", "configs: [[debug], [debug]]\n", "configs", "twice"},
		{"unknown test", "tests: [no-such-test]\n", "tests", "unknown test"},
		{"missing series", "series: [does-not-exist]\n", "series", "does-not-exist"},
		{"missing tree", "trees: [/nonexistent/linux]\n", "trees", "/nonexistent/linux"},
		{"dup series", "series: [\"\", \"\"]\n", "series", "twice"},
		{"missing known issues", "known_issues: nope.yaml\n", "known_issues", "testdata/nope.yaml"},
		{"known issues list", "known_issues: [a.yaml]\n", "known_issues", "want str"},
		{"empty known issues", "known_issues: \"\"\n", "known_issues", "empty"},
		{"not a mapping", "- x86_64\n", "", "mapping"},
		{"empty", "", "", "empty"},
		{"syntax", "arches: [x86_64\n", "", "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join("testdata", "bad.yaml") // relative paths resolve in testdata/
			_, err := Parse(file, []byte(tc.plan), Check{Tests: testNames, KconfigDir: kconfigDir(t)})
			if err == nil {
				t.Fatal("accepted")
			}
			if !IsPlanError(err) {
				t.Errorf("%v is not a PlanError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, file) || !strings.Contains(msg, tc.key) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want the file %s, the key %q and %q", msg, file, tc.key, tc.want)
			}
		})
	}
}

func TestBadJSONPlan(t *testing.T) {
	_, err := Parse("p.json", []byte(`{"arches": ["x86_64"], "repeats": 1.5}`), Check{})
	if err == nil || !strings.Contains(err.Error(), "p.json") || !strings.Contains(err.Error(), "repeats") {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("p.json", []byte(`{"arches": ["x86_64"],}`), Check{})
	if err == nil || !strings.Contains(err.Error(), "p.json") {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("p.json", []byte(`{"archs": ["x86_64"]}`), Check{})
	if err == nil || !strings.Contains(err.Error(), "archs") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/nope.yaml", Check{})
	if err == nil || !IsPlanError(err) || !strings.Contains(err.Error(), "testdata/nope.yaml") {
		t.Fatalf("got %v", err)
	}
}

// known_issues is a path relative to the plan; the shipped nightly names
// the shipped known issues.
func TestPlanKnownIssues(t *testing.T) {
	p, err := Load("../../patches/nightly.yaml", Check{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.KnownIssues(); got != filepath.Join("../../patches", "known-issues.yaml") {
		t.Errorf("nightly known issues: %q", got)
	}
	// The file parses and has entries. Its expiry is enforced where it
	// belongs, by the nightly's own runs (exit 2 past the date), not by
	// the project's unit tests on the day it passes.
	written := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	if l, err := known.Load(p.KnownIssues(), written); err != nil || len(l.Entries) == 0 {
		t.Errorf("shipped known issues: %v", err)
	}
	p, err = Parse("testdata/plan.yaml", []byte("arches: [x86_64]\n"), Check{})
	if err != nil || p.KnownIssues() != "" {
		t.Errorf("no key: %q %v", p.KnownIssues(), err)
	}
}
