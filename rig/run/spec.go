package run

import (
	"time"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// Spec describes one cell: the tree, the series, the arch and accelerator,
// the config fragments and the guest's tests. `rig run` expands its
// options into Specs, the matrix expands a plan into them (rig/matrix),
// and `rig boot` is a Spec with a kernel already built; each runs through
// the same pipeline (cell.execute).
type Spec struct {
	ID     string // unique, readable, usable as a directory name
	Tree   string // kernel source path; "" = the default Debian tree
	Series string // patch series path (only a name when Patches is set); "" = the base tree
	// Patches is the series in memory (bisect's prefixes); nil = read
	// from Series.
	Patches []patch.Patch
	// Input is where the series applies (nil: the tree as it is).
	Input    *Input
	Arch     string        // canonical arch name (x86_64, arm64)
	Accel    string        // auto, kvm, tcg; "" = auto
	Configs  []string      // extra fragments beyond base and the arch's
	Tests    []string      // guest tests; empty = all
	Duration time.Duration // 0 = the run's
	Seed     int64         // 0 = the run's seed + Repeat - 1
	Repeat   int           // 1-based repeat number
	Baseline bool          // also run the unpatched tree and label tests (only set when Series != "")
	Role     string        // "baseline": the unpatched twin of a patched cell
	// Prefix > 0 marks a cell of `rig run --each-patch`: Patches is the
	// first Prefix patches of a series of PrefixOf (eachpatch.go).
	Prefix, PrefixOf int

	// Kernel boots a kernel already built (rig boot): no source, apply
	// or build. Initramfs is its image ("" = the guest's, packed).
	Kernel, Initramfs string
	Shell             bool // u-root's shell on the console instead of tests

	// Programs are the --exec'd programs of the cell's arch (newCell
	// picks them from the run's), each run as a test.
	Programs []result.Program
	// GDB boots under a gdb stub, paused until gdb continues it (rig boot
	// --gdb; gdb.go).
	GDB bool
}
