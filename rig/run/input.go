package run

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/rig-kernel/rig/rig/patch"
	"github.com/rig-kernel/rig/rig/result"
	"github.com/rig-kernel/rig/rig/source"
)

// Input is where a run's series applies, resolved once by Prepare and
// shared by its cells (docs/design.md, "Which tree is tested").
type Input struct {
	// Base is the revision the series applies to; "" = the tree as it
	// is (a checkout's working tree, or HEAD with Committed).
	Base string
	// By says what chose Base: "base-commit: in b4.mbox#1", "--base v6.12", "--series v1..v2".
	By            string
	Range         string   // the revision range --series named, if it did
	Tip           string   // the range's last commit
	Stated        string   // the base-commit the series states
	Prerequisites []string // the series' prerequisite-patch-id lines
}

// resolveInput reads the series (a file series, or a revision range of the
// git checkout the run tests) and decides where it applies: a range on its
// base, --base if given, else the base the series states, else the tree
// as it is. The tree itself is opened per cell (realEnv.Source), which
// checks that it has the base.
func (o *Options) resolveInput(ctx context.Context) error {
	if o.Input != nil {
		return nil
	}
	in := &Input{}
	if o.Series != "" && o.Patches == nil {
		top := ""
		if o.KernelSrc != "" {
			top = source.GitTop(ctx, o.KernelSrc)
		}
		switch _, err := os.Stat(o.Series); {
		case err == nil:
			ps, st, err := patch.ReadSeriesStated(o.Series)
			if err != nil {
				return &UsageError{fmt.Errorf("--series: %w", err)}
			}
			o.Patches, in = ps, stated(st)
		case top != "" && source.IsRevision(ctx, top, o.Series):
			r, err := source.ResolveRange(ctx, top, o.Series, o.Base)
			if err != nil {
				return &UsageError{err}
			}
			ps, _, err := patch.ParseMbox("range", r.Mbox)
			if err != nil {
				return &UsageError{fmt.Errorf("--series %s: %w", o.Series, err)}
			}
			for i := range ps {
				// format-patch starts each mail "From <commit> ...".
				if f := strings.Fields(string(ps[i].Data[:min(len(ps[i].Data), 100)])); len(f) > 1 && len(f[1]) == 40 {
					ps[i].Name = "commit " + f[1][:12]
				}
			}
			// The run's series is named by the range (summary.md, report.html).
			o.Patches = ps
			in.Base, in.By, in.Range, in.Tip = r.Base, "--series "+o.Series, r.String(), r.Tip
			o.Series = r.String()
			o.Input = in
			return nil
		case top != "":
			return &UsageError{fmt.Errorf("--series %s: neither a file nor a commit or range of %s", o.Series, top)}
		default:
			return &UsageError{fmt.Errorf("--series %s: %w (a revision range or branch needs the git checkout it names: run inside it or pass --kernel-src)", o.Series, err)}
		}
	}
	if o.Base != "" {
		if len(o.Patches) == 0 {
			return &UsageError{fmt.Errorf("--base %s: needs --series (a branch, or a file series to apply there)", o.Base)}
		}
		in.Base, in.By = o.Base, "--base "+o.Base
		if in.Stated != "" {
			in.By += fmt.Sprintf(" (the series states base-commit %.12s)", in.Stated)
		}
	}
	o.Input = in
	return nil
}

// stated is the Input of a series read from a file: its stated base, if any.
func stated(st patch.Stated) *Input {
	in := &Input{Stated: st.Base, Prerequisites: st.Prerequisites}
	if st.Base != "" {
		in.Base, in.By = st.Base, "base-commit: in "+st.By
	}
	return in
}

// base opens the cell's base: the commit of t the series applies to, and
// the record of it. A base t does not have is a *patch.PatchError naming
// it and what to fetch; t is left as it is.
func (c *cell) base(ctx context.Context, t *source.Tree) (*result.Base, error) {
	in := c.spec.Input
	if in == nil {
		in = &Input{}
	}
	b := &result.Base{Head: t.Head, Range: in.Range, Stated: in.Stated, Prerequisites: in.Prerequisites}
	if in.Base != "" {
		commit, err := t.Resolve(ctx, in.Base)
		if err != nil {
			b.Commit, b.Why = in.Base, in.By+": not in "+t.Desc
			return b, missingBase(in, t)
		}
		dirty := t.Notice != "" // OpenWith's notice of uncommitted changes left out
		t.SetCommit(ctx, commit)
		t.Notice = fmt.Sprintf("the series applies to %.12s (%s)", commit, in.By)
		if len(c.spec.Patches) == 0 {
			t.Notice = fmt.Sprintf("testing the tree at %.12s (%s)", commit, in.By)
		}
		if t.CheckoutDir != "" && (dirty || commit != t.Head) {
			t.Notice += ", not to the working tree of " + t.CheckoutDir
		}
		b.Why = in.By
	} else {
		switch {
		case t.Dirty:
			b.Why = fmt.Sprintf("the working tree of %s: a snapshot of its uncommitted changes on HEAD %.12s", t.CheckoutDir, t.Head)
		case t.CheckoutDir != "":
			b.Why = fmt.Sprintf("HEAD of %s", t.CheckoutDir)
		default:
			b.Why = t.Desc
		}
		if len(c.spec.Patches) > 0 {
			b.Why = "not stated: tested on " + b.Why
			note := fmt.Sprintf("the series states no base-commit: applying it to %s (%.12s)", strings.TrimPrefix(b.Why, "not stated: tested on "), t.Commit)
			if t.Notice != "" {
				note = t.Notice + "; " + note
			}
			t.Notice = note
		}
	}
	b.Commit, b.Dirty = t.Commit, t.Dirty
	b.Tree, _ = t.TreeHash(ctx)
	// The run's kernel_source (summary.md, report.html, kcidb.json) names
	// the commit tested and why.
	switch {
	case in.Base != "":
		t.Desc = fmt.Sprintf("%s at %.12s (%s)", t.Desc, t.Commit, in.By)
	case t.Dirty:
		t.Desc = fmt.Sprintf("%s at %.12s (its uncommitted changes on HEAD %.12s)", t.Desc, t.Commit, t.Head)
	case t.CheckoutDir != "":
		t.Desc = fmt.Sprintf("%s at HEAD %.12s", t.Desc, t.Commit)
	}
	if len(in.Prerequisites) > 0 {
		t.Notice += fmt.Sprintf("; the series needs %d prerequisite patch(es) its base lacks (prerequisite-patch-id: %.12s...): the rig does not fetch them", len(in.Prerequisites), in.Prerequisites[0])
	}
	return b, nil
}

// missingBase is the patch-error of a base the tree lacks: it names the
// base and what to fetch.
func missingBase(in *Input, t *source.Tree) error {
	if in.Base != in.Stated {
		return &patch.PatchError{Patch: "--base " + in.Base, Reason: "no such commit in " + t.Desc}
	}
	by := strings.TrimPrefix(in.By, "base-commit: in ")
	what := fmt.Sprintf("the series' base-commit %s is not in %s", in.Base, t.Desc)
	if t.CheckoutDir != "" {
		return &patch.PatchError{Patch: by, Reason: fmt.Sprintf("%s: fetch it there (git -C %s fetch <a remote that has it> %s), or pass --base REF to apply the series elsewhere", what, t.CheckoutDir, in.Base)}
	}
	return &patch.PatchError{Patch: by, Reason: fmt.Sprintf("%s (no history to look in): run in a git checkout that has it (git fetch <a remote that has it> %s), or pass --base HEAD to try this tree", what, in.Base)}
}
