package cli

// Fuzz targets for the two severe classes of issue 19: `rig report merge`
// over a generated shard (writing outside the output, reading outside the
// shard, special files) and `rig report html` over a generated run.json
// (unbounded work on hostile numbers). Their seed corpora, the cases the
// issue lists, run as ordinary tests under `go test`; `go test -fuzz
// FuzzReportMerge ./rig/cli` explores further.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/internal/timebox"
	"github.com/rig-kernel/rig/rig/result"
)

const fuzzSecret = "SECRET-8c1f-outside-the-run"

// execWithin runs the CLI in-process, failing t if it takes over 2 s.
func execWithin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout bytes.Buffer
	var stderr timebox.Buffer
	code := 0
	timebox.Call(t, 2*time.Second, "rig "+strings.Join(args, " "), func() error {
		code = Execute(context.Background(), args, &stdout, &stderr)
		return nil
	})
	return code, stderr.String()
}

// snapshot lists the paths under dir (relative) with their kind.
func snapshot(dir string) map[string]fs.FileMode {
	m := map[string]fs.FileMode{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			m[rel] = d.Type()
		}
		return nil
	})
	return m
}

// fuzzShard writes a shard: run.json (raw when given, else two cells with
// ids id1 and id2) and, for each cell whose id is a plain name, a cell
// directory with a regular file name, a symlink name+".l" to link, and
// with mode&1 a FIFO, with mode&2 the cell directory a symlink to the
// outside directory instead.
func fuzzShard(t *testing.T, parent, id1, id2, name, link string, mode uint8, raw []byte) string {
	shard := filepath.Join(parent, "shard")
	if err := os.MkdirAll(shard, 0o700); err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 {
		if err := os.WriteFile(filepath.Join(shard, "run.json"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		r := &result.Run{ID: "shard", Status: result.Fail}
		for _, id := range []string{id1, id2} {
			r.Cells = append(r.Cells, result.Cell{ID: id, Arch: "x86_64", Status: result.BootError, Cause: "no guest event"})
		}
		if err := result.Save(shard, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{id1, id2} {
		if safefile.CheckName(id) != nil || id == "run.json" {
			continue
		}
		cell := filepath.Join(shard, id)
		if mode&2 != 0 {
			os.Symlink(filepath.Join(parent, "outside"), cell)
			continue
		}
		if os.Mkdir(cell, 0o700) != nil {
			continue
		}
		if safefile.CheckName(name) == nil {
			os.WriteFile(filepath.Join(cell, name), []byte("Linux version 6.12\n"), 0o600)
			if len(name) < 250 {
				os.Symlink(link, filepath.Join(cell, name+".l"))
			}
		}
		os.Symlink(link, filepath.Join(cell, "console.log"))
		if mode&1 != 0 {
			syscall.Mkfifo(filepath.Join(cell, "dmesg.txt"), 0o600)
		}
	}
	return shard
}

// FuzzReportMerge: whatever the shard holds, merge ends within 2 s, exits
// 0, 2 or 3, writes nothing outside its output directory, copies nothing
// from outside the shard, and leaves only directories and regular files.
func FuzzReportMerge(f *testing.F) {
	ok := []byte(nil)
	for _, s := range []struct {
		id1, id2, name, link string
		mode                 uint8
		raw                  []byte
	}{
		{"x86_64-tcg-base-r1", "arm64-tcg-base-r1", "build.log", "build.log", 0, ok},
		{"x86_64", "../.ssh", "authorized_keys", "x", 0, ok},
		{"..", ".", "x", "x", 0, ok},
		{"/tmp/rig-fuzz-abs", "a/../../b", "x", "x", 0, ok},
		{"x86_64", "arm64", "console.log", "../../secret", 0, ok},
		{"x86_64", "arm64", "build.log", "/proc/self/environ", 0, ok},
		{"x86_64", "arm64", "x", "../../outside/console.log", 1, ok},
		{"x86_64", "arm64", "x", "x", 2, ok},
		{"x86_64", "x86_64", "x", "x", 0, ok},
		{"run.json", "report.html", "x", "x", 0, ok},
		{"", "", "", "", 0, []byte(`{"id":"x","cells":[{"id":"../../escape","status":"pass"}]}`)},
		{"", "", "", "", 0, []byte(`{"id":"x","cells":[{"id":"c","status":"pass","stages":[{"name":"build","elapsed":9223372036854775807,"start":"2026-01-01T00:00:00Z"}]}]}`)},
		{"", "", "", "", 0, []byte(`{"id":"x","started":"0001-01-01T00:00:01Z","finished":"9999-12-31T23:59:59Z","cells":[]}`)},
		{"", "", "", "", 0, []byte("{")},
	} {
		f.Add(s.id1, s.id2, s.name, s.link, s.mode, s.raw)
	}
	f.Fuzz(func(t *testing.T, id1, id2, name, link string, mode uint8, raw []byte) {
		parent := t.TempDir()
		for _, d := range []string{"outside", "victim", ".ssh"} {
			if err := os.Mkdir(filepath.Join(parent, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		// .ssh beside the shard: a cell id "../.ssh" names it, and merge
		// must not copy it beside its output.
		for _, p := range []string{"secret", "outside/console.log", ".ssh/id_rsa"} {
			if err := os.WriteFile(filepath.Join(parent, p), []byte(fuzzSecret), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		shard := fuzzShard(t, parent, id1, id2, name, link, mode, raw)
		before := snapshot(parent)
		out := filepath.Join(parent, "victim", "out")
		code, stderr := execWithin(t, "report", "merge", out, shard)
		if code != ExitPass && code != ExitUsage && code != ExitInfra {
			t.Errorf("exit %d; stderr %s", code, stderr)
		}
		// Nothing new or changed outside the output directory.
		after := snapshot(parent)
		for p, m := range after {
			if p == "victim/out" || strings.HasPrefix(p, "victim/out/") {
				continue
			}
			if bm, ok := before[p]; !ok || bm != m {
				t.Errorf("merge created or changed %s outside its output", p)
			}
		}
		filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if !d.IsDir() && !d.Type().IsRegular() {
				t.Errorf("%s in the merged run is a %v", p, d.Type())
				return nil
			}
			if b, _ := os.ReadFile(p); !d.IsDir() && bytes.Contains(b, []byte(fuzzSecret)) {
				t.Errorf("%s in the merged run holds a file from outside the shard", p)
			}
			return nil
		})
		if code == ExitPass {
			if _, err := result.Load(out); err != nil {
				t.Errorf("merge exited 0 but its run.json does not load: %v", err)
			}
		}
	})
}

// fuzzRunJSON is a run.json of one cell with two stages at the given
// times (seconds since 1970, nanosecond durations).
func fuzzRunJSON(id, stage string, s1, e1, s2, e2 int64) []byte {
	st := func(s int64) time.Time {
		if s == 0 {
			return time.Time{}
		}
		return time.Unix(s, 0).UTC()
	}
	r := &result.Run{ID: "fuzz", Status: result.Pass, Started: st(s1), Finished: st(s2), Cells: []result.Cell{{
		ID: id, Status: result.Pass, Tests: []result.Test{{Name: stage, Status: "pass"}},
		Stages: []result.Stage{{Name: stage, Start: st(s1), Elapsed: time.Duration(e1)}, {Name: "boot", Start: st(s2), Elapsed: time.Duration(e2)}},
	}}}
	b, _ := json.Marshal(r)
	return b
}

// FuzzReportHTML: whatever run.json holds, `rig report html` ends within
// 2 s, exits 0 or 2, and a report it writes is bounded in size and holds
// nothing from outside the run directory.
func FuzzReportHTML(f *testing.F) {
	const maxInt, minInt = int64(1<<63 - 1), int64(-1 << 63)
	century := int64(100 * 365 * 24 * 3600)
	for _, s := range []struct {
		id, stage      string
		s1, e1, s2, e2 int64
		raw            []byte
	}{
		{"x86_64", "build", 1764547200, int64(time.Minute), 1764547260, int64(time.Second), nil},
		{"x86_64", "build", 1764547200, maxInt, 1764547200, maxInt, nil},
		{"x86_64", "build", 1764547200, minInt, 0, -1, nil},
		{"x86_64", "build", 0, maxInt, 0, maxInt, nil},
		{"x86_64", "build", -62135596800, 1, 253402300799, 1, nil},
		{"x86_64", "build", 1764547200 - 5*century, 1, 1764547200 + 5*century, 1, nil},
		{"x86_64", "<script>alert(1)</script>", 1, -1, 2, 1, nil},
		{"../x", "build", 1, 1, 2, 2, nil},
		{"x86_64", "build", 0, 0, 0, 0, []byte(`{"id":"x","cells":[{"id":"c","status":"pass","stages":[{"name":"a","elapsed":-9223372036854775808},{"name":"b","elapsed":9223372036854775807},{"name":"c","elapsed":9223372036854775807}]}]}`)},
		{"x86_64", "build", 0, 0, 0, 0, []byte(`{"id":"x","cells":[{"id":"c","status":"pass","stages":[{"name":"a","start":"0001-01-01T00:00:01Z","elapsed":1},{"name":"b","start":"9999-12-31T23:59:59Z","elapsed":1}]}]}`)},
		{"x86_64", "build", 0, 0, 0, 0, []byte(`{"id":"x","cells":[{"id":"c","status":"pass","stages":[` + strings.Repeat(`{"name":"t","elapsed":1},`, 2000) + `{"name":"t","elapsed":1}]}]}`)},
		{"x86_64", "build", 0, 0, 0, 0, []byte(`[]`)},
		{"x86_64", "build", 0, 0, 0, 0, manyTestNames(60, 20)},
	} {
		f.Add(s.id, s.stage, s.s1, s.e1, s.s2, s.e2, s.raw)
	}
	f.Fuzz(func(t *testing.T, id, stage string, s1, e1, s2, e2 int64, raw []byte) {
		parent := t.TempDir()
		if err := os.WriteFile(filepath.Join(parent, "secret"), []byte(fuzzSecret), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(parent, "run")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		b := raw
		if len(b) == 0 {
			b = fuzzRunJSON(id, stage, s1, e1, s2, e2)
		}
		if err := os.WriteFile(filepath.Join(dir, "run.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if safefile.CheckName(id) == nil && os.Mkdir(filepath.Join(dir, id), 0o700) == nil {
			os.Symlink("../../secret", filepath.Join(dir, id, "console.log"))
			os.Symlink(filepath.Join(parent, "secret"), filepath.Join(dir, id, "dmesg.txt"))
		}
		code, stderr := execWithin(t, "report", "html", dir)
		switch code {
		case ExitPass:
			h, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if limit := 64<<10 + 64*len(b); len(h) > limit {
				t.Errorf("report.html of a %d-byte run.json is %d bytes", len(b), len(h))
			}
			if bytes.Contains(h, []byte(fuzzSecret)) {
				t.Error("report.html holds a file from outside the run directory")
			}
			for _, l := range []string{"/console.log\"", "/dmesg.txt\""} {
				if bytes.Contains(h, []byte(fmt.Sprintf("%s%s", safeHref(id), l))) {
					t.Errorf("report.html links %s%s, a symlink out of the run", id, l)
				}
			}
		case ExitUsage:
		default:
			t.Errorf("exit %d; stderr %s", code, stderr)
		}
	})
}

// manyTestNames is a run.json of cells with tests distinct in each: the
// report's table is cells by all test names, so this grows it
// quadratically.
func manyTestNames(cells, tests int) []byte {
	r := &result.Run{ID: "x", Status: result.Pass}
	for i := 0; i < cells; i++ {
		c := result.Cell{ID: fmt.Sprintf("c%d", i), Status: result.Pass}
		for j := 0; j < tests; j++ {
			c.Tests = append(c.Tests, result.Test{Name: fmt.Sprintf("t%d-%d", i, j), Status: "pass"})
		}
		r.Cells = append(r.Cells, c)
	}
	b, _ := json.Marshal(r)
	return b
}

// safeHref is how the page writes a cell directory in an href, enough to
// find a link to it (html/template escapes further; a miss only weakens
// the check).
func safeHref(id string) string { return "href=\"" + id }
