package run

import "time"

// Spec describes one cell: the tree, the series, the arch and accelerator,
// the config fragments and the guest's tests. The matrix expands a plan
// into Specs (rig/matrix) and runs each through Executor.RunCell.
type Spec struct {
	ID       string        // unique, readable, usable as a directory name
	Tree     string        // kernel source path; "" = the default Debian tree
	Series   string        // patch series path; "" = the base tree
	Arch     string        // canonical arch name (x86_64, arm64)
	Accel    string        // auto, kvm, tcg
	Configs  []string      // extra fragments beyond base and the arch's
	Tests    []string      // guest tests; empty = all
	Duration time.Duration // 0 = the executor's default
	Repeat   int           // 1-based repeat number
	Baseline bool          // also run the unpatched tree and label tests (only set when Series != "")
}
