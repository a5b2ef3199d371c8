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

// MaxRunJSON bounds the run.json Load reads (a matrix of the most cells a
// plan may have takes a few MB).
const MaxRunJSON = 64 << 20

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
	for i, c := range r.Cells {
		if err := safefile.CheckName(c.ID); err != nil {
			return nil, fmt.Errorf("%s/run.json: cell %d: id %w", dir, i+1, err)
		}
		if c.Reproduce != "" {
			if err := safefile.CheckName(c.Reproduce); err != nil {
				return nil, fmt.Errorf("%s/run.json: cell %s: reproduce %w", dir, c.ID, err)
			}
		}
	}
	return &r, nil
}
