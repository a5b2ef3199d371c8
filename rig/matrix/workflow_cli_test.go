package matrix_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3/ffcli"
	"gopkg.in/yaml.v3"

	"github.com/rig-kernel/rig/rig/cli"
)

const root = "../.."

// workflows are the shipped CI files whose rig command lines are checked.
var workflows = []string{".github/workflows/nightly.yml", ".gitlab-ci.yml"}

// invocation is one rig command line of a CI script, resolved against the
// real command tree.
type invocation struct {
	line  string
	path  string            // "report merge"
	flags map[string]string // flag name -> value ("" for a boolean)
	args  []string          // positional arguments
	job   *yaml.Node        // the job (GitHub: its mapping; GitLab: the job)
}

// scripts returns every shell script of a workflow file: GitHub's steps'
// run and GitLab's script/before_script/after_script, each with its job.
func scripts(t *testing.T, file string) (map[*yaml.Node][]string, *yaml.Node) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[*yaml.Node][]string{}
	var walk func(n, job *yaml.Node, depth int)
	walk = func(n, job *yaml.Node, depth int) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				j := job
				if (depth == 0 && v.Kind == yaml.MappingNode) || (depth == 1 && job == nil) {
					j = v // GitLab: a top-level key; GitHub: a key under jobs
				}
				switch {
				case k == "run" && v.Kind == yaml.ScalarNode:
					out[job] = append(out[job], v.Value)
				case (k == "script" || k == "before_script" || k == "after_script") && v.Kind == yaml.SequenceNode:
					for _, s := range v.Content {
						out[j] = append(out[j], s.Value)
					}
				default:
					d := depth + 1
					if depth == 0 && k == "jobs" {
						d, j = 1, nil
					}
					walk(v, j, d)
				}
			}
		}
		for _, c := range n.Content {
			if n.Kind != yaml.MappingNode {
				walk(c, job, depth+1)
			}
		}
	}
	walk(doc.Content[0], nil, 0)
	return out, doc.Content[0]
}

// shellEnd are tokens after which a command line's words are another
// command's.
var shellEnd = map[string]bool{"|": true, "||": true, "&&": true, ";": true, "then": true, "fi": true}

// invocations finds the rig command lines of a workflow and checks each
// against the command tree: every subcommand and every flag must exist.
func invocations(t *testing.T, file string) []invocation {
	t.Helper()
	tree := cli.Tree()
	byJob, _ := scripts(t, file)
	var out []invocation
	for job, ss := range byJob {
		for _, s := range ss {
			for _, line := range strings.Split(strings.ReplaceAll(s, "\\\n", " "), "\n") {
				f := strings.Fields(line)
				for i := 0; i < len(f); i++ {
					if f[i] != "rig" && !strings.HasSuffix(f[i], "/rig") {
						continue
					}
					inv, errs := resolve(tree, line, f[i+1:])
					for _, e := range errs {
						t.Errorf("%s: %s", file, e)
					}
					if len(errs) == 0 || inv.path != "" && !strings.Contains(errs[0], "subcommand") {
						inv.job = job
						out = append(out, inv)
					}
					break
				}
			}
		}
	}
	return out
}

// resolve walks the words after "rig" down the command tree and parses
// the flags of the command reached; errs name each subcommand or flag that
// does not exist.
func resolve(c *ffcli.Command, line string, f []string) (inv invocation, errs []string) {
	inv = invocation{line: line, flags: map[string]string{}}
	i := 0
	for ; len(c.Subcommands) > 0; i++ {
		if i == len(f) {
			return inv, append(errs, fmt.Sprintf("%q: rig %s needs a subcommand", line, inv.path))
		}
		var next *ffcli.Command
		for _, s := range c.Subcommands {
			if s.Name == f[i] {
				next = s
			}
		}
		if next == nil {
			return inv, append(errs, fmt.Sprintf("%q: rig %s has no subcommand %q", line, inv.path, f[i]))
		}
		c, inv.path = next, strings.TrimSpace(inv.path+" "+f[i])
	}
	for ; i < len(f); i++ {
		a := f[i]
		if shellEnd[a] || strings.HasPrefix(a, ">") || strings.HasPrefix(a, "2>") {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			inv.args = append(inv.args, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		fl := c.FlagSet.Lookup(name)
		if fl == nil {
			errs = append(errs, fmt.Sprintf("%q: rig %s has no flag --%s", line, inv.path, name))
			continue
		}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); !hasVal && !(ok && b.IsBoolFlag()) && i+1 < len(f) {
			i++
			val = f[i]
		}
		inv.flags[name] = val
	}
	return inv, errs
}

// TestWorkflowCommands checks the rig command lines of the shipped CI
// workflows against the real CLI (every subcommand and flag must exist,
// so a renamed flag fails here, not at 2 a.m.), then the nightly history
// steps: merge with the shipped known issues and the previous night's
// history.json, rig report history over a kept directory of runs that the
// job caches and prunes by age, writing next to the merged report, which is
// published with the kept runs.
func TestWorkflowCommands(t *testing.T) {
	for _, file := range workflows {
		t.Run(filepath.Base(file), func(t *testing.T) {
			invs := invocations(t, file)
			var merges, histories []invocation
			for _, in := range invs {
				switch in.path {
				case "report merge":
					merges = append(merges, in)
				case "report history":
					histories = append(histories, in)
				}
			}
			if len(merges) == 0 || len(histories) != 1 {
				t.Fatalf("%d rig report merge and %d rig report history lines, want merges and one history", len(merges), len(histories))
			}
			outs := map[string]bool{}
			withHistory := false
			for _, m := range merges {
				if k := m.flags["known"]; k != "patches/known-issues.yaml" {
					t.Errorf("%q: --known %q, want patches/known-issues.yaml", m.line, k)
				}
				withHistory = withHistory || m.flags["history"] != ""
				if len(m.args) > 0 {
					outs[m.args[0]] = true
				}
			}
			if !withHistory {
				t.Error("no rig report merge passes --history (the previous night's history.json)")
			}
			h := histories[0]
			out := h.flags["o"]
			if !outs[out] || len(outs) != 1 {
				t.Errorf("%q: -o %q, want the merged report's directory %v (history.html next to it)", h.line, out, outs)
			}
			if len(h.args) != 1 {
				t.Fatalf("%q: want one RUN: the directory of kept runs", h.line)
			}
			kept := strings.SplitN(h.args[0], "/", 2)[0]
			job, _ := yaml.Marshal(h.job)
			for _, want := range []string{"days ago", "rm -rf", "cp " + out + "/run.json", out + "/history.json " + kept + "/"} {
				if !strings.Contains(string(job), want) {
					t.Errorf("the history job does not %q (keep tonight's run.json, prune by age, keep history.json)", want)
				}
			}
			cached, published := cachedAndPublished(t, file, h.job)
			if !contains(cached, kept) && !contains(cached, kept+"/") {
				t.Errorf("the history job caches %v, not %s", cached, kept)
			}
			// history.html links each night's report.html relative to itself.
			for _, p := range []string{out, h.args[0]} {
				if !contains(published, p) && !contains(published, p+"/") {
					t.Errorf("the history job publishes %v, not %s (history.html and the nights it links)", published, p)
				}
			}
		})
	}
}

// cachedAndPublished are the paths a job keeps in its cache (GitHub: saved
// by actions/cache/save and restored by actions/cache/restore) and uploads.
func cachedAndPublished(t *testing.T, file string, job *yaml.Node) (cached, published []string) {
	t.Helper()
	if strings.HasPrefix(file, ".github/") {
		var j struct {
			Steps []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		}
		if err := job.Decode(&j); err != nil {
			t.Fatal(err)
		}
		restored := map[string]bool{}
		for _, st := range j.Steps {
			switch {
			case strings.HasPrefix(st.Uses, "actions/cache/restore"):
				restored[st.With["path"]] = true
			case strings.HasPrefix(st.Uses, "actions/cache/save") && restored[st.With["path"]]:
				cached = append(cached, st.With["path"])
			case strings.HasPrefix(st.Uses, "actions/upload-artifact"):
				published = append(published, strings.Fields(st.With["path"])...)
			}
		}
		return cached, published
	}
	var j struct {
		Cache struct {
			Paths []string `yaml:"paths"`
		} `yaml:"cache"`
		Artifacts struct {
			Paths []string `yaml:"paths"`
		} `yaml:"artifacts"`
	}
	if err := job.Decode(&j); err != nil {
		t.Fatal(err)
	}
	return j.Cache.Paths, j.Artifacts.Paths
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// The check itself: a made-up subcommand or flag is refused, an existing
// one is not.
func TestWorkflowCommandsRefuse(t *testing.T) {
	tree := cli.Tree()
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"go run ./cmd/rig matrix patches/nightly.yaml --shard 1/4 --results r", true},
		{"go run ./cmd/rig report merge --known k.yaml out a b", true},
		{"go run ./cmd/rig matrix patches/nightly.yaml --shards 1/4", false},
		{"go run ./cmd/rig report mergeall out a", false},
		{"go run ./cmd/rig report", false},
	} {
		_, errs := resolve(tree, tc.line, strings.Fields(tc.line)[3:])
		if (len(errs) == 0) != tc.ok {
			t.Errorf("%q: errors %v, want ok %v", tc.line, errs, tc.ok)
		}
	}
}
