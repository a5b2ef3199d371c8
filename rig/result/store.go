package result

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// NewRunDir creates a fresh results/<run-id>/ directory (0700: it holds the
// console of a kernel under test). Ids are time-ordered and carry random
// bits, and the directory is created exclusively, so two rigs started in the
// same second never share one.
func NewRunDir(results string, now time.Time) (id, dir string, err error) {
	if err := os.MkdirAll(results, 0o755); err != nil {
		return "", "", fmt.Errorf("results directory %s: %w", results, err)
	}
	for i := 0; i < 10; i++ {
		var b [3]byte
		_, _ = rand.Read(b[:])
		id = now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
		dir = filepath.Join(results, id)
		err = os.Mkdir(dir, 0o700)
		if err == nil {
			return id, dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("results directory %s: %w", dir, err)
		}
	}
	return "", "", fmt.Errorf("could not create a unique run directory in %s: %w", results, err)
}

// Save writes run.json atomically (a reader never sees half a file; an
// interrupted run keeps the last complete state).
func Save(dir string, r *Run) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "run.json"), append(b, '\n'), 0o644)
}

// Bounds on a run.json Load reads. A plan has at most 10,000 cells
// (rig/matrix); a run has some tens of tests. The report's table is cells
// by test names, so both are bounded, not only the bytes.
const (
	MaxRunJSON  = 64 << 20
	MaxCells    = 20000
	MaxTestName = 1000    // distinct test names in a run
	MaxTable    = 2000000 // cells x distinct test names
)

// TooManyError is a run.json with more cells or test names than a run
// can have.
type TooManyError struct {
	File, What string
	N, Max     int
}

func (e *TooManyError) Error() string {
	return fmt.Sprintf("%s: %d %s, more than the %d a run can have: not a run the rig wrote", e.File, e.N, e.What, e.Max)
}

// RunFiles are the files a run directory holds beside its cell
// directories: no cell may be called by one of their names, or its
// directory would take the file's place (a merge would fail half done).
var RunFiles = map[string]bool{
	"run.json": true, "summary.md": true, "junit.xml": true, "report.html": true,
	"kcidb.json": true, "history.json": true, "history.html": true,
}

// Load reads a run.json. It may come from another machine (a CI shard, a
// downloaded artifact): it must be a regular file of at most MaxRunJSON
// bytes, and each cell ID (and replay script name) must be a plain name,
// as readers join it onto the run directory (and print it as a command).
func Load(dir string) (*Run, error) {
	b, err := safefile.ReadFile(filepath.Join(dir, "run.json"), MaxRunJSON)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s/run.json: %w", dir, err)
	}
	if r.ID == "" {
		// null, {} or another program's JSON: reports of it would be
		// empty, and a diff against it would compare nothing.
		return nil, fmt.Errorf("%s/run.json: not a run record: it has no id", dir)
	}
	file := filepath.Join(dir, "run.json")
	if len(r.Cells) > MaxCells {
		return nil, &TooManyError{File: file, What: "cells", N: len(r.Cells), Max: MaxCells}
	}
	names := map[string]bool{}
	for i, c := range r.Cells {
		for _, t := range c.Tests {
			names[t.Name] = true
		}
		if len(names) > MaxTestName {
			return nil, &TooManyError{File: file, What: "distinct test names", N: len(names), Max: MaxTestName}
		}
		if err := safefile.CheckName(c.ID); err != nil {
			return nil, fmt.Errorf("%s/run.json: cell %d: id %w", dir, i+1, err)
		}
		if RunFiles[c.ID] {
			return nil, fmt.Errorf("%s/run.json: cell %d: id %q is the name of a run's own file: the run.json is damaged or hostile", dir, i+1, c.ID)
		}
		if c.Reproduce != "" {
			if err := safefile.CheckName(c.Reproduce); err != nil {
				return nil, fmt.Errorf("%s/run.json: cell %s: reproduce %w", dir, c.ID, err)
			}
		}
	}
	if n := len(r.Cells) * len(names); n > MaxTable {
		return nil, &TooManyError{File: file, What: "cells x test names", N: n, Max: MaxTable}
	}
	return &r, nil
}
