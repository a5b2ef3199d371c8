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
	"syscall"

	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/known"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// MissingRunError is a directory given to Merge without a run.json, or
// with one that cannot be read or parsed: bad input, as for the other
// report commands (exit 2).
type MissingRunError struct {
	Dir string
	Err error
}

func (e *MissingRunError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("%s is not a run directory: no run.json (%v)", e.Dir, e.Err)
	}
	return fmt.Sprintf("%s: run.json cannot be read: %v", e.Dir, e.Err)
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
		if err != nil {
			return nil, &MissingRunError{Dir: d, Err: err}
		}
		for _, c := range r.Cells {
			if prev, ok := owner[c.ID]; ok {
				return nil, &DuplicateCellError{ID: c.ID, First: prev, Second: d}
			}
			owner[c.ID] = d
		}
		runs[i] = r
	}
	if st, err := os.Stat(out); err == nil && !st.IsDir() {
		// Not ReadDir: opening a FIFO to read it would block.
		return nil, fmt.Errorf("%s exists and is a %s: merge into a new directory", out, safefile.Kind(st.Mode()))
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
			if err := copyCell(dirs[i], out, c.ID); err != nil {
				return nil, fmt.Errorf("copying cell %s of %s: %w", c.ID, dirs[i], err)
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

// copyCell copies the directory of cell id from the run directory in to
// out, if it has one. The shard is untrusted: id is a plain name (Load
// checks it), both sides are opened as os.Roots so neither the ID nor a
// symlink in the cell leads outside them, and only regular files inside
// the cell are copied (a symlink to one is copied as the file; symlinks
// leading out of the cell, FIFOs and devices are left out).
func copyCell(in, out, id string) error {
	if err := safefile.CheckName(id); err != nil {
		return err
	}
	inRoot, err := os.OpenRoot(in)
	if err != nil {
		return err
	}
	defer inRoot.Close()
	src, err := inRoot.OpenRoot(id)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || safefile.Escapes(err) {
		return nil // no directory (the cell never ran), or none inside the shard
	}
	if err != nil {
		return err
	}
	defer src.Close()
	outRoot, err := os.OpenRoot(out)
	if err != nil {
		return err
	}
	defer outRoot.Close()
	if err := outRoot.Mkdir(id, 0o700); err != nil {
		return err
	}
	dst, err := outRoot.OpenRoot(id)
	if err != nil {
		return err
	}
	defer dst.Close()
	return fs.WalkDir(src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case p == ".":
			return nil
		case d.IsDir():
			return dst.Mkdir(p, 0o700)
		case d.Type().IsRegular(), d.Type()&fs.ModeSymlink != 0:
			return copyFile(src, dst, p)
		}
		return nil
	})
}

// copyFile copies the regular file p of src to dst; what is not one
// (a symlink leading out of src or to a FIFO) is skipped.
func copyFile(src, dst *os.Root, p string) error {
	in, err := safefile.OpenIn(src, p)
	if safefile.IsRefused(err) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := dst.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
