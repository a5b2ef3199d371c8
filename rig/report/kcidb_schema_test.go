package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rig-kernel/rig/rig/report"
)

// kcidbSchemaFile is KCIDB's I/O schema v4 as a JSON Schema (draft-07);
// its $comment says which minor version it follows.
const kcidbSchemaFile = "testdata/kcidb-v4.schema.json"

var kcidbSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat() // KCIDB checks formats: date-time, absolute uri, email
	return c.Compile(kcidbSchemaFile)
})

// checkKCIDB validates a data set against the schema, then checks what
// KCIDB states in prose: ids are unique per type and rig's links between
// objects resolve.
func checkKCIDB(b []byte) []string {
	sch, err := kcidbSchema()
	if err != nil {
		return []string{err.Error()}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return []string{err.Error()}
	}
	if err := sch.Validate(doc); err != nil {
		return []string{err.Error()}
	}
	type object struct {
		ID         string `json:"id"`
		CheckoutID string `json:"checkout_id"`
		BuildID    string `json:"build_id"`
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return []string{err.Error()}
	}
	d := map[string][]object{}
	for _, kind := range []string{"checkouts", "builds", "tests"} {
		var objs []object
		if err := json.Unmarshal(top[kind], &objs); top[kind] != nil && err != nil {
			return []string{err.Error()}
		}
		d[kind] = objs
	}
	var errs []string
	ids := map[string]map[string]bool{}
	for kind, objs := range d {
		ids[kind] = map[string]bool{}
		for _, o := range objs {
			if ids[kind][o.ID] {
				errs = append(errs, fmt.Sprintf("%s: duplicate id %q", kind, o.ID))
			}
			ids[kind][o.ID] = true
		}
	}
	for _, o := range d["builds"] {
		if !ids["checkouts"][o.CheckoutID] {
			errs = append(errs, fmt.Sprintf("build %s: no checkout %q", o.ID, o.CheckoutID))
		}
	}
	for _, o := range d["tests"] {
		if !ids["builds"][o.BuildID] {
			errs = append(errs, fmt.Sprintf("test %s: no build %q", o.ID, o.BuildID))
		}
	}
	return errs
}

// The kcidb.json of each fixture run, with and without a base URL, and of
// any real run directory kept under testdata, conforms to KCIDB v4.
func TestKCIDBSchema(t *testing.T) {
	r, dir := fixtureRun(t)
	_, patches := writePatches(t)
	docs := map[string]report.KCIDBOptions{
		"render":         {},
		"fixture":        {Dir: dir, Patches: patches, TreeName: "debian", GitCommitHash: strings.Repeat("ab", 20)},
		"fixture-public": {Dir: dir, Origin: "my_lab", BaseURL: "https://ci.example.org/runs/" + r.ID + "/", GitRepositoryURL: "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"},
	}
	for name, o := range docs {
		run := r
		if name == "render" {
			run = renderRun()
		}
		b, err := report.KCIDB(run, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range checkKCIDB(b) {
			t.Errorf("%s: %s", name, e)
		}
	}
	real, _ := filepath.Glob("testdata/*/" + report.KCIDBFile)
	more, _ := filepath.Glob("testdata/*/*/" + report.KCIDBFile)
	for _, p := range append(real, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range checkKCIDB(b) {
			t.Errorf("%s: %s", p, e)
		}
	}
}

// The schema rejects what KCIDB rejects: each case breaks one rule in an
// otherwise valid document.
func TestKCIDBSchemaRejects(t *testing.T) {
	const (
		co = `{"id": "rig:c", "origin": "rig"}`
		bu = `{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c"}`
	)
	doc := func(checkout, build, test string) string {
		return `{"version": {"major": 4, "minor": 5}, "checkouts": [` + checkout + `], "builds": [` + build + `], "tests": [` + test + `]}`
	}
	good := doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "path": "rig.boot", "status": "PASS"}`)
	if errs := checkKCIDB([]byte(good)); len(errs) != 0 {
		t.Fatalf("the valid document is rejected: %v", errs)
	}
	for name, bad := range map[string]string{
		"no version":              `{"checkouts": []}`,
		"major 5":                 `{"version": {"major": 5}}`,
		"minor 6":                 `{"version": {"major": 4, "minor": 6}}`,
		"extra top-level list":    `{"version": {"major": 4}, "extra": []}`,
		"checkout without origin": doc(`{"id": "rig:c"}`, bu, ""),
		"id without origin":       doc(`{"id": "c", "origin": "rig"}`, "", ""),
		"bad patchset_hash":       doc(`{"id": "rig:c", "origin": "rig", "patchset_hash": "abc"}`, "", ""),
		"file git url":            doc(`{"id": "rig:c", "origin": "rig", "git_repository_url": "file:///src/linux"}`, "", ""),
		"build without checkout":  doc(co, `{"id": "rig:b", "origin": "rig"}`, ""),
		"bad architecture":        doc(co, `{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "architecture": "x86-64"}`, ""),
		"null valid":              doc(co, `{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "valid": null}`, ""),
		"string duration":         doc(co, `{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "duration": "12"}`, ""),
		"relative log_url":        doc(co, `{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "log_url": "x86_64/build.log"}`, ""),
		"unknown build property":  doc(co, `{"id": "rig:b", "origin": "rig", "checkout_id": "rig:c", "arch": "x86_64"}`, ""),
		"test without build_id":   doc(co, bu, `{"id": "rig:t", "origin": "rig", "status": "PASS"}`),
		"bad status":              doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "status": "BROKEN"}`),
		"bad path":                doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "path": "rig.a b"}`),
		"bad start_time":          doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "start_time": "yesterday"}`),
		"long log_excerpt":        doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "log_excerpt": "`+strings.Repeat("x", 16385)+`"}`),
		"output file in a dir":    doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "output_files": [{"name": "a/b", "url": "https://x/a"}]}`),
		"environment extra":       doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:b", "environment": {"host": "x"}}`),
		"dangling build_id":       doc(co, bu, `{"id": "rig:t", "origin": "rig", "build_id": "rig:nope"}`),
	} {
		if errs := checkKCIDB([]byte(bad)); len(errs) == 0 {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}
