package report_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/history"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// benchTests are the guest's tests (rig tests): a nightly cell runs them
// all.
var benchTests = []string{"kselftest-futex", "pi-consistency", "pi-giveup", "pi-handover", "robust-kill-in-lock",
	"robust-kill-in-unlock", "robust-owner-death", "robust-unmap-remap"}

// makeNights writes nights run directories of cells cells each under dir,
// cloned from the real cells of the nightly fixture (their stages, QEMU
// argv and reasons, so a run.json is as large as a real one): cells vary
// over the nightly plan's arches, accels, configs and series (with
// --baseline cells past 40), statuses come from the fixture's nights in
// turn.
func makeNights(t testing.TB, dir string, nights, cells int) {
	runs, err := history.Load([]string{"../history/testdata/nightly/runs"})
	if err != nil {
		t.Fatal(err)
	}
	configs := []string{"", "+debug", "+kasan", "+kcsan", "+ubsan"}
	start := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	for n := 0; n < nights; n++ {
		src := runs[n%len(runs)].Run
		r := &result.Run{ID: fmt.Sprintf("night-%02d", n+1), Started: start.AddDate(0, 0, n), Status: src.Status, Host: src.Host, Command: src.Command}
		for k := 0; k < cells; k++ {
			c := src.Cells[k%len(src.Cells)]
			arch := []string{"x86_64", "arm64"}[k%2]
			accel := []string{"tcg", "kvm"}[k/2%2]
			cfg := "base+" + arch + configs[k/4%5]
			series := []string{"", "/rig/patches/example"}[k/20%2]
			role := ""
			if k >= 40 {
				role, series = "baseline", ""
			}
			c.ID = fmt.Sprintf("%s-%s-%s-%d-r1", arch, accel, cfg, k)
			c.Arch, c.Accel, c.Config, c.Series, c.Role = arch, accel, cfg, series, role
			var tests []result.Test
			for i, name := range benchTests {
				tt := c.Tests[i%len(c.Tests)]
				tt.Name = name
				tests = append(tests, tt)
			}
			c.Tests = tests
			r.Cells = append(r.Cells, c)
		}
		d := filepath.Join(dir, r.ID)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := result.Save(d, r); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkHistory30Nights: rig report history's work (read, build, write
// history.json and history.html) over 30 nights of the nightly plan, at
// the 16 cells, the plan's 40 and its 60 with the baseline cells.
func BenchmarkHistory30Nights(b *testing.B) {
	for _, cells := range []int{16, 40, 60} {
		b.Run(strconv.Itoa(cells)+"cells", func(b *testing.B) {
			dir := b.TempDir()
			makeNights(b, dir, 30, cells)
			out := b.TempDir()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runs, err := history.Load([]string{dir})
				if err != nil {
					b.Fatal(err)
				}
				h := history.Build(runs, history.DefaultRule)
				if err := history.Write(out, h); err != nil {
					b.Fatal(err)
				}
				if err := report.WriteHistoryHTML(out, h); err != nil {
					b.Fatal(err)
				}
				if len(h.Nights) != 30 {
					b.Fatalf("%d nights", len(h.Nights))
				}
			}
		})
	}
}

// TestMakeBenchNights writes the benchmark's nights for a measurement of
// the CLI (/usr/bin/time -v rig report history DIR):
// RIG_BENCH_NIGHTS=DIR RIG_BENCH_CELLS=40 go test ./rig/report -run TestMakeBenchNights.
func TestMakeBenchNights(t *testing.T) {
	dir := os.Getenv("RIG_BENCH_NIGHTS")
	if dir == "" {
		t.Skip("RIG_BENCH_NIGHTS is not set: nothing to write")
	}
	cells, err := strconv.Atoi(os.Getenv("RIG_BENCH_CELLS"))
	if err != nil {
		t.Fatalf("RIG_BENCH_CELLS: %v", err)
	}
	makeNights(t, dir, 30, cells)
}
