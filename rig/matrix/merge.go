package matrix

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// MissingRunError is a directory given to Merge without a run.json.
type MissingRunError struct {
	Dir string
	Err error
}

func (e *MissingRunError) Error() string {
	return fmt.Sprintf("%s is not a run directory: no run.json (%v)", e.Dir, e.Err)
}
func (e *MissingRunError) Unwrap() error { return e.Err }

// DuplicateCellError is a cell ID found in two of the runs to merge (the
// same shard downloaded twice, or shards of different plans).
type DuplicateCellError struct {
	ID            string
	First, Second string // the run directories
}

func (e *DuplicateCellError) Error() string {
	return fmt.Sprintf("cell %s is in both %s and %s", e.ID, e.First, e.Second)
}

// Merge joins shard run directories into one new run directory out: the
// cells of all runs (sorted by ID, each cell directory copied), status the
// worst of the runs', Started the earliest, Finished the latest; it writes
// run.json and a single run's reports (report.WriteAll). out must not exist
// or be empty. Nothing is written when an input is missing its run.json or
// two runs have a cell with the same ID. command is recorded as the merged
// run's Command. With kl, the cells' failures are matched against those
// known issues again (known.Apply) and the status is judged from the cells,
// keeping a shard's own interruption or infrastructure failure.
func Merge(out string, dirs []string, command []string, kl *known.List) (*result.Run, error) {
	if len(dirs) == 0 {
		return nil, errors.New("nothing to merge: give at least one run directory")
	}
	absOut, _ := filepath.Abs(out)
	runs := make([]*result.Run, len(dirs))
	owner := map[string]string{}
	for i, d := range dirs {
		if a, _ := filepath.Abs(d); a == absOut {
			return nil, fmt.Errorf("%s is both an input and the output", d)
		}
		r, err := result.Load(d)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &MissingRunError{Dir: d, Err: err}
		}
		if err != nil {
			return nil, err
		}
		for _, c := range r.Cells {
			if prev, ok := owner[c.ID]; ok {
				return nil, &DuplicateCellError{ID: c.ID, First: prev, Second: d}
			}
			owner[c.ID] = d
		}
		runs[i] = r
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s exists and is not empty: merge into a new directory", out)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, err
	}

	m := &result.Run{ID: filepath.Base(absOut), Command: command, Status: result.Pass, Host: runs[0].Host,
		Configs: runs[0].Configs, Tests: runs[0].Tests}
	var sources, series []string
	seeds := map[int64]bool{}
	kept, keptCause := result.Pass, "" // the shards' own interruption or infrastructure failure
	for i, r := range runs {
		if m.Started.IsZero() || (!r.Started.IsZero() && r.Started.Before(m.Started)) {
			m.Started = r.Started
		}
		if r.Finished.After(m.Finished) {
			m.Finished = r.Finished
		}
		st, cause := r.Status, r.Cause
		if st == "" {
			st, cause = result.Interrupted, "run "+r.ID+" in "+dirs[i]+" never finished"
		}
		if w := result.Worst(m.Status, st); w != m.Status {
			m.Status, m.Cause = w, cause
		}
		if (st == result.Interrupted || st == result.InfraError) && result.Worst(kept, st) != kept {
			kept, keptCause = st, cause
		}
		sources = appendNew(sources, r.KernelSource)
		series = appendNew(series, r.Series)
		seeds[r.Seed] = true
		for _, c := range r.Cells {
			src := filepath.Join(dirs[i], c.ID)
			if _, err := os.Stat(src); err == nil {
				if err := copyTree(src, filepath.Join(out, c.ID)); err != nil {
					return nil, fmt.Errorf("copying cell %s: %w", c.ID, err)
				}
			}
			m.Cells = append(m.Cells, c)
		}
	}
	sort.SliceStable(m.Cells, func(i, j int) bool { return m.Cells[i].ID < m.Cells[j].ID })
	m.KernelSource = strings.Join(sources, ", ")
	m.Series = strings.Join(series, ", ")
	if len(seeds) == 1 {
		m.Seed = runs[0].Seed
	}
	if kl != nil {
		known.Apply(m, kl)
		m.Status, m.Cause = kept, keptCause
		m.Finish(m.Finished)
	}
	if err := result.Save(out, m); err != nil {
		return nil, err
	}
	return m, report.WriteAll(out, m, report.KCIDBOptions{Dir: out})
}

func appendNew(l []string, s string) []string {
	if s == "" {
		return l
	}
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

// copyTree copies a cell directory: directories, regular files and
// symlinks (as links); anything else is skipped.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
