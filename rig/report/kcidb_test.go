package report_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/rig-kernel/rig/rig/result"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/report"
)

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
	for _, e := range checkKCIDB(b) {
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
	if !strings.Contains(be.LogExcerpt, "implicit declaration") || be.LogURL != "" || be.Architecture != "arm64" || be.ConfigName != "base+arm64+debug" {
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
	// No base URL, no URLs: KCIDB takes no relative ones.
	if !strings.Contains(oops.LogExcerpt, "kernel/futex/core.c:42") || oops.LogURL != "" {
		t.Errorf("oops test %+v", oops)
	}
	if strings.Contains(string(b), "_url") {
		t.Error("URLs without a base URL")
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
	for _, e := range checkKCIDB(b) {
		t.Error(e)
	}
	base := "https://ci.example.org/runs/" + r.ID + "/"
	if !strings.Contains(string(b), `"log_url": "`+base+`x86_64-kvm-base/console.log"`) {
		t.Error("no absolute console log URL")
	}
	// Each URL names a file of the run directory.
	for _, m := range regexp.MustCompile(`"(?:log_url|config_url|url)": "([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		rel, ok := strings.CutPrefix(m[1], base)
		if _, err := os.Stat(filepath.Join(dir, rel)); !ok || err != nil {
			t.Errorf("%s does not resolve in the run directory", m[1])
		}
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
		{BaseURL: "javascript://example.org/%0aalert(1)"},
		{BaseURL: "data://example.org/text/html,x"},
		{BaseURL: "file://host/etc/"},
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

// A run that recorded each patch's sha256 gives patchset_hash without the
// series: the files may have changed since, or be on another machine.
func TestKCIDBRecordedPatchset(t *testing.T) {
	r, dir := fixtureRun(t)
	_, patches := writePatches(t)
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Series == "" {
			continue
		}
		c.Patches = nil
		for _, p := range patches {
			s := sha256.Sum256(p.Data)
			c.Patches = append(c.Patches, result.Patch{Name: p.Name, State: "applied", SHA256: hex.EncodeToString(s[:])})
		}
	}
	b, err := report.KCIDB(r, report.KCIDBOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := `"patchset_hash": "` + report.PatchsetHash(patches) + `"`
	if !strings.Contains(string(b), want) {
		t.Errorf("no %s in\n%s", want, b)
	}
	// One damaged sum and the hash is unknown, not wrong.
	for i := range r.Cells {
		if r.Cells[i].Series != "" {
			r.Cells[i].Patches[0].SHA256 = "zz"
		}
	}
	b, err = report.KCIDB(r, report.KCIDBOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"patchset_hash"`); n != 1 {
		t.Errorf("%d patchset_hash fields with a damaged record, want only the bare tree's:\n%s", n, b)
	}
}
