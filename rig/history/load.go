package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/result"
)

// File is the name of the history in its output directory.
const File = "history.json"

// Bounds on what is read: run.json files come from other machines. A
// run.json's bytes are bounded by result.Load (result.MaxRunJSON).
const (
	MaxHistoryJSON = 64 << 20 // bytes of a history.json
	MaxRuns        = 2000     // run directories in one history
	MaxCells       = 5000     // cells of one run
	MaxTests       = 500      // tests of one cell
)

// Loaded is a run and the directory it was read from.
type Loaded struct {
	Run *result.Run
	Dir string
}

// ErrNoRun is a directory that is neither a run directory nor holds any.
var ErrNoRun = errors.New("no run.json in it or in its subdirectories")

// Load reads each path: a run directory (with run.json) or a directory of
// run directories (one level down). A path given twice is read once.
func Load(paths []string) ([]Loaded, error) {
	var out []Loaded
	seen := map[string]bool{}
	add := func(dir string) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		if seen[abs] {
			return nil
		}
		seen[abs] = true
		if len(out) >= MaxRuns {
			return fmt.Errorf("more than %d runs: give the history fewer nights", MaxRuns)
		}
		r, err := readRun(dir)
		if err != nil {
			return err
		}
		out = append(out, Loaded{Run: r, Dir: dir})
		return nil
	}
	for _, p := range paths {
		if isRun(p) {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		n := 0
		for _, e := range ents {
			sub := filepath.Join(p, e.Name())
			if !e.IsDir() || !isRun(sub) {
				continue
			}
			if err := add(sub); err != nil {
				return nil, err
			}
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: %w", p, ErrNoRun)
		}
	}
	return out, nil
}

func isRun(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "run.json"))
	return err == nil && st.Mode().IsRegular()
}

// readRun reads dir/run.json as every reader of runs does (result.Load:
// size, cell ids), then holds it to a history's tighter bounds, since a
// history holds up to MaxRuns of them at once.
func readRun(dir string) (*result.Run, error) {
	r, err := result.Load(dir)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(dir, "run.json")
	if len(r.Cells) > MaxCells {
		return nil, fmt.Errorf("%s: %d cells, more than the %d a history reads: not a run the rig wrote", name, len(r.Cells), MaxCells)
	}
	for _, c := range r.Cells {
		if len(c.Tests) > MaxTests {
			return nil, fmt.Errorf("%s: cell %s has %d tests, more than the %d a history reads", name, result.Clean(c.ID, 80), len(c.Tests), MaxTests)
		}
	}
	return r, nil
}

func readJSON(name string, max int64, v any) error {
	f, err := safefile.Open(name) // a FIFO is refused, not waited on
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return fmt.Errorf("%s: larger than %d MiB: not a file the rig wrote", name, max>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Read reads a history.json (for `--history FILE`).
func Read(name string) (*History, error) {
	var h History
	if err := readJSON(name, MaxHistoryJSON, &h); err != nil {
		return nil, err
	}
	if h.Version != Version {
		return nil, fmt.Errorf("%s: history.json version %d, this rig reads version %d: rebuild it with `rig report history`", name, h.Version, Version)
	}
	for i, r := range h.Rows {
		if len(r.Marks) != len(h.Nights) {
			return nil, fmt.Errorf("%s: row %d has %d marks for %d nights: not a history.json the rig wrote", name, i, len(r.Marks), len(h.Nights))
		}
	}
	return &h, nil
}

// Write writes dir/history.json atomically.
func Write(dir string, h *History) error {
	b, err := json.Marshal(h) // compact: 30 nights of 60 cells are megabytes
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, File), append(b, '\n'), 0o644)
}
