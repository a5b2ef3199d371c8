package history

import (
	"path/filepath"
	"strings"
	"testing"
)

// The nightly fixture: 17 real `rig matrix` nights made by
// testdata/nightly/make.sh (x86_64 and arm64 under TCG; the base tree,
// patches/example, then patches/break-owner-death on nights 13-16; the
// deliberately random random-coin program; --known from night 15 on).
const knownLink = "https://lkml.iu.edu/hypermail/linux/kernel/2606.0/05634.html"

func fixture(t *testing.T, rule Rule) *History {
	t.Helper()
	runs, err := Load([]string{"testdata/nightly/runs"})
	if err != nil {
		t.Fatal(err)
	}
	return Build(runs, rule)
}

// TestFixtureHistory checks the history of the real nights against what
// their run.json files say, night by night.
func TestFixtureHistory(t *testing.T) {
	h := fixture(t, DefaultRule)
	if len(h.Nights) != 17 || len(h.Rows) != 20 {
		t.Fatalf("%d nights, %d rows; want 17 nights, 20 rows (2 arches x 2 roles x (cell + 4 tests))", len(h.Nights), len(h.Rows))
	}
	for i, n := range h.Nights {
		if want := filepath.Base(n.Dir)[:2]; want != twoDigits(i+1) {
			t.Errorf("night %d is %s: not in the order they ran", i+1, n.Dir)
		}
	}
	// The regression: break-owner-death broke robust-owner-death on both
	// arches on night 13, after example passed on night 12.
	breakRun, err := readRun("testdata/nightly/runs/13-break-owner-death")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		r := findRow(t, h, arch+" tcg base+"+arch+" patched r1", "robust-owner-death")
		var tree string
		for _, c := range breakRun.Cells {
			if c.Arch == arch {
				tree = c.TreeID
			}
		}
		ff, lp, s := r.FirstFailing, r.LastPassing, r.Streak
		if ff == nil || ff.Night != 12 || ff.Series != "break-owner-death" || ff.Tree != tree || tree == "" {
			t.Errorf("%s: first failing %+v, want night 13 (index 12), break-owner-death, tree %s", arch, ff, tree)
		}
		if lp == nil || lp.Night != 11 || lp.Series != "example" {
			t.Errorf("%s: last passing %+v, want night 12 (index 11), example", arch, lp)
		}
		if s == nil || s.Outcome != "fail" || s.Runs != 4 || s.Since != *ff || s.After == nil || *s.After != *lp {
			t.Errorf("%s: streak %+v, want fail x4 since night 13, after night 12", arch, s)
		}
		if len(r.Flips) != 1 || r.Flaky {
			t.Errorf("%s: %d flips, flaky %v: a regression is one flip, not flaky", arch, len(r.Flips), r.Flaky)
		}
	}
	// The known issue: robust-unmap-remap fails every night; from night 15
	// on, --known marks it.
	for _, id := range []string{"x86_64 tcg base+x86_64 unpatched r1", "arm64 tcg base+arm64 patched r1"} {
		r := findRow(t, h, id, "robust-unmap-remap")
		first := r.Marks[r.FirstFailing.Night]
		if r.LastPassing != nil || r.Known != knownLink || first.Known != "" || r.FirstFailing.Night > 2 {
			t.Errorf("%s robust-unmap-remap: last passing %+v, known %q, first failing %+v %+v", id, r.LastPassing, r.Known, r.FirstFailing, first)
		}
	}
	if m := findRow(t, h, "x86_64 tcg base+x86_64 unpatched r1", "robust-unmap-remap").Marks[16]; m.Known != knownLink {
		t.Errorf("night 17 unpatched robust-unmap-remap: %+v, want known", m)
	}
	// Flaky: exactly the random-coin rows of the patched cells, which ran
	// on 12 nights each (the unpatched ones ran on 6 and flipped 1 and 2
	// times).
	var flaky []string
	for _, r := range h.Rows {
		if r.Flaky {
			flaky = append(flaky, r.Identity.String()+" "+r.Test)
			if r.RecentFlips < 3 {
				t.Errorf("%s %s flaky with %d recent flips", r.Identity, r.Test, r.RecentFlips)
			}
		}
	}
	if got := strings.Join(flaky, ", "); got != "arm64 tcg base+arm64 patched r1 random-coin, x86_64 tcg base+x86_64 patched r1 random-coin" {
		t.Errorf("flaky rows: %s", got)
	}
	// A stricter rule leaves only the arm64 one (8 flips in its last 10).
	h = fixture(t, Rule{Flips: 6, Runs: 10})
	if r := findRow(t, h, "x86_64 tcg base+x86_64 patched r1", "random-coin"); r.Flaky {
		t.Errorf("6/10: x86_64 random-coin flaky with %d recent flips", r.RecentFlips)
	}
	if r := findRow(t, h, "arm64 tcg base+arm64 patched r1", "random-coin"); !r.Flaky {
		t.Errorf("6/10: arm64 random-coin not flaky with %d recent flips", r.RecentFlips)
	}
}

func twoDigits(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }
