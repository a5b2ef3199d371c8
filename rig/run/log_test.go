package run

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/internal/ui"
	"github.com/rig-kernel/rig/rig/result"
)

// A cell's verdict lands in its rig.log as a JSON record naming the run,
// the cell and the arch.
func TestCellLog(t *testing.T) {
	a, _ := arch.Lookup("arm64")
	c := &cell{dir: t.TempDir(), ui: ui.Discard(), rec: &record{run: &result.Run{ID: "r1"}}, res: &result.Cell{ID: "arm64-tcg"}, arch: a}
	c.fail(result.BuildError, "compiler error: kernel/futex/core.c:1:1: error: boom\nmore")
	c.fail(result.Pass, "")
	b, err := os.ReadFile(filepath.Join(c.dir, "rig.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("rig.log has %d records, want 2:\n%s", len(lines), b)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"level": "WARN", "msg": "verdict", "run": "r1", "cell": "arm64-tcg", "arch": "arm64", "status": "build-error"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %q (record %s)", k, rec[k], want, lines[0])
		}
	}
	if !strings.Contains(lines[1], `"level":"INFO"`) {
		t.Errorf("a pass is logged at %s", lines[1])
	}
}
