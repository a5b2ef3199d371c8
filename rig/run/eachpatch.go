package run

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
)

// `rig run --each-patch` tests every prefix of a series, as ktest's
// patchcheck does: per arch, a cell for the first 1, 2, ... n patches (after
// the baseline, the base tree, with --baseline). The cells of an arch
// prepare in order in its build slot, so each prefix is an incremental
// build of the one before, and they boot one at a time like any run's
// cells (schedule.go). A prefix after one that did not apply is not tried.

// prefixSpecs expands one arch's patched cell s into a cell per prefix of
// its series, in order, and per accelerator within a prefix.
func prefixSpecs(s Spec, id string, accels []string) []Spec {
	var out []Spec
	n := len(s.Patches)
	for k := 1; k <= n; k++ {
		for _, acc := range accels {
			c := s
			c.Patches = s.Patches[:k:k]
			c.Prefix, c.PrefixOf = k, n
			c.ID, c.Accel = sanitizeID(fmt.Sprintf("%s-p%d", id, k)), acc
			if len(accels) > 1 {
				c.ID = sanitizeID(fmt.Sprintf("%s-p%d-%s", id, k, acc))
			}
			out = append(out, c)
		}
	}
	return out
}

// notePrefix records on a prefix cell's result which prefix it tests.
func (s Spec) notePrefix(res *result.Cell) {
	if s.Prefix <= 0 || s.Prefix > len(s.Patches) {
		return
	}
	p := s.Patches[s.Prefix-1]
	res.Prefix, res.PrefixOf, res.PatchName, res.PatchSubject = s.Prefix, s.PrefixOf, p.Name, p.Subject
}

// gatePrefixes makes each prefix cell look, in its prepare turn, at the
// prefix before it on its arch (prepared just before it, in the same
// slot): if that one did not apply, neither can this one, and it is not
// tried.
func gatePrefixes(cells []*cell) {
	for i, c := range cells {
		if c.spec.Prefix <= 1 {
			continue
		}
		var prev *cell
		for _, p := range cells[:i] {
			if p.arch.Name == c.arch.Name && p.spec.Prefix == c.spec.Prefix-1 {
				prev = p
			}
		}
		if prev == nil {
			continue
		}
		c.gate = func() bool {
			if prev.res.Status != result.PatchError {
				return true
			}
			cause := prev.res.Cause
			if !prev.res.NotTried {
				cause = "not tried: " + failedPatch(prev.res.Patches) + " does not apply"
			}
			c.res.NotTried = true
			for _, p := range c.spec.Patches {
				c.res.Patches = append(c.res.Patches, result.Patch{Name: p.Name, Subject: p.Subject, State: string(patch.StateNotTried), SHA256: patchSum(p.Data)})
			}
			c.ui.Stage(c.res.ID, "apply", cause)
			c.fail(result.PatchError, cause)
			c.save()
			return false
		}
	}
}

// failedPatch names the patch that did not apply: "patch 3 (0003-x.patch)".
func failedPatch(applied []result.Patch) string {
	for i, p := range applied {
		if p.State == string(patch.StateFailed) {
			return fmt.Sprintf("patch %d (%s)", i+1, p.Name)
		}
	}
	return "an earlier patch"
}

// namePrefixes puts the prefix in front of each prefix cell's cause, so
// that the run's cause (its worst cell's) says which patch it is about.
func namePrefixes(cells []*cell) {
	for _, c := range cells {
		r := c.res
		if r.Prefix == 0 || r.Status == result.PatchError {
			continue
		}
		after := fmt.Sprintf("after patch %d/%d (%s): ", r.Prefix, r.PrefixOf, r.PatchName)
		if r.Cause != "" {
			r.Cause = after + r.Cause
		}
		if r.VerdictCause != "" {
			r.VerdictCause = after + r.VerdictCause
		}
	}
}

// patchSum is the hex sha256 of a patch file, recorded with the cell's
// patches (result.Patch.SHA256).
func patchSum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
