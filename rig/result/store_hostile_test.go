package result

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/internal/timebox"
)

// TestLoadRefusesPathCellIDs: a run.json from another machine whose cell
// ID is not a plain directory name is refused, naming the file and the ID,
// before any reader joins the ID onto a path.
func TestLoadRefusesPathCellIDs(t *testing.T) {
	for _, id := range []string{"../.ssh", "..", ".", "", "a/b", "/etc", "x\x00y"} {
		dir := t.TempDir()
		r := &Run{ID: "r", Cells: []Cell{{ID: "x86_64", Status: Pass}, {ID: id, Status: Pass}}}
		if err := Save(dir, r); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		var bn *safefile.BadNameError
		if !errors.As(err, &bn) {
			t.Errorf("cell id %q: Load = %v, want a BadNameError", id, err)
			continue
		}
		if !strings.Contains(err.Error(), "run.json: cell 2") {
			t.Errorf("cell id %q: error does not name run.json and the cell: %v", id, err)
		}
	}
}

// TestLoadRefusesPathReproduce: a replay script name leading out of its
// cell (the screen summary prints it as a command to run) is refused.
func TestLoadRefusesPathReproduce(t *testing.T) {
	dir := t.TempDir()
	r := &Run{ID: "r", Cells: []Cell{{ID: "x86_64", Status: Fail, Reproduce: "../../../tmp/evil.sh"}}}
	if err := Save(dir, r); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "reproduce") {
		t.Errorf("Load = %v, want an error about the reproduce name", err)
	}
}

// TestLoadSpecialRunJSON: a FIFO or a directory as run.json is refused at
// once instead of blocking or reading forever.
func TestLoadSpecialRunJSON(t *testing.T) {
	fifoDir, dirDir := t.TempDir(), t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "run.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dirDir, "run.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{fifoDir, dirDir} {
		err := timebox.Call(t, 2*time.Second, "Load "+d, func() error { _, err := Load(d); return err })
		var nr *safefile.NotRegularError
		if !errors.As(err, &nr) {
			t.Errorf("Load(%s) = %v, want a NotRegularError", d, err)
		}
	}
}

// TestLoadSizeBound: a run.json over MaxRunJSON is refused before it is
// parsed (a sparse file: no disk used).
func TestLoadSizeBound(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxRunJSON + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var tl *safefile.TooLargeError
	if _, err := Load(dir); !errors.As(err, &tl) {
		t.Errorf("Load of a %d-byte run.json = %v, want a TooLargeError", MaxRunJSON+1, err)
	}
}

// TestLoadCountBounds: a run.json with more cells, or more distinct test
// names, than a run can have is refused with a TooManyError naming the
// count (report.html's table is cells by test names: 300,000 cells took
// 100 s and 1 GB to render); at the bounds it loads.
func TestLoadCountBounds(t *testing.T) {
	cells := func(n, tests int) []Cell {
		c := make([]Cell, n)
		for i := range c {
			c[i] = Cell{ID: fmt.Sprintf("c%d", i), Status: Pass}
			for j := 0; j < tests; j++ {
				c[i].Tests = append(c[i].Tests, Test{Name: fmt.Sprintf("t%d-%d", i, j), Status: "pass"})
			}
		}
		return c
	}
	// spread is n cells of one test each, named round-robin from
	// MaxTestName names: a table of n x MaxTestName.
	spread := func(n int) []Cell {
		c := make([]Cell, n)
		for i := range c {
			c[i] = Cell{ID: fmt.Sprintf("c%d", i), Status: Pass, Tests: []Test{{Name: fmt.Sprintf("t%d", i%MaxTestName), Status: "pass"}}}
		}
		return c
	}
	for _, tc := range []struct {
		cells   []Cell
		refused string
	}{
		{cells(MaxCells, 0), ""},
		{cells(MaxCells+1, 0), "cells"},
		{cells(10, MaxTestName/10), ""},
		{cells(10, MaxTestName/10+1), "distinct test names"},
		{spread(MaxTable / MaxTestName), ""},
		{spread(MaxTable/MaxTestName + 1), "cells x test names"},
	} {
		dir := t.TempDir()
		if err := Save(dir, &Run{ID: "r", Cells: tc.cells}); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		var tm *TooManyError
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%d cells: %v", len(tc.cells), err)
		case tc.refused != "" && (!errors.As(err, &tm) || tm.What != tc.refused):
			t.Errorf("%d cells: Load = %v, want too many %s", len(tc.cells), err, tc.refused)
		}
	}
}

// TestLoadRefusesRunFileCellIDs: a cell called like one of the run's own
// files would have its directory take that file's place in a merge.
func TestLoadRefusesRunFileCellIDs(t *testing.T) {
	for id := range RunFiles {
		dir := t.TempDir()
		r := &Run{ID: "r", Cells: []Cell{{ID: id, Status: Pass}}}
		if err := Save(dir, r); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "a run's own file") {
			t.Errorf("cell id %q: Load = %v, want it refused", id, err)
		}
	}
}
