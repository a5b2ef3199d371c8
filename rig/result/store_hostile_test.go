package result

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/internal/safefile"
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
		done := make(chan error, 1)
		go func() { _, err := Load(d); done <- err }()
		select {
		case err := <-done:
			var nr *safefile.NotRegularError
			if !errors.As(err, &nr) {
				t.Errorf("Load(%s) = %v, want a NotRegularError", d, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Load(%s) blocked", d)
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
