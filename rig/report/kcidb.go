package report

// kcidb.json: a run in KernelCI's KCIDB I/O schema v4, so results can be
// submitted with `kcidb-submit` (or merged with other CI systems' data).
//
// Source: github.com/kernelci/kcidb-io, kcidb_io/schema/v04_05.py ("Kernel
// CI reporting I/O schema v4.5"; the id/hash patterns are inherited from
// v03_00.py). What this file relies on:
//
//   - top level: "required": ["version"]; version {"major": 4 (const),
//     "minor": 0..5}; lists "checkouts", "builds", "tests" ("issues",
//     "incidents" unused); "additionalProperties": false everywhere; no
//     property may be null.
//   - checkout: "required": ["id", "origin"]; patchset_hash "^$|^[0-9a-f]{64}$"
//     ("A sha256 hash over newline-terminated sha256 hashes of each patch
//     from the patchset, in order. E.g. generated with this shell command:
//     "sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64". An empty
//     string, if no patches were applied"); git_commit_hash "^[0-9a-f]{40}$";
//     git_repository_url "^(https|git)://.*$".
//   - build: "required": ["checkout_id", "id", "origin"]; architecture
//     "^[a-z0-9_]*$"; duration a number of seconds; valid a boolean.
//   - test: "required": ["build_id", "id", "origin"]; path "^[.a-zA-Z0-9_-]*$"
//     (dot-separated); status enum ["FAIL", "ERROR", "MISS", "PASS", "DONE",
//     "SKIP"] (MISS: "didn't run due to a failure in the test harness").
//   - issue: "required": ["id", "version", "origin"]; report_url, comment.
//     incident: "required": ["id", "origin", "issue_id", "issue_version"];
//     test_id, build_id, present. A failure matched by a known issue
//     (known-issues.yaml) keeps its FAIL (what happened) and is linked to
//     the issue by an incident, the schema's way of saying "known".
//   - ids: "^[a-z0-9_]+:.*$" (origin, colon, anything unique within the
//     origin); origin "^[a-z0-9_]+$"; *_excerpt maxLength 16384; *_url and
//     resource urls have "format": "uri"; times "format": "date-time".
//
// kcidb validates with jsonschema's draft-7 format checker, and "format":
// "uri" takes absolute URIs only: the URL fields (config_url, log_url,
// output_files) are filled in only with KCIDBOptions.BaseURL, the URL the run
// directory is published at (rig/report/testdata/kcidb-v4.schema.json and
// its test check the output against the schema).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// The schema version kcidb.json declares.
const (
	KCIDBMajor = 4
	KCIDBMinor = 5
)

// KCIDBFile is the name of the KCIDB report in a run directory.
const KCIDBFile = "kcidb.json"

// PatchFile is one patch of the series as it was applied.
type PatchFile struct {
	Name string
	Data []byte
}

// PatchFiles adapts a series read by rig/patch.
func PatchFiles(ps []patch.Patch) []PatchFile {
	var out []PatchFile
	for _, p := range ps {
		out = append(out, PatchFile{Name: p.Name, Data: p.Data})
	}
	return out
}

// PatchsetHash is KCIDB's patchset_hash: the sha256 over the
// newline-terminated hex sha256 of each patch, in order ("sha256sum *.patch
// | cut -c-64 | sha256sum | cut -c-64"), and "" for no patches.
func PatchsetHash(files []PatchFile) string {
	if len(files) == 0 {
		return ""
	}
	h := sha256.New()
	for _, f := range files {
		s := sha256.Sum256(f.Data)
		fmt.Fprintf(h, "%x\n", s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recordedPatchset is the patchset_hash and patch names of the patches
// cell c recorded with their sha256 when it ran; ok is false for a run
// from before the rig recorded them (or a cell without patches).
func recordedPatchset(c *result.Cell) (hash string, names []string, ok bool) {
	if len(c.Patches) == 0 {
		return "", nil, false
	}
	h := sha256.New()
	for _, p := range c.Patches {
		if len(p.SHA256) != 64 || !isLowerHex(p.SHA256) {
			return "", nil, false
		}
		fmt.Fprintf(h, "%s\n", p.SHA256)
		names = append(names, p.Name)
	}
	return hex.EncodeToString(h.Sum(nil)), names, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// KCIDBOptions say what run.json does not know.
type KCIDBOptions struct {
	// Origin names the submitting CI system and prefixes every id; "" is
	// "rig". KCIDB origins match ^[a-z0-9_]+$.
	Origin string
	// Patches is the series as applied, in order, for patchset_hash. When
	// nil, the sha256 each cell recorded of its patches is used; a run
	// from before the rig recorded them leaves patchset_hash out (unknown).
	Patches []PatchFile
	// BaseURL is where the run directory is published; "" leaves the URL
	// fields out (KCIDB takes no relative URL, and a reader of the run
	// directory finds <cell-id>/console.log without one).
	BaseURL string
	// Dir is the run directory: when set, only files present there are
	// linked, and failing cells get their console tail as log_excerpt.
	Dir string
	// Base tree, when known (a git checkout): tree_name ("mainline",
	// "net-next"...), git_repository_url, git_repository_branch,
	// git_commit_hash (40 hex digits), git_commit_name ("git describe").
	TreeName, GitRepositoryURL, GitRepositoryBranch, GitCommitHash, GitCommitName string
}

// Check reports options the schema would reject (an empty Origin is
// allowed: it means "rig").
func (o KCIDBOptions) Check() error {
	if o.Origin != "" && !originRE.MatchString(o.Origin) {
		return fmt.Errorf("origin %q: must match [a-z0-9_]+", o.Origin)
	}
	if o.GitCommitHash != "" && !sha1RE.MatchString(o.GitCommitHash) {
		return fmt.Errorf("git commit hash %q: want 40 lowercase hex digits", o.GitCommitHash)
	}
	if o.GitRepositoryURL != "" && !gitURLRE.MatchString(o.GitRepositoryURL) {
		return fmt.Errorf("git repository URL %q: want an https:// or git:// URL", o.GitRepositoryURL)
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base URL %q: want an absolute http:// or https:// URL", o.BaseURL)
		}
	}
	return nil
}

type kcidbData struct {
	Version   kcidbVersion    `json:"version"`
	Checkouts []kcidbCheckout `json:"checkouts"`
	Builds    []kcidbBuild    `json:"builds"`
	Tests     []kcidbTest     `json:"tests"`
	Issues    []kcidbIssue    `json:"issues,omitempty"`
	Incidents []kcidbIncident `json:"incidents,omitempty"`
}

type kcidbIssue struct {
	ID        string `json:"id"`
	Version   int    `json:"version"`
	Origin    string `json:"origin"`
	ReportURL string `json:"report_url"`
	Comment   string `json:"comment,omitempty"`
}

type kcidbIncident struct {
	ID           string `json:"id"`
	Origin       string `json:"origin"`
	IssueID      string `json:"issue_id"`
	IssueVersion int    `json:"issue_version"`
	BuildID      string `json:"build_id"`
	TestID       string `json:"test_id"`
	Present      bool   `json:"present"`
}

type kcidbVersion struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
}

type kcidbResource struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

type kcidbCheckout struct {
	ID                  string         `json:"id"`
	Origin              string         `json:"origin"`
	TreeName            string         `json:"tree_name,omitempty"`
	GitRepositoryURL    string         `json:"git_repository_url,omitempty"`
	GitRepositoryBranch string         `json:"git_repository_branch,omitempty"`
	GitCommitHash       string         `json:"git_commit_hash,omitempty"`
	GitCommitName       string         `json:"git_commit_name,omitempty"`
	PatchsetHash        *string        `json:"patchset_hash,omitempty"`
	Comment             string         `json:"comment,omitempty"`
	StartTime           string         `json:"start_time,omitempty"`
	LogExcerpt          string         `json:"log_excerpt,omitempty"`
	Valid               *bool          `json:"valid,omitempty"`
	Misc                map[string]any `json:"misc,omitempty"`
}

type kcidbBuild struct {
	ID           string         `json:"id"`
	CheckoutID   string         `json:"checkout_id"`
	Origin       string         `json:"origin"`
	Comment      string         `json:"comment,omitempty"`
	StartTime    string         `json:"start_time,omitempty"`
	Duration     *float64       `json:"duration,omitempty"`
	Architecture string         `json:"architecture,omitempty"`
	Compiler     string         `json:"compiler,omitempty"`
	ConfigName   string         `json:"config_name,omitempty"`
	ConfigURL    string         `json:"config_url,omitempty"`
	LogURL       string         `json:"log_url,omitempty"`
	LogExcerpt   string         `json:"log_excerpt,omitempty"`
	Valid        *bool          `json:"valid,omitempty"`
	Misc         map[string]any `json:"misc,omitempty"`
}

type kcidbEnvironment struct {
	Comment string         `json:"comment,omitempty"`
	Misc    map[string]any `json:"misc,omitempty"`
}

type kcidbTest struct {
	ID          string            `json:"id"`
	BuildID     string            `json:"build_id"`
	Origin      string            `json:"origin"`
	Path        string            `json:"path"`
	Status      string            `json:"status"`
	Comment     string            `json:"comment,omitempty"`
	Environment *kcidbEnvironment `json:"environment,omitempty"`
	LogURL      string            `json:"log_url,omitempty"`
	LogExcerpt  string            `json:"log_excerpt,omitempty"`
	OutputFiles []kcidbResource   `json:"output_files,omitempty"`
	StartTime   string            `json:"start_time,omitempty"`
	Duration    *float64          `json:"duration,omitempty"`
	Misc        map[string]any    `json:"misc,omitempty"`
}

var (
	originRE = regexp.MustCompile(`^[a-z0-9_]+$`)
	sha1RE   = regexp.MustCompile(`^[0-9a-f]{40}$`)
	gitURLRE = regexp.MustCompile(`^(https|git)://.*$`)
)

// KCIDB status names (the schema's "status" enum).
const (
	kPass  = "PASS"
	kFail  = "FAIL"
	kSkip  = "SKIP"
	kError = "ERROR"
	kMiss  = "MISS"
)

// testStatus maps a guest test status to KCIDB's enum.
var testStatus = map[string]string{"pass": kPass, "fail": kFail, "skip": kSkip, "error": kError}

// KCIDB renders r as a KCIDB v4 data set: a checkout per distinct series
// among the cells (the baseline cell's is the bare tree; each prefix of a
// --each-patch run is a series of its own), a build per cell
// that got past applying the series, and per build the tests: "rig" (the
// cell's verdict and cause), "rig.boot", "rig.<test>" for each guest test,
// and "rig.kernel-oops" (FAIL with the reports when the console had an oops).
// Ids are "<origin>:<run-id>/...". Errors are bad options, never verdicts.
func KCIDB(r *result.Run, o KCIDBOptions) ([]byte, error) {
	if o.Origin == "" {
		o.Origin = "rig"
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	k := kcidb{o: o, run: r, prefix: o.Origin + ":" + orDefault(r.ID, "run") + "/"}
	d := kcidbData{Version: kcidbVersion{KCIDBMajor, KCIDBMinor}, Checkouts: []kcidbCheckout{}, Builds: []kcidbBuild{}, Tests: []kcidbTest{}}
	checkouts := map[string]int{} // series (and prefix) -> index in d.Checkouts
	buildIDs := map[string]bool{}
	for i := range r.Cells {
		c := &r.Cells[i]
		key := c.Series
		if c.Prefix > 0 {
			key += "#" + strconv.Itoa(c.Prefix)
		}
		ci, ok := checkouts[key]
		if !ok {
			ci = len(d.Checkouts)
			checkouts[key] = ci
			d.Checkouts = append(d.Checkouts, k.checkout(c, len(checkouts)))
		}
		k.noteCheckout(&d.Checkouts[ci], c)
		if c.Status == result.PatchError {
			continue // nothing was built: the checkout says why (valid=false)
		}
		b := k.build(c, d.Checkouts[ci].ID)
		for buildIDs[b.ID] { // duplicate cell ids: keep ids unique
			b.ID += "_"
		}
		buildIDs[b.ID] = true
		d.Builds = append(d.Builds, b)
		d.Tests = append(d.Tests, k.tests(c, b.ID)...)
	}
	k.incidents(&d)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// WriteKCIDB writes dir/kcidb.json atomically; o.Dir defaults to dir.
func WriteKCIDB(dir string, r *result.Run, o KCIDBOptions) error {
	if o.Dir == "" {
		o.Dir = dir
	}
	b, err := KCIDB(r, o)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, KCIDBFile), b, 0o644)
}

type kcidb struct {
	o      KCIDBOptions
	run    *result.Run
	prefix string
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkout is the checkout of cell c's series, or of its first prefix
// patches (c.Prefix > 0: a --each-patch cell).
func (k kcidb) checkout(c *result.Cell, n int) kcidbCheckout {
	series, prefix := c.Series, c.Prefix
	co := kcidbCheckout{
		Origin:              k.o.Origin,
		TreeName:            k.o.TreeName,
		GitRepositoryURL:    k.o.GitRepositoryURL,
		GitRepositoryBranch: k.o.GitRepositoryBranch,
		GitCommitHash:       k.o.GitCommitHash,
		GitCommitName:       k.o.GitCommitName,
		Misc:                map[string]any{"kernel_source": result.Clean(k.run.KernelSource, maxLine)},
	}
	comment := result.Clean(k.run.KernelSource, maxLine)
	if series == "" {
		co.ID = k.prefix + "checkout-base"
		empty := ""
		co.PatchsetHash = &empty
	} else {
		co.ID = fmt.Sprintf("%scheckout-%d", k.prefix, n)
		co.Misc["series"] = result.Clean(series, maxLine)
		comment += " + " + result.Clean(filepath.Base(series), maxName)
		patches := k.o.Patches
		if prefix > 0 && prefix <= len(patches) {
			patches = patches[:prefix]
			co.Misc["prefix"] = prefix
			comment += fmt.Sprintf(" (patches 1-%d)", prefix)
		}
		var names []string
		switch h, recorded, ok := recordedPatchset(c); {
		case len(patches) > 0:
			h := PatchsetHash(patches)
			co.PatchsetHash = &h
			for _, p := range patches {
				names = append(names, p.Name)
			}
		case ok:
			co.PatchsetHash = &h
			names = recorded
		}
		for i, name := range names {
			names[i] = result.Clean(name, maxName)
		}
		if len(names) > 0 {
			co.Misc["patches"] = names
		}
	}
	co.Comment = comment
	if !k.run.Started.IsZero() {
		co.StartTime = timestamp(k.run.Started)
	}
	return co
}

// noteCheckout folds a cell into its checkout: whether the series applied,
// the patch error, the tree hash, the earliest start.
func (k kcidb) noteCheckout(co *kcidbCheckout, c *result.Cell) {
	if s, ok := firstStage(c); ok && !s.Start.IsZero() {
		if t := timestamp(s.Start); co.StartTime == "" || t < co.StartTime {
			co.StartTime = t
		}
	}
	f := false
	switch {
	case c.Status == result.PatchError:
		co.Valid = &f
		co.LogExcerpt = excerpt(c.Cause)
	case co.Valid == nil && pastApply(c):
		t := true
		co.Valid = &t
	}
	if c.TreeID != "" {
		co.Misc["tree_id"] = result.Clean(c.TreeID, 80)
	}
	if len(c.Patches) > 0 {
		var ps []map[string]string
		for _, p := range c.Patches {
			ps = append(ps, map[string]string{"name": result.Clean(p.Name, maxName), "subject": result.Clean(p.Subject, maxLine), "state": result.Clean(p.State, 30)})
		}
		co.Misc["patch_states"] = ps
	}
}

// pastApply: the series applied (the cell went on to configure or build).
func pastApply(c *result.Cell) bool {
	switch c.Status {
	case result.Pass, result.Fail, result.BuildError, result.BootError, result.Timeout:
		return true
	}
	return hasStage(c, "config", "build", "pack", "boot", "tests")
}

// pastBuild: the kernel was built (the cell went on to pack or boot).
func pastBuild(c *result.Cell) bool {
	switch c.Status {
	case result.Pass, result.Fail, result.BootError, result.Timeout:
		return true
	}
	return hasStage(c, "pack", "boot", "tests")
}

// booted: the guest reached user space (its tests started).
func booted(c *result.Cell) bool {
	return len(c.Tests) > 0 || hasStage(c, "tests")
}

func hasStage(c *result.Cell, names ...string) bool {
	for _, s := range c.Stages {
		for _, n := range names {
			if s.Name == n {
				return true
			}
		}
	}
	return false
}

func stage(c *result.Cell, name string) (result.Stage, bool) {
	for _, s := range c.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return result.Stage{}, false
}

func firstStage(c *result.Cell) (result.Stage, bool) {
	if len(c.Stages) == 0 {
		return result.Stage{}, false
	}
	return c.Stages[0], true
}

func (k kcidb) build(c *result.Cell, checkoutID string) kcidbBuild {
	b := kcidbBuild{
		ID:           k.prefix + pathPart(c.ID),
		CheckoutID:   checkoutID,
		Origin:       k.o.Origin,
		Comment:      result.Clean(strings.TrimSpace(c.ID+" "+c.Role), maxLine),
		Architecture: archName(c.Arch),
		Compiler:     result.Clean(k.run.Host.GCC, maxLine),
		ConfigName:   result.Clean(c.Config, maxLine),
		ConfigURL:    k.url(c.ID, "kernel.config"),
		LogURL:       k.url(c.ID, "build.log"),
		Misc:         map[string]any{"cell": result.Clean(c.ID, maxName), "status": string(c.Status)},
	}
	if s, ok := stage(c, "build"); ok {
		if !s.Start.IsZero() {
			b.StartTime = timestamp(s.Start)
		}
		secs := s.Elapsed.Seconds()
		b.Duration = &secs
		if s.Cached {
			b.Misc["cached"] = true
		}
	}
	switch {
	case c.Status == result.BuildError:
		f := false
		b.Valid = &f
		b.LogExcerpt = excerpt(c.Cause + "\n" + k.tail(c.ID, "build.log"))
	case pastBuild(c):
		t := true
		b.Valid = &t
	}
	for key, v := range map[string]string{"role": c.Role, "accel": c.Accel, "kernel_release": c.KernelRelease, "qemu_version": c.QEMUVersion, "cmdline": c.Cmdline} {
		if v != "" {
			b.Misc[key] = result.Clean(v, 4000)
		}
	}
	if c.KernelSize > 0 {
		b.Misc["kernel_size"] = c.KernelSize
	}
	if len(c.Stages) > 0 {
		st := map[string]float64{}
		for _, s := range c.Stages {
			st[result.Clean(s.Name, 20)] = s.Elapsed.Seconds()
		}
		b.Misc["stage_seconds"] = st
	}
	return b
}

func (k kcidb) tests(c *result.Cell, buildID string) []kcidbTest {
	if !pastBuild(c) { // no kernel: build-error, or stopped before one existed
		return nil
	}
	env := &kcidbEnvironment{Comment: result.Clean(strings.TrimSpace("QEMU "+c.Arch+" "+c.Accel), maxLine)}
	if c.QEMUVersion != "" || c.Cmdline != "" {
		env.Misc = map[string]any{}
		if c.QEMUVersion != "" {
			env.Misc["qemu_version"] = result.Clean(c.QEMUVersion, maxLine)
		}
		if c.Cmdline != "" {
			env.Misc["cmdline"] = result.Clean(c.Cmdline, 4000)
		}
	}
	console := k.url(c.ID, "console.log")
	var outputs []kcidbResource
	for _, n := range []string{"dmesg.txt", "events.jsonl"} {
		if u := k.url(c.ID, n); u != "" {
			outputs = append(outputs, kcidbResource{Name: n, URL: u})
		}
	}
	var testsStart string
	if s, ok := stage(c, "tests"); ok && !s.Start.IsZero() {
		testsStart = timestamp(s.Start)
	}
	used := map[string]bool{}
	var out []kcidbTest
	add := func(path, status string) *kcidbTest {
		p := path
		for n := 2; used[p]; n++ {
			p = fmt.Sprintf("%s_%d", path, n)
		}
		used[p] = true
		out = append(out, kcidbTest{
			ID: buildID + "/" + p, BuildID: buildID, Origin: k.o.Origin, Path: p, Status: status,
			Environment: env, LogURL: console, OutputFiles: outputs,
		})
		return &out[len(out)-1]
	}

	// "rig": the cell's verdict; its comment is the cause line.
	sum := add("rig", cellStatus(c.Status))
	sum.Comment = result.Clean(c.Cause, maxLine)
	if c.Status != result.Pass {
		sum.LogExcerpt = excerpt(c.Cause + "\n" + k.tail(c.ID, "console.log"))
	}
	sum.Misc = map[string]any{"status": string(c.Status)}
	if c.Known != "" {
		sum.Misc["known"] = c.Known
	}
	if st, ok := stage(c, "boot"); ok {
		if !st.Start.IsZero() {
			sum.StartTime = timestamp(st.Start)
		}
	}

	// "rig.boot": did the kernel reach the guest.
	switch {
	case booted(c):
		add("rig.boot", kPass)
	case c.Status == result.BootError || c.Status == result.Timeout:
		t := add("rig.boot", kFail)
		t.Comment = result.Clean(c.Cause, maxLine)
		t.LogExcerpt = excerpt(c.Cause + "\n" + k.tail(c.ID, "console.log"))
	case hasStage(c, "boot"):
		t := add("rig.boot", kMiss)
		t.Comment = result.Clean(c.Cause, maxLine)
	}

	for _, t := range c.Tests {
		st, ok := testStatus[t.Status]
		if !ok {
			st = kError
		}
		kt := add("rig."+pathPart(t.Name), st)
		kt.Comment = result.Clean(t.Reason, maxLine)
		kt.StartTime = testsStart
		if t.Seconds > 0 {
			secs := t.Seconds
			kt.Duration = &secs
		}
		if st == kFail || st == kError {
			kt.LogExcerpt = excerpt(t.Reason + "\n" + evidenceLines(t))
		}
		m := map[string]any{"name": result.Clean(t.Name, maxName)}
		if t.Seed != 0 {
			m["seed"] = t.Seed
		}
		if t.Label != "" {
			m["label"] = result.Clean(t.Label, 30)
		}
		if t.Compare != "" {
			m["compare"] = result.Clean(t.Compare, maxLine)
		}
		if t.Known != "" {
			m["known"] = t.Known
		}
		if len(t.Evidence) > 0 {
			ev := map[string]string{}
			for key, v := range t.Evidence {
				ev[result.Clean(key, 60)] = result.Clean(v, maxLine)
			}
			m["evidence"] = ev
		}
		kt.Misc = m
	}

	if len(c.Tests) > 0 || len(c.Oopses) > 0 {
		if len(c.Oopses) == 0 {
			add("rig."+OopsTest, kPass)
		} else {
			t := add("rig."+OopsTest, kFail)
			var lines []string
			for _, o := range c.Oopses {
				lines = append(lines, fmt.Sprintf("%s: %s (console.log:%d)", result.Clean(o.Kind, 30), result.Clean(o.Title, maxLine), o.Line))
			}
			t.Comment = lines[0]
			t.LogExcerpt = excerpt(strings.Join(lines, "\n"))
			t.Misc = map[string]any{"oopses": len(c.Oopses)}
			if c.Known != "" {
				t.Misc["known"] = c.Known
			}
		}
	}
	return out
}

// incidents adds an issue per known-issue link the tests carry (misc
// "known") and an incident tying each such FAIL or ERROR test to it.
func (k kcidb) incidents(d *kcidbData) {
	issues := map[string]string{} // link -> issue id
	for _, t := range d.Tests {
		link, _ := t.Misc["known"].(string)
		if link == "" || (t.Status != kFail && t.Status != kError) {
			continue
		}
		id, ok := issues[link]
		if !ok {
			sum := sha256.Sum256([]byte(link))
			id = k.o.Origin + ":known-" + hex.EncodeToString(sum[:8])
			issues[link] = id
			d.Issues = append(d.Issues, kcidbIssue{ID: id, Origin: k.o.Origin, ReportURL: link,
				Comment: "known issue (known-issues.yaml)"})
		}
		d.Incidents = append(d.Incidents, kcidbIncident{ID: t.ID + "#known", Origin: k.o.Origin,
			IssueID: id, BuildID: t.BuildID, TestID: t.ID, Present: true})
	}
}

// cellStatus maps a cell verdict to the KCIDB status of its "rig" test.
func cellStatus(s result.Status) string {
	switch s {
	case result.Pass:
		return kPass
	case result.Fail, result.BootError, result.Timeout:
		return kFail
	case result.InfraError, result.Interrupted, result.NotRun:
		return kMiss
	}
	return kError
}

// url links a file of a cell under BaseURL; "" without a BaseURL, or when
// Dir is set and the file is not there.
func (k kcidb) url(cell, name string) string {
	if k.o.BaseURL == "" {
		return ""
	}
	if k.o.Dir != "" {
		if !safefile.RegularUnder(k.o.Dir, cell, name) {
			return ""
		}
	}
	return strings.TrimRight(k.o.BaseURL, "/") + "/" + url.PathEscape(cell) + "/" + name
}

// tail is the end of a cell's log when the run directory is known.
func (k kcidb) tail(cell, name string) string {
	if k.o.Dir == "" {
		return ""
	}
	return CellTail(k.o.Dir, cell, name, 40)
}

func evidenceLines(t result.Test) string {
	var l []string
	for key, v := range t.Evidence {
		l = append(l, key+": "+v)
	}
	return strings.Join(l, "\n")
}

// maxExcerpt stays under the schema's log_excerpt maxLength (16384).
const maxExcerpt = 16000

// excerpt cleans untrusted multi-line text line by line and bounds it.
func excerpt(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var b strings.Builder
	n := 0
	for _, l := range lines {
		l = result.Clean(l, 1000)
		if n+len([]rune(l))+1 > maxExcerpt {
			break
		}
		b.WriteString(l + "\n")
		n += len([]rune(l)) + 1
	}
	return b.String()
}

// pathPart makes a KCIDB test path node (or id part) from a name:
// [.a-zA-Z0-9_-] only, no empty dot-separated parts.
func pathPart(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	var parts []string
	for _, p := range strings.Split(s, ".") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	s = strings.Join(parts, ".")
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		return "unnamed"
	}
	return s
}

// archName fits KCIDB's architecture pattern ^[a-z0-9_]*$.
func archName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return '_'
	}, s)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ErrNoRun is returned by LoadRun for a directory without run.json.
var ErrNoRun = errors.New("no run.json")

// LoadRun reads dir/run.json, telling a directory that is not a run
// (ErrNoRun) from a damaged one.
func LoadRun(dir string) (*result.Run, error) {
	if _, err := os.Stat(filepath.Join(dir, "run.json")); err != nil {
		if st, derr := os.Stat(dir); derr != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: not a directory: %w", dir, ErrNoRun)
		}
		return nil, fmt.Errorf("%s: %w (not a run directory)", dir, ErrNoRun)
	}
	return result.Load(dir)
}
