// Package matrix expands a plan into cells (run.Spec), runs them with
// bounded parallelism without building one kernel twice at once, slices
// them into shards for CI and merges the shards' results (docs/design.md,
// "Scale"). How one cell runs is the Executor's business (rig/run).
package matrix

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/kconfig"
	"github.com/rig-kernel/rig/rig/run"
)

// Spec is one cell of a plan, as rig/run describes a cell.
type Spec = run.Spec

// Plan is a parsed and validated plan file. Trees, series and path-like
// config fragments are kept as written; Expand resolves them against the
// plan file's directory.
type Plan struct {
	Path     string
	Trees    []string
	Series   []string
	Arches   []string
	Accels   []string
	Configs  [][]string
	Tests    []string
	Duration time.Duration
	Repeats  int
	Baseline bool
	// Known is the known-issues file (known_issues:), as written; "" for
	// none. KnownIssues resolves it.
	Known string

	lines map[string]int // key -> line in the file, for errors
}

// PlanError is a bad plan: it names the file, the key and (for YAML) the
// line. The CLI maps it to exit code 2.
type PlanError struct {
	File string
	Key  string // "" for the file as a whole
	Line int    // 0 when unknown (JSON plans)
	Err  error
}

func (e *PlanError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("plan %s: %v", loc, e.Err)
	}
	return fmt.Sprintf("plan %s: %s: %v", loc, e.Key, e.Err)
}

func (e *PlanError) Unwrap() error { return e.Err }

// Check is the optional validation that needs the rig's sources: the
// guest's test names and the kconfigs/ directory. Zero fields skip a check.
type Check struct {
	Tests      []string // known guest tests
	KconfigDir string   // kconfigs/ of the rig's sources (initramfs.Sources)
}

var knownKeys = []string{"trees", "series", "arches", "accels", "configs", "tests", "duration", "repeats", "baseline", "known_issues"}

var accels = []string{"auto", "kvm", "tcg"}

// maxRepeats guards against a typo turning a nightly into a month.
const maxRepeats = 1000

// maxDuration bounds a plan's duration, as the CLI bounds its flags: a
// typo cannot make a test of centuries or a timeout that overflows.
const maxDuration = 366 * 24 * time.Hour

// MaxCells bounds a plan's cells (the product of its lists and repeats):
// beyond it a plan is a mistake, and expanding it would exhaust memory.
// MaxPlanBytes bounds the plan file read.
const (
	MaxCells     = 10000
	MaxPlanBytes = 1 << 20
)

// TooManyCellsError is a plan whose lists multiply to more than MaxCells.
type TooManyCellsError struct {
	Cells uint64 // the product, saturated at the largest uint64
}

func (e *TooManyCellsError) Error() string {
	return fmt.Sprintf("%d cells (trees x series x arches x accels x configs x repeats), more than the %d a plan may have: split it into several plans", e.Cells, MaxCells)
}

// Load reads a YAML or JSON plan (JSON when the name ends in .json) and
// validates it: unknown keys, wrong types, unknown arches, accels, tests or
// fragments, missing trees or series, and duplicates are PlanErrors.
func Load(path string, chk Check) (*Plan, error) {
	b, err := safefile.ReadFile(path, MaxPlanBytes)
	if err != nil {
		return nil, &PlanError{File: path, Err: err}
	}
	return Parse(path, b, chk)
}

// Parse is Load on bytes already read; path names the file in errors and
// anchors relative paths.
func Parse(path string, data []byte, chk Check) (*Plan, error) {
	perr := func(key string, line int, format string, a ...any) error {
		return &PlanError{File: path, Key: key, Line: line, Err: fmt.Errorf(format, a...)}
	}
	var root *yaml.Node
	if strings.HasSuffix(path, ".json") {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, &PlanError{File: path, Err: err}
		}
		root = new(yaml.Node)
		if err := root.Encode(v); err != nil {
			return nil, &PlanError{File: path, Err: err}
		}
		clearLines(root) // re-encoded: its line numbers are not the file's
	} else {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, &PlanError{File: path, Err: err}
		}
		if len(doc.Content) == 0 {
			return nil, perr("", 0, "empty plan")
		}
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, perr("", root.Line, "want a mapping of %s", strings.Join(knownKeys, ", "))
	}
	p := &Plan{Path: path, Repeats: 1, lines: map[string]int{}}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if seen[key] {
			return nil, perr(key, k.Line, "given twice")
		}
		seen[key] = true
		p.lines[key] = v.Line
		var err error
		switch key {
		case "trees":
			p.Trees, err = nonEmpty(strings1(v, true))
		case "series":
			p.Series, err = nonEmpty(strings1(v, true))
		case "arches":
			p.Arches, err = nonEmpty(strings1(v, false))
		case "accels":
			p.Accels, err = nonEmpty(strings1(v, false))
		case "tests":
			p.Tests, err = strings1(v, false)
		case "configs":
			p.Configs, err = strings2(v)
		case "duration":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
				err = fmt.Errorf("want a Go duration string such as \"30s\" or \"2m\", got %q", v.Value)
				break
			}
			p.Duration, err = time.ParseDuration(v.Value)
			if err == nil && p.Duration < 0 {
				err = fmt.Errorf("%s: must not be negative", v.Value)
			}
			if err == nil && p.Duration > maxDuration {
				err = fmt.Errorf("%s: over %s, the most a duration may be", v.Value, maxDuration)
			}
		case "repeats":
			if err = decodeTag(v, "!!int", &p.Repeats); err == nil && (p.Repeats < 1 || p.Repeats > maxRepeats) {
				err = fmt.Errorf("%d: want 1..%d", p.Repeats, maxRepeats)
			}
		case "baseline":
			err = decodeTag(v, "!!bool", &p.Baseline)
		case "known_issues":
			err = decodeTag(v, "!!str", &p.Known)
			if err == nil && p.Known == "" {
				err = errors.New("empty: name a known-issues file, or leave the key out")
			}
		default:
			return nil, perr(key, k.Line, "unknown key (known: %s)", strings.Join(knownKeys, ", "))
		}
		if err != nil {
			return nil, &PlanError{File: path, Key: key, Line: v.Line, Err: err}
		}
	}
	if err := p.normalize(chk); err != nil {
		return nil, err
	}
	return p, nil
}

func clearLines(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearLines(c)
	}
}

func decodeTag(v *yaml.Node, tag string, dst any) error {
	if v.Kind != yaml.ScalarNode || v.Tag != tag {
		return fmt.Errorf("want %s, got %q", strings.TrimPrefix(tag, "!!"), v.Value)
	}
	return v.Decode(dst)
}

// nonEmpty refuses an empty list (or none: "arches:") where it would
// silently mean the key's default (tests: [] is documented as all tests).
func nonEmpty(l []string, err error) ([]string, error) {
	if err == nil && len(l) == 0 {
		err = fmt.Errorf("an empty list would mean the default: leave the key out for that")
	}
	return l, err
}

// strings1 decodes a list of scalars; null items are "" when allowEmpty.
func strings1(v *yaml.Node, allowEmpty bool) ([]string, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list, e.g. [a, b]")
	}
	var out []string
	for i, it := range v.Content {
		if it.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("item %d: want a string", i+1)
		}
		s := it.Value
		if it.Tag == "!!null" {
			s = ""
		}
		if s == "" && !allowEmpty {
			return nil, fmt.Errorf("item %d: empty", i+1)
		}
		out = append(out, s)
	}
	return out, nil
}

// strings2 decodes a list of lists of fragment names.
func strings2(v *yaml.Node) ([][]string, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list of fragment lists, e.g. [[], [debug]]")
	}
	var out [][]string
	for i, it := range v.Content {
		if it.Kind != yaml.SequenceNode && !(it.Kind == yaml.ScalarNode && it.Tag == "!!null") {
			return nil, fmt.Errorf("item %d: want a list of fragment names, e.g. [debug] ([] for none)", i+1)
		}
		l, err := strings1(it, false)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		if l == nil {
			l = []string{}
		}
		out = append(out, l)
	}
	return out, nil
}

// normalize fills defaults, canonicalizes and validates.
func (p *Plan) normalize(chk Check) error {
	perr := func(key string, format string, a ...any) error {
		return &PlanError{File: p.Path, Key: key, Line: p.lines[key], Err: fmt.Errorf(format, a...)}
	}
	if len(p.Trees) == 0 {
		p.Trees = []string{""}
	}
	if len(p.Series) == 0 {
		p.Series = []string{""}
	}
	if len(p.Arches) == 0 {
		p.Arches = []string{"x86_64"}
	}
	if len(p.Accels) == 0 {
		p.Accels = []string{"auto"}
	}
	if len(p.Configs) == 0 {
		p.Configs = [][]string{{}}
	}
	// Before any per-item check: those stat files and read fragments.
	if n := p.cellCount(); n > MaxCells {
		return &PlanError{File: p.Path, Err: &TooManyCellsError{Cells: n}}
	}
	for i, a := range p.Arches {
		ar, err := arch.Lookup(a)
		if err != nil {
			return perr("arches", "%v", err)
		}
		p.Arches[i] = ar.Name
	}
	for _, a := range p.Accels {
		if !slices.Contains(accels, a) {
			return perr("accels", "%q: want one of %s", a, strings.Join(accels, ", "))
		}
	}
	for _, t := range p.Tests {
		if len(chk.Tests) > 0 && !slices.Contains(chk.Tests, t) {
			return perr("tests", "unknown test %q (known: %s)", t, strings.Join(chk.Tests, ", "))
		}
	}
	for _, kl := range []struct {
		key string
		l   []string
	}{{"trees", p.Trees}, {"series", p.Series}, {"arches", p.Arches}, {"accels", p.Accels}, {"tests", p.Tests}} {
		if d, ok := dup(kl.l); ok {
			return perr(kl.key, "%q listed twice", d)
		}
	}
	var cfgKeys []string
	for _, c := range p.Configs {
		for _, f := range c {
			if strings.Contains(f, "+") {
				return perr("configs", "fragment %q: '+' is reserved (it joins fragment names)", f)
			}
		}
		if chk.KconfigDir != "" {
			if _, err := kconfig.Resolve(chk.KconfigDir, p.resolveFrags(c)); err != nil {
				return perr("configs", "%v", err)
			}
		}
		cfgKeys = append(cfgKeys, strings.Join(c, "\x00"))
	}
	if _, ok := dup(cfgKeys); ok {
		return perr("configs", "a fragment list is given twice")
	}
	for _, t := range p.Trees {
		if t == "" {
			continue
		}
		if _, err := os.Stat(p.resolve(t)); err != nil {
			return perr("trees", "%v (relative paths are relative to the plan file)", err)
		}
	}
	for _, s := range p.Series {
		if s == "" {
			continue
		}
		if _, err := os.Stat(p.resolve(s)); err != nil {
			return perr("series", "%v (relative paths are relative to the plan file)", err)
		}
	}
	if p.Known != "" {
		if _, err := os.Stat(p.KnownIssues()); err != nil {
			return perr("known_issues", "%v (relative paths are relative to the plan file)", err)
		}
	}
	// The labels must be unique; this reports a collision as a plan error.
	if _, err := p.Expand(); err != nil {
		return err
	}
	return nil
}

// dup returns the first item given twice.
func dup(l []string) (string, bool) {
	seen := map[string]bool{}
	for _, x := range l {
		if seen[x] {
			return x, true
		}
		seen[x] = true
	}
	return "", false
}

// resolve makes a path relative to the plan file's directory.
// KnownIssues is the plan's known-issues file resolved against the plan's
// directory; "" when the plan names none.
func (p *Plan) KnownIssues() string {
	if p.Known == "" {
		return ""
	}
	return p.resolve(p.Known)
}

func (p *Plan) resolve(s string) string {
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(filepath.Dir(p.Path), s)
}

// resolveFrags resolves path-like fragments (those kconfig treats as paths:
// with a '/' or a .config suffix) against the plan file; names stay names.
func (p *Plan) resolveFrags(c []string) []string {
	out := make([]string, 0, len(c))
	for _, f := range c {
		if strings.ContainsRune(f, '/') || strings.HasSuffix(f, ".config") {
			f = p.resolve(f)
		}
		out = append(out, f)
	}
	return out
}

// Expand returns the plan's cells, the cartesian product of trees, series,
// arches, accels, configs and repeats, sorted by ID.
//
// An ID reads ARCH-ACCEL-CONFIG[-TREE]-SERIES-rN, e.g.
// x86_64-tcg-debug-example-r1: CONFIG is the extra fragments joined by '+'
// ("base" for none), TREE appears only when the plan names a tree other than
// the default (which is then "debian"), SERIES is the series' base name
// ("unpatched" for the base tree). When two paths share a base name, the
// whole path as written is used instead.
func (p *Plan) Expand() ([]Spec, error) {
	if n := p.cellCount(); n > MaxCells {
		return nil, &PlanError{File: p.Path, Err: &TooManyCellsError{Cells: n}}
	}
	treeL, err := labels(p.Trees, "debian")
	if err != nil {
		return nil, &PlanError{File: p.Path, Key: "trees", Line: p.lines["trees"], Err: err}
	}
	seriesL, err := labels(p.Series, "unpatched")
	if err != nil {
		return nil, &PlanError{File: p.Path, Key: "series", Line: p.lines["series"], Err: err}
	}
	showTree := len(p.Trees) > 1 || p.Trees[0] != ""
	var specs []Spec
	seen := map[string]bool{}
	for ti, tree := range p.Trees {
		for si, series := range p.Series {
			for _, a := range p.Arches {
				for _, acc := range p.Accels {
					for _, cfg := range p.Configs {
						for r := 1; r <= p.Repeats; r++ {
							parts := []string{a, acc, configLabel(cfg)}
							if showTree {
								parts = append(parts, treeL[ti])
							}
							parts = append(parts, seriesL[si], fmt.Sprintf("r%d", r))
							id := strings.Join(parts, "-")
							if err := safefile.CheckName(id); err != nil {
								return nil, &PlanError{File: p.Path, Err: fmt.Errorf("cell ID %.60s... is %d bytes, more than a directory name may have: shorten fragment, tree or series names", id, len(id))}
							}
							if seen[id] {
								return nil, &PlanError{File: p.Path, Err: fmt.Errorf("two cells would be called %s: rename a fragment, tree or series", id)}
							}
							seen[id] = true
							specs = append(specs, Spec{
								ID: id, Tree: p.resolve(tree), Series: p.resolve(series), Arch: a, Accel: acc,
								Configs: p.resolveFrags(cfg), Tests: append([]string(nil), p.Tests...),
								Duration: p.Duration, Repeat: r, Baseline: p.Baseline && series != "",
							})
						}
					}
				}
			}
		}
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].ID < specs[j].ID })
	return specs, nil
}

// cellCount is the number of cells Expand makes, saturating instead of
// overflowing.
func (p *Plan) cellCount() uint64 {
	n := uint64(1)
	for _, k := range []int{len(p.Trees), len(p.Series), len(p.Arches), len(p.Accels), len(p.Configs), max(p.Repeats, 0)} {
		if k != 0 && n > math.MaxUint64/uint64(k) {
			return math.MaxUint64
		}
		n *= uint64(k)
	}
	return n
}

func configLabel(c []string) string {
	if len(c) == 0 {
		return "base"
	}
	var l []string
	for _, f := range c {
		l = append(l, sanitize(strings.TrimSuffix(filepath.Base(f), ".config")))
	}
	return strings.Join(l, "+")
}

// labels names paths by base name, falling back to the path as written when
// base names collide.
func labels(paths []string, empty string) ([]string, error) {
	out := make([]string, len(paths))
	count := map[string]int{}
	for i, p := range paths {
		if p == "" {
			out[i] = empty
		} else {
			out[i] = sanitize(filepath.Base(filepath.Clean(p)))
		}
		count[out[i]]++
	}
	for i, p := range paths {
		if count[out[i]] > 1 && p != "" {
			out[i] = sanitize(strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/"))
		}
	}
	seen := map[string]string{}
	for i, l := range out {
		if prev, ok := seen[l]; ok {
			return nil, fmt.Errorf("%q and %q would share the label %q in cell IDs", prev, paths[i], l)
		}
		seen[l] = paths[i]
	}
	return out, nil
}

// sanitize keeps a label usable in a directory name ('/' becomes '_').
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// IsPlanError reports whether err is a bad plan (a usage error).
func IsPlanError(err error) bool {
	var pe *PlanError
	return errors.As(err, &pe)
}
