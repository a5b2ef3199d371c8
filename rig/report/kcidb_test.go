package report_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/report"
)

// The parts of KCIDB I/O schema v4.5 (kernelci/kcidb-io,
// kcidb_io/schema/v04_05.py, patterns from v03_00.py) that kcidb.json uses,
// transcribed as data: every object has "additionalProperties": false, so
// the property lists are complete for the three object types.
type prop struct {
	typ     string // string, number, boolean, object, array, resources, environment
	pattern string
	enum    []string
	format  string // date-time, uri
	maxLen  int
}

const (
	originIDPattern = `^[a-z0-9_]+:.*$`
	originPattern   = `^[a-z0-9_]+$`
)

var (
	statusEnum = []string{"FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP"}
	str        = prop{typ: "string"}
	dateTime   = prop{typ: "string", format: "date-time"}
	uri        = prop{typ: "string", format: "uri"}
	excerptP   = prop{typ: "string", maxLen: 16384}
	idP        = prop{typ: "string", pattern: originIDPattern}
	originP    = prop{typ: "string", pattern: originPattern}
)

type objSchema struct {
	required []string
	props    map[string]prop
}

var kcidbSchema = map[string]objSchema{
	"checkouts": {
		required: []string{"id", "origin"},
		props: map[string]prop{
			"_timestamp": dateTime, "id": idP, "origin": originP, "tree_name": str,
			"git_repository_url":    {typ: "string", format: "uri", pattern: `^(https|git)://.*$`},
			"git_commit_hash":       {typ: "string", pattern: `^[0-9a-f]{40}$`},
			"git_commit_name":       str,
			"git_repository_branch": str,
			"patchset_files":        {typ: "resources"},
			"patchset_hash":         {typ: "string", pattern: `^$|^[0-9a-f]{64}$`},
			"message_id":            str, "comment": str, "start_time": dateTime,
			"contacts": {typ: "array"}, "log_url": uri, "log_excerpt": excerptP,
			"valid": {typ: "boolean"}, "misc": {typ: "object"},
		},
	},
	"builds": {
		required: []string{"checkout_id", "id", "origin"},
		props: map[string]prop{
			"_timestamp": dateTime, "checkout_id": idP, "id": idP, "origin": originP,
			"comment": str, "start_time": dateTime, "duration": {typ: "number"},
			"architecture": {typ: "string", pattern: `^[a-z0-9_]*$`},
			"command":      str, "compiler": str,
			"input_files": {typ: "resources"}, "output_files": {typ: "resources"},
			"config_name": str, "config_url": uri, "log_url": uri, "log_excerpt": excerptP,
			"valid": {typ: "boolean"}, "misc": {typ: "object"},
		},
	},
	"tests": {
		required: []string{"build_id", "id", "origin"},
		props: map[string]prop{
			"_timestamp": dateTime, "build_id": idP, "id": idP, "origin": originP,
			"environment": {typ: "environment"},
			"path":        {typ: "string", pattern: `^[.a-zA-Z0-9_-]*$`},
			"comment":     str, "log_url": uri, "log_excerpt": excerptP,
			"status": {typ: "string", enum: statusEnum},
			"number": {typ: "object"}, "waived": {typ: "boolean"},
			"start_time": dateTime, "duration": {typ: "number"},
			"output_files": {typ: "resources"}, "misc": {typ: "object"},
		},
	},
}

// checkKCIDB validates a data set against kcidbSchema, plus what the schema
// states in prose: ids unique per type, links between objects resolve, no
// nulls. absolute demands absolute URIs (what a strict "format": "uri"
// checker wants); otherwise URI references must parse.
func checkKCIDB(b []byte, absolute bool) []string {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		return []string{err.Error()}
	}
	v, ok := top["version"].(map[string]any)
	if !ok {
		return []string{`missing required "version"`}
	}
	for k := range v {
		if k != "major" && k != "minor" {
			bad("version: unexpected %q", k)
		}
	}
	if v["major"] != float64(4) {
		bad("version.major = %v, want 4", v["major"])
	}
	if m, ok := v["minor"].(float64); ok && (m < 0 || m > 5 || m != float64(int(m))) {
		bad("version.minor = %v, want an integer 0..5", m)
	}
	for k := range top {
		switch k {
		case "version", "checkouts", "builds", "tests", "issues", "incidents":
		default:
			bad("top level: unexpected %q", k)
		}
	}
	ids := map[string]map[string]bool{}
	type ref struct{ from, kind, id string }
	var refs []ref
	for _, kind := range []string{"checkouts", "builds", "tests"} {
		ids[kind] = map[string]bool{}
		raw, ok := top[kind]
		if !ok {
			continue
		}
		list, ok := raw.([]any)
		if !ok {
			bad("%s: not an array", kind)
			continue
		}
		sch := kcidbSchema[kind]
		for i, o := range list {
			obj, ok := o.(map[string]any)
			where := fmt.Sprintf("%s[%d]", kind, i)
			if !ok {
				bad("%s: not an object", where)
				continue
			}
			for _, r := range sch.required {
				if _, ok := obj[r]; !ok {
					bad("%s: missing required %q", where, r)
				}
			}
			for k, val := range obj {
				p, ok := sch.props[k]
				if !ok {
					bad("%s: property %q not in the schema", where, k)
					continue
				}
				for _, e := range checkValue(p, val, absolute) {
					bad("%s.%s: %s", where, k, e)
				}
			}
			id, _ := obj["id"].(string)
			if ids[kind][id] {
				bad("%s: duplicate id %q", where, id)
			}
			ids[kind][id] = true
			if s, ok := obj["checkout_id"].(string); ok {
				refs = append(refs, ref{where, "checkouts", s})
			}
			if s, ok := obj["build_id"].(string); ok {
				refs = append(refs, ref{where, "builds", s})
			}
		}
	}
	for _, r := range refs {
		if !ids[r.kind][r.id] {
			bad("%s: refers to missing %s %q", r.from, r.kind, r.id)
		}
	}
	return errs
}

func checkValue(p prop, val any, absolute bool) []string {
	var errs []string
	switch p.typ {
	case "string":
		s, ok := val.(string)
		if !ok {
			return []string{fmt.Sprintf("%v is not a string", val)}
		}
		if p.pattern != "" && !regexp.MustCompile(p.pattern).MatchString(s) {
			errs = append(errs, fmt.Sprintf("%q does not match %s", s, p.pattern))
		}
		if p.enum != nil && !slices.Contains(p.enum, s) {
			errs = append(errs, fmt.Sprintf("%q not in %v", s, p.enum))
		}
		if p.maxLen > 0 && len([]rune(s)) > p.maxLen {
			errs = append(errs, fmt.Sprintf("longer than %d", p.maxLen))
		}
		switch p.format {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				errs = append(errs, err.Error())
			}
		case "uri":
			u, err := url.Parse(s)
			if err != nil || absolute && !u.IsAbs() || !absolute && u.Scheme != "" {
				errs = append(errs, fmt.Sprintf("%q is not a valid (absolute=%v) URI", s, absolute))
			}
		}
	case "number":
		if _, ok := val.(float64); !ok {
			errs = append(errs, fmt.Sprintf("%v is not a number", val))
		}
	case "boolean":
		if _, ok := val.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%v is not a boolean", val))
		}
	case "object":
		if _, ok := val.(map[string]any); !ok {
			errs = append(errs, fmt.Sprintf("%v is not an object", val))
		}
	case "array":
		if _, ok := val.([]any); !ok {
			errs = append(errs, fmt.Sprintf("%v is not an array", val))
		}
	case "environment":
		env, ok := val.(map[string]any)
		if !ok {
			return []string{"not an object"}
		}
		for k, x := range env {
			switch k {
			case "comment":
				errs = append(errs, checkValue(str, x, absolute)...)
			case "misc":
				errs = append(errs, checkValue(prop{typ: "object"}, x, absolute)...)
			case "compatible":
				errs = append(errs, checkValue(prop{typ: "array"}, x, absolute)...)
			default:
				errs = append(errs, fmt.Sprintf("environment: unexpected %q", k))
			}
		}
	case "resources":
		list, ok := val.([]any)
		if !ok {
			return []string{"not an array"}
		}
		for _, x := range list {
			r, ok := x.(map[string]any)
			if !ok || len(r) != 2 {
				errs = append(errs, fmt.Sprintf("resource %v: want exactly name and url", x))
				continue
			}
			errs = append(errs, checkValue(prop{typ: "string", pattern: `^[^/]+$`}, r["name"], absolute)...)
			errs = append(errs, checkValue(uri, r["url"], absolute)...)
		}
	}
	if val == nil {
		errs = append(errs, "null")
	}
	return errs
}

func writePatches(t *testing.T) (string, []report.PatchFile) {
	t.Helper()
	dir := t.TempDir()
	files := []report.PatchFile{
		{Name: "0001-futex-robust-unlock.patch", Data: []byte("From: a\nSubject: [PATCH 1/2] futex: add FUTEX_ROBUST_UNLOCK\n\n---\n")},
		{Name: "0002-futex-vdso.patch", Data: []byte("From: a\nSubject: [PATCH 2/2] x86/vdso: robust try_unlock\n\n---\n")},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

// TestPatchsetHash checks the hash against the schema's own recipe, run by
// a shell when coreutils are there, and against a by-hand computation.
func TestPatchsetHash(t *testing.T) {
	dir, files := writePatches(t)
	got := report.PatchsetHash(files)
	var lines string
	for _, f := range files {
		s := sha256.Sum256(f.Data)
		lines += hex.EncodeToString(s[:]) + "\n"
	}
	s := sha256.Sum256([]byte(lines))
	if want := hex.EncodeToString(s[:]); got != want {
		t.Errorf("PatchsetHash = %s, want %s", got, want)
	}
	if report.PatchsetHash(nil) != "" {
		t.Error("no patches should hash to the empty string")
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sh", "-c", "sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("PatchsetHash = %s, the schema's shell recipe gives %s", got, want)
		}
	}
}

type kTest struct {
	ID, Path, Status, Comment string
	BuildID                   string `json:"build_id"`
	LogURL                    string `json:"log_url"`
	LogExcerpt                string `json:"log_excerpt"`
}

func TestKCIDB(t *testing.T) {
	r, dir := fixtureRun(t)
	_, patches := writePatches(t)
	if err := report.WriteKCIDB(dir, r, report.KCIDBOptions{Patches: patches, TreeName: "debian", GitCommitHash: strings.Repeat("ab", 20)}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, report.KCIDBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range checkKCIDB(b, false) {
		t.Error(e)
	}
	var d struct {
		Version   struct{ Major, Minor int }
		Checkouts []struct {
			ID            string
			TreeName      string  `json:"tree_name"`
			GitCommitHash string  `json:"git_commit_hash"`
			PatchsetHash  *string `json:"patchset_hash"`
			Valid         *bool
			LogExcerpt    string `json:"log_excerpt"`
		}
		Builds []struct {
			ID, Architecture string
			CheckoutID       string `json:"checkout_id"`
			ConfigName       string `json:"config_name"`
			LogURL           string `json:"log_url"`
			LogExcerpt       string `json:"log_excerpt"`
			StartTime        string `json:"start_time"`
			Duration         *float64
			Valid            *bool
		}
		Tests []kTest
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Version.Major != 4 || d.Version.Minor != report.KCIDBMinor {
		t.Errorf("version %+v", d.Version)
	}
	if len(d.Checkouts) != 2 {
		t.Fatalf("%d checkouts, want 2 (bare tree for the baseline, and the series)", len(d.Checkouts))
	}
	base, series := d.Checkouts[0], d.Checkouts[1]
	if base.PatchsetHash == nil || *base.PatchsetHash != "" {
		t.Errorf("baseline checkout patchset_hash %v, want \"\"", base.PatchsetHash)
	}
	if series.PatchsetHash == nil || *series.PatchsetHash != report.PatchsetHash(patches) {
		t.Errorf("series checkout patchset_hash %v", series.PatchsetHash)
	}
	if series.Valid == nil || *series.Valid || !strings.Contains(series.LogExcerpt, "hunk #2 FAILED") {
		t.Errorf("series checkout: valid %v excerpt %q, want false and the patch error", series.Valid, series.LogExcerpt)
	}
	if base.Valid == nil || !*base.Valid || base.GitCommitHash != strings.Repeat("ab", 20) || base.TreeName != "debian" {
		t.Errorf("baseline checkout %+v", base)
	}
	if !strings.HasPrefix(base.ID, "rig:"+r.ID+"/") {
		t.Errorf("checkout id %q not namespaced by origin and run", base.ID)
	}

	builds := map[string]int{}
	for i, bd := range d.Builds {
		builds[bd.ID] = i
	}
	if len(d.Builds) != len(r.Cells)-1 {
		t.Errorf("%d builds, want one per cell but the patch-error one", len(d.Builds))
	}
	bid := func(cell string) string { return "rig:" + r.ID + "/" + cell }
	for cell, want := range map[string]*bool{
		"x86_64-tcg-debug": ptr(true), "arm64-tcg-debug": ptr(false), "x86_64-kvm-lockdep": ptr(true),
		"arm64-kvm-base": ptr(true), "x86_64-kvm-big": nil,
	} {
		i, ok := builds[bid(cell)]
		if !ok {
			t.Errorf("no build for %s", cell)
			continue
		}
		if got := d.Builds[i].Valid; (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("%s: build valid %v, want %v", cell, fmtBool(got), fmtBool(want))
		}
	}
	if _, ok := builds[bid("arm64-tcg-base")]; ok {
		t.Error("patch-error cell has a build")
	}
	be := d.Builds[builds[bid("arm64-tcg-debug")]]
	if !strings.Contains(be.LogExcerpt, "implicit declaration") || be.LogURL != "arm64-tcg-debug/build.log" || be.Architecture != "arm64" || be.ConfigName != "base+arm64+debug" {
		t.Errorf("build-error build %+v", be)
	}
	if ok := d.Builds[builds[bid("x86_64-tcg-debug")]]; ok.Duration == nil || *ok.Duration != 130 || ok.StartTime == "" {
		t.Errorf("build duration/start %+v", ok)
	}

	tests := map[string]kTest{}
	for _, x := range d.Tests {
		if _, ok := builds[x.BuildID]; !ok {
			t.Errorf("test %s: unknown build", x.ID)
		}
		cell := strings.TrimPrefix(x.BuildID, "rig:"+r.ID+"/")
		tests[cell+" "+x.Path] = x
	}
	for key, want := range map[string]string{
		"x86_64-kvm-base rig":                             "FAIL",
		"x86_64-kvm-base rig.boot":                        "PASS",
		"x86_64-kvm-base rig.robust-unmap-remap":          "PASS",
		"x86_64-kvm-base rig.pi-owner":                    "FAIL",
		"x86_64-kvm-base rig.kernel-oops":                 "FAIL",
		"x86_64-tcg-debug rig":                            "PASS",
		"x86_64-tcg-debug rig.kernel-oops":                "PASS",
		"x86_64-tcg-debug rig.kselftest_futex_requeue_pi": "SKIP",
		"x86_64-tcg-kasan rig":                            "FAIL",
		"x86_64-tcg-kasan rig.boot":                       "PASS",
		"x86_64-tcg-kasan rig.robust-natural":             "ERROR",
		"x86_64-kvm-lockdep rig":                          "FAIL",
		"x86_64-kvm-lockdep rig.boot":                     "FAIL",
		"arm64-kvm-base rig":                              "MISS",
		"arm64-kvm-base rig.boot":                         "MISS",
		"x86_64-kvm-base-baseline rig.robust-unmap-remap": "FAIL",
	} {
		got, ok := tests[key]
		if !ok {
			t.Errorf("no test %s", key)
			continue
		}
		if got.Status != want {
			t.Errorf("%s: status %s, want %s", key, got.Status, want)
		}
	}
	for _, cell := range []string{"arm64-tcg-debug", "x86_64-kvm-big", "arm64-tcg-base"} {
		for k := range tests {
			if strings.HasPrefix(k, cell+" ") {
				t.Errorf("%s never booted but has test %s", cell, k)
			}
		}
	}
	oops := tests["x86_64-kvm-base rig.kernel-oops"]
	if !strings.Contains(oops.LogExcerpt, "kernel/futex/core.c:42") || oops.LogURL != "x86_64-kvm-base/console.log" {
		t.Errorf("oops test %+v", oops)
	}
	if _, err := os.Stat(filepath.Join(dir, oops.LogURL)); err != nil {
		t.Errorf("log_url %q does not resolve in the run directory: %v", oops.LogURL, err)
	}
	if got := tests["x86_64-kvm-base rig.pi-owner"]; !strings.Contains(got.Comment, "<img src=x") {
		t.Errorf("test comment should carry the reason as text: %q", got.Comment)
	}
	paths := map[string]bool{}
	for _, x := range d.Tests {
		paths[x.Path] = true
	}
	var ps []string
	for p := range paths {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	t.Logf("test paths: %s", strings.Join(ps, " "))
}

func TestKCIDBBaseURLAndOptions(t *testing.T) {
	r, dir := fixtureRun(t)
	b, err := report.KCIDB(r, report.KCIDBOptions{Origin: "my_lab", Dir: dir, BaseURL: "https://ci.example.org/runs/" + r.ID + "/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range checkKCIDB(b, true) {
		t.Error(e)
	}
	if !strings.Contains(string(b), `"log_url": "https://ci.example.org/runs/`+r.ID+`/x86_64-kvm-base/console.log"`) {
		t.Error("no absolute console log URL")
	}
	if !strings.Contains(string(b), `"id": "my_lab:`) {
		t.Error("ids not namespaced by the origin")
	}
	// A series that was not given: patchset_hash is unknown, so absent.
	if n := strings.Count(string(b), `"patchset_hash"`); n != 1 {
		t.Errorf("want patchset_hash only on the bare-tree checkout, got %d", n)
	}
	for _, o := range []report.KCIDBOptions{
		{Origin: "Rig!"},
		{GitCommitHash: "abc"},
		{GitRepositoryURL: "file:///src/linux"},
		{BaseURL: "runs/x"},
	} {
		if _, err := report.KCIDB(r, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func ptr(b bool) *bool { return &b }

func fmtBool(b *bool) string {
	if b == nil {
		return "absent"
	}
	return fmt.Sprint(*b)
}

// TestCheckKCIDBCatches makes sure the checker itself rejects what the
// schema rejects.
func TestCheckKCIDBCatches(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"version": {"major": 5}}`,
		`{"version": {"major": 4, "minor": 6}}`,
		`{"version": {"major": 4}, "extra": []}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:x"}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "x", "origin": "rig"}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:x", "origin": "rig", "patchset_hash": "abc"}]}`,
		`{"version": {"major": 4}, "builds": [{"id": "rig:b", "origin": "rig", "checkout_id": "rig:none"}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:c", "origin": "rig"}], "builds": [{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "architecture": "x86-64"}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:c", "origin": "rig"}], "builds": [{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "valid": null}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:c", "origin": "rig"}], "builds": [{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c"}], "tests": [{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "status": "BROKEN"}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:c", "origin": "rig"}], "builds": [{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c"}], "tests": [{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "path": "rig.a b"}]}`,
		`{"version": {"major": 4}, "checkouts": [{"id": "rig:c", "origin": "rig"}], "builds": [{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c"}], "tests": [{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "output_files": [{"name": "a/b", "url": "x"}]}]}`,
	} {
		if errs := checkKCIDB([]byte(bad), false); len(errs) == 0 {
			t.Errorf("checker accepted %s", bad)
		}
	}
}
