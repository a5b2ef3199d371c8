package report_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/timebox"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// hostileRunDir is a run directory as another machine might send it: a
// failing boot cell and a failing build cell whose console.log and
// build.log are symlinks to a file outside the run, and a cell whose
// console.log is a FIFO nobody writes.
func hostileRunDir(t *testing.T) (dir, secret string) {
	t.Helper()
	secret = "SECRET-TOKEN-from-outside"
	outside := filepath.Join(t.TempDir(), "id_rsa")
	if err := os.WriteFile(outside, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	links := map[string]string{
		"boot/console.log":  outside,
		"build/build.log":   outside,
		"rel/console.log":   "../../" + filepath.Base(filepath.Dir(outside)) + "/id_rsa",
		"other/console.log": "../boot/console.log", // inside the run, outside the cell
	}
	for name, target := range links {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "fifo"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo", "console.log"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := &result.Run{ID: "hostile", Started: now, Finished: now.Add(time.Minute), Status: result.Fail}
	for _, id := range []string{"boot", "rel", "other", "fifo"} {
		r.Cells = append(r.Cells, result.Cell{ID: id, Arch: "x86_64", Status: result.BootError, Cause: "no guest event"})
	}
	r.Cells = append(r.Cells, result.Cell{ID: "build", Arch: "x86_64", Status: result.BuildError, Cause: "make failed"})
	if err := result.Save(dir, r); err != nil {
		t.Fatal(err)
	}
	return dir, secret
}

// TestReportsDoNotPullOutsideFiles: junit.xml, kcidb.json and report.html
// of a run directory whose logs are symlinks out of their cell hold none of
// the target's content and link none of those logs, and a FIFO log does not
// block them.
func TestReportsDoNotPullOutsideFiles(t *testing.T) {
	dir, secret := hostileRunDir(t)
	r, err := result.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = timebox.Call(t, 5*time.Second, "writing the reports", func() error {
		if err := report.WriteReports(dir, r); err != nil {
			return err
		}
		if err := report.WriteHTML(dir, r); err != nil {
			return err
		}
		return report.WriteKCIDB(dir, r, report.KCIDBOptions{Dir: dir, BaseURL: "https://ci.example.org/run"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"junit.xml", "kcidb.json", "report.html", "summary.md"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the content of a file outside the run directory", f)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "kcidb.json"))
	for _, l := range []string{"boot/console.log", "build/build.log", "fifo/console.log", "other/console.log"} {
		if strings.Contains(string(b), l) {
			t.Errorf("kcidb.json links %s, which is not a regular file of its cell", l)
		}
	}
	h, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if strings.Contains(string(h), `href="boot/console.log"`) {
		t.Error("report.html links a console.log that leads outside the run")
	}
}

// hostileStages are stage lists a damaged or hostile run.json can hold.
var hostileStages = map[string][]result.Stage{
	"max duration":       {{Name: "build", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Duration(1<<63 - 1)}},
	"min duration":       {{Name: "build", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Duration(-1 << 63)}},
	"negative durations": {{Name: "build", Elapsed: -time.Hour}, {Name: "boot", Elapsed: -time.Second}},
	"centuries apart": {
		{Name: "build", Start: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Second},
		{Name: "boot", Start: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Second},
	},
	"years apart, max elapsed": {
		{Name: "build", Start: time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Duration(1<<63 - 1)},
		{Name: "boot", Start: time.Date(9998, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Duration(1<<63 - 1)},
	},
	"no starts, max elapsed": {{Name: "build", Elapsed: time.Duration(1<<63 - 1)}, {Name: "boot", Elapsed: time.Duration(1<<63 - 1)}},
	"many stages":            manyStages(100000),
}

func manyStages(n int) []result.Stage {
	s := make([]result.Stage, n)
	for i := range s {
		s[i] = result.Stage{Name: "tests", Elapsed: time.Second}
	}
	return s
}

// TestTimelineHostileTimes: report.html of a cell with hostile stage times
// is written within a second or two and stays small: a bounded number of
// ticks and bars, whatever the durations and start times say.
func TestTimelineHostileTimes(t *testing.T) {
	for name, stages := range hostileStages {
		t.Run(name, func(t *testing.T) {
			r := &result.Run{ID: "r", Status: result.Pass, Cells: []result.Cell{{ID: "x86_64", Status: result.Pass, Stages: stages}}}
			var b strings.Builder
			if err := timebox.Call(t, 5*time.Second, "report.html", func() error { return report.HTML(&b, r) }); err != nil {
				t.Fatal(err)
			}
			if b.Len() > 1<<20 {
				t.Errorf("report.html is %d bytes for one cell", b.Len())
			}
			if n := strings.Count(b.String(), `class="tick"`); n > 8 {
				t.Errorf("%d axis ticks", n)
			}
		})
	}
}
