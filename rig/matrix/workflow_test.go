package matrix

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the checkout, two levels up from rig/matrix.
const repoRoot = "../.."

type ghWorkflow struct {
	Jobs map[string]ghJob `yaml:"jobs"`
}

type ghJob struct {
	Needs    yaml.Node `yaml:"needs"` // a job name or a list of them
	Strategy struct {
		Matrix map[string]yaml.Node `yaml:"matrix"`
	} `yaml:"strategy"`
	Steps []struct {
		Name string         `yaml:"name"`
		Uses string         `yaml:"uses"`
		Run  string         `yaml:"run"`
		With map[string]any `yaml:"with"`
	} `yaml:"steps"`
}

func (j ghJob) needs() []string {
	var l []string
	switch j.Needs.Kind {
	case yaml.ScalarNode:
		l = []string{j.Needs.Value}
	case yaml.SequenceNode:
		_ = j.Needs.Decode(&l)
	}
	return l
}

// rigCommand is one `rig matrix` invocation found in a CI script.
type rigCommand struct {
	line  string
	plan  string
	shard string
	list  bool
	flags map[string]string
}

// boolFlags of `rig matrix`; every other flag takes a value.
var boolFlags = map[string]bool{"list": true, "allow-missing-config": true}

// rigMatrixCommands finds the `rig matrix` commands in a script (after
// replacing the CI engine's shard expressions with $SHARD and $TOTAL).
func rigMatrixCommands(t *testing.T, script string, subst map[*regexp.Regexp]string) []rigCommand {
	t.Helper()
	var out []rigCommand
	for _, line := range strings.Split(script, "\n") {
		for re, v := range subst {
			line = re.ReplaceAllLiteralString(line, v)
		}
		f := strings.Fields(line)
		at := -1
		for i := 0; i+1 < len(f); i++ {
			if (f[i] == "rig" || strings.HasSuffix(f[i], "/rig") || strings.HasSuffix(f[i], "cmd/rig")) && f[i+1] == "matrix" {
				at = i + 2
				break
			}
		}
		if at < 0 {
			continue
		}
		c := rigCommand{line: line, flags: map[string]string{}}
		for i := at; i < len(f); i++ {
			a := f[i]
			if !strings.HasPrefix(a, "-") {
				if c.plan != "" {
					t.Errorf("%q: two positional arguments", line)
				}
				c.plan = strings.Trim(a, `"'`)
				continue
			}
			name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !boolFlags[name] && !hasVal && i+1 < len(f) {
				i++
				val = f[i]
			}
			c.flags[name] = strings.Trim(val, `"'`)
		}
		c.shard, c.list = c.flags["shard"], hasKey(c.flags, "list")
		out = append(out, c)
	}
	return out
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// checkCoverage proves that `rig matrix PLAN --list --shard i/n` for every i
// lists every cell of the plan exactly once, and that no shard is idle.
func checkCoverage(t *testing.T, plan string, n int) {
	t.Helper()
	chk := Check{KconfigDir: filepath.Join(repoRoot, "kconfigs")}
	all, err := Cells(plan, chk, Shard{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 1; i <= n; i++ {
		part, err := Cells(plan, chk, Shard{i, n})
		if err != nil {
			t.Fatal(err)
		}
		if len(part) == 0 {
			t.Errorf("shard %d/%d of %s has no cells: a CI job would idle", i, n, plan)
		}
		for _, s := range part {
			if prev, ok := seen[s.ID]; ok {
				t.Errorf("%s listed by shards %d and %d", s.ID, prev, i)
			}
			seen[s.ID] = i
		}
	}
	for _, s := range all {
		if _, ok := seen[s.ID]; !ok {
			t.Errorf("%s is in no shard of %d", s.ID, n)
		}
	}
	if len(seen) != len(all) {
		t.Errorf("shards list %d cells, the plan has %d", len(seen), len(all))
	}
}

func checkPlanRef(t *testing.T, c rigCommand) string {
	t.Helper()
	if c.plan == "" {
		t.Errorf("%q names no plan", c.line)
		return ""
	}
	if filepath.IsAbs(c.plan) || strings.Contains(c.plan, "$") {
		t.Errorf("%q: the plan should be a fixed path in the repository", c.line)
		return ""
	}
	p := filepath.Join(repoRoot, c.plan)
	if _, err := os.Stat(p); err != nil {
		t.Errorf("%q: plan %v", c.line, err)
		return ""
	}
	return p
}

func TestNightlyWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".github/workflows/nightly.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf ghWorkflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	subst := map[*regexp.Regexp]string{regexp.MustCompile(`\$\{\{\s*matrix\.shard\s*\}\}`): "$SHARD"}

	var shardJob string
	n := 0
	for name, j := range wf.Jobs {
		node, ok := j.Strategy.Matrix["shard"]
		if !ok {
			continue
		}
		if shardJob != "" {
			t.Fatalf("two sharded jobs: %s and %s", shardJob, name)
		}
		shardJob = name
		var shards []int
		if err := node.Decode(&shards); err != nil {
			t.Fatalf("job %s: strategy.matrix.shard: %v", name, err)
		}
		n = len(shards)
		for i, s := range shards {
			if s != i+1 {
				t.Fatalf("job %s: shards %v, want exactly 1..%d", name, shards, n)
			}
		}
	}
	if shardJob == "" || n < 2 {
		t.Fatalf("no job with strategy.matrix.shard [1..N], N >= 2")
	}

	plans := map[string]bool{}
	runs := 0
	for name, j := range wf.Jobs {
		for _, st := range j.Steps {
			for _, c := range rigMatrixCommands(t, st.Run, subst) {
				if name != shardJob {
					t.Errorf("job %s runs rig matrix outside the shard matrix: %q", name, c.line)
				}
				if p := checkPlanRef(t, c); p != "" {
					plans[p] = true
				}
				if want := fmt.Sprintf("$SHARD/%d", n); c.shard != want {
					t.Errorf("job %s: %q: --shard %q, want %q (the shard list has %d entries)", name, c.line, c.shard, want, n)
				}
				if !c.list {
					runs++
					if !strings.Contains(c.flags["results"], "$SHARD") {
						t.Errorf("%q: --results must be per shard", c.line)
					}
				}
			}
		}
	}
	if runs != 1 {
		t.Errorf("the shard job runs rig matrix %d times, want once", runs)
	}
	if len(plans) != 1 {
		t.Fatalf("plans referenced: %v, want exactly one", plans)
	}

	// The shard job's plumbing, and the merge job.
	var uses []string
	for _, st := range wf.Jobs[shardJob].Steps {
		uses = append(uses, st.Uses)
		if strings.HasPrefix(st.Uses, "actions/cache") && !strings.Contains(fmt.Sprint(st.With["path"]), "~/.cache") {
			t.Errorf("the cache step should keep ~/.cache: %v", st.With)
		}
	}
	for _, want := range []string{"actions/checkout", "actions/setup-go", "actions/cache", "actions/upload-artifact"} {
		if !strings.Contains(strings.Join(uses, " "), want) {
			t.Errorf("shard job does not use %s", want)
		}
	}
	merged := false
	for name, j := range wf.Jobs {
		for _, st := range j.Steps {
			if strings.Contains(st.Run, "rig report merge") {
				merged = true
				if !strings.Contains(strings.Join(j.needs(), " "), shardJob) {
					t.Errorf("job %s merges without needing %s", name, shardJob)
				}
			}
		}
	}
	if !merged {
		t.Error("no job runs rig report merge")
	}

	for p := range plans {
		checkCoverage(t, p, n)
	}
}

func TestNightlyGitLab(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".gitlab-ci.yml"))
	if os.IsNotExist(err) {
		t.Skip("no .gitlab-ci.yml")
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	type glJob struct {
		Parallel int      `yaml:"parallel"`
		Script   []string `yaml:"script"`
		Needs    []string `yaml:"needs"`
	}
	subst := map[*regexp.Regexp]string{
		regexp.MustCompile(`\$\{?CI_NODE_INDEX\}?`): "$SHARD",
		regexp.MustCompile(`\$\{?CI_NODE_TOTAL\}?`): "$TOTAL",
	}
	shardJob, n, merged := "", 0, false
	jobs := map[string]glJob{}
	for name, node := range doc {
		if node.Kind != yaml.MappingNode || strings.HasPrefix(name, ".") {
			continue
		}
		var j glJob
		if err := node.Decode(&j); err != nil {
			continue // not a job (variables, workflow, ...)
		}
		jobs[name] = j
	}
	for name, j := range jobs {
		for _, line := range j.Script {
			for _, c := range rigMatrixCommands(t, line, subst) {
				if j.Parallel < 2 {
					t.Errorf("job %s runs rig matrix without parallel: N", name)
				}
				shardJob, n = name, j.Parallel
				if c.shard != "$SHARD/$TOTAL" {
					t.Errorf("%q: --shard %q, want ${CI_NODE_INDEX}/${CI_NODE_TOTAL}", c.line, c.shard)
				}
				if p := checkPlanRef(t, c); p != "" {
					checkCoverage(t, p, n)
				}
			}
		}
	}
	for name, j := range jobs {
		for _, line := range j.Script {
			if strings.Contains(line, "rig report merge") {
				merged = true
				if !strings.Contains(strings.Join(j.Needs, " "), shardJob) || shardJob == "" {
					t.Errorf("job %s merges without needing the shard job %q", name, shardJob)
				}
			}
		}
	}
	if shardJob == "" || !merged {
		t.Errorf("want a parallel shard job (found %q) and a merge job (%v)", shardJob, merged)
	}
}
