// Package patch reads a patch series (a directory of git format-patch
// files, a quilt series, an mbox, or one patch file) and applies it in
// order to a git work tree owned by the rig, refusing unsafe file names
// and naming the patch, file and hunk that does not apply
// (docs/design.md, "Patches").
package patch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/rig-kernel/rig/rig/internal/execx"
)

// State is what Apply did with one patch.
type State string

const (
	StateApplied        State = "applied"
	StateAlreadyApplied State = "already-applied" // the reverse check passed: the tree has it
	StateFailed         State = "failed"
	StateNotTried       State = "not-tried" // after the first failure
)

// Applied is one patch and what became of it.
type Applied struct {
	Patch Patch
	State State
}

// PatchError is a patch that does not apply: it names the patch, the file
// and the failing hunk as far as git's message tells them.
type PatchError struct {
	Patch      string // Patch.Name
	Subject    string
	File       string // path inside the tree, "" if not known
	Hunk       int    // 1-based hunk number within that file's diff, 0 if unknown
	HunkHeader string // "@@ -120,7 +120,8 @@ func..."
	Line       int    // line in the tree where git looked for it
	Reason     string // one line: "patch does not apply", "path escapes the tree", "malformed patch", ...
	Output     string // git's stderr, kept for the log
}

// Error reads like
// "0003-futex-foo.patch: kernel/futex/core.c: hunk #2 (@@ -120,7 +120,8 @@) does not apply at line 120".
func (e *PatchError) Error() string {
	var b strings.Builder
	b.WriteString(e.Patch)
	if e.File != "" {
		b.WriteString(": " + e.File)
	}
	if e.Hunk > 0 {
		fmt.Fprintf(&b, ": hunk #%d", e.Hunk)
		if h := rangesOf(e.HunkHeader); h != "" {
			fmt.Fprintf(&b, " (%s)", h)
		}
		b.WriteString(" " + strings.TrimPrefix(e.Reason, "patch "))
	} else {
		b.WriteString(": " + e.Reason)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " at line %d", e.Line)
	}
	return b.String()
}

// rangesOf keeps "@@ -a,b +c,d @@" of a hunk header.
func rangesOf(h string) string {
	if i := strings.Index(h[min(2, len(h)):], "@@"); i >= 0 {
		return h[:i+4]
	}
	return h
}

// Apply applies patches in order in the git work tree dir (its top level).
// It stops at the first patch that does not apply and returns the states so
// far (the rest "not-tried") and a *PatchError. A patch that is already
// applied (the forward check fails, "git apply --check -R" succeeds) is
// skipped as "already-applied". So is a block of patches the tree already
// holds together when the first alone does not revert (a later patch of the
// block changed its lines): that is tried on a copy of the index. progress,
// if not nil, is called once per patch before it is tried. Any other error
// (git missing, dir not a work tree, ctx done) is returned as is: it says
// nothing about the patches.
func Apply(ctx context.Context, dir string, patches []Patch, progress func(i int, p Patch)) ([]Applied, error) {
	out := make([]Applied, len(patches))
	for i, p := range patches {
		out[i] = Applied{Patch: p, State: StateNotTried}
	}
	abs, err := checkWorkTree(ctx, dir)
	if err != nil {
		return out, err
	}
	for i := 0; i < len(patches); i++ {
		p := patches[i]
		if progress != nil {
			progress(i, p)
		}
		st, err := applyOne(ctx, abs, p)
		var pe *PatchError
		if errors.As(err, &pe) && pe.Reason != reasonEscape {
			// Alone, p neither applies nor reverts; but the tree may
			// hold p and later patches that changed the same lines.
			n, berr := appliedBlock(ctx, abs, patches, i)
			if berr != nil {
				return out, berr
			}
			if n > 0 {
				out[i].State = StateAlreadyApplied
				for k := i + 1; k < i+n; k++ {
					if progress != nil {
						progress(k, patches[k])
					}
					out[k].State = StateAlreadyApplied
				}
				i += n - 1
				continue
			}
		}
		if err != nil {
			out[i].State = StateFailed
			return out, err
		}
		out[i].State = st
	}
	return out, nil
}

// blockBudget caps the git runs appliedBlock may spend on one failure.
const blockBudget = 100

// appliedBlock reports how many patches from i on (at least 2) the tree
// already holds as a block, or 0. It reverts patches j, j-1, ..., i from
// the longest block down, on a copy of the index, so neither the real index
// nor the work tree changes.
func appliedBlock(ctx context.Context, dir string, patches []Patch, i int) (int, error) {
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{"git", "rev-parse", "--path-format=absolute", "--git-path", "index"}, Dir: dir})
	if err != nil {
		return 0, fmt.Errorf("patch: find the index of %s: %w", dir, err)
	}
	index, err := os.ReadFile(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("patch: %w", err)
	}
	tmp, err := os.MkdirTemp("", "rig-patch-")
	if err != nil {
		return 0, fmt.Errorf("patch: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpIndex := filepath.Join(tmp, "index")
	budget := blockBudget
	for j := len(patches) - 1; j > i && budget > 0; j-- {
		if err := os.WriteFile(tmpIndex, index, 0o600); err != nil {
			return 0, fmt.Errorf("patch: %w", err)
		}
		ok := true
		for k := j; k >= i; k-- {
			if budget == 0 {
				return 0, nil
			}
			budget--
			p := patches[k]
			if _, why := checkPaths(dir, parseDiff(p.Data), p.Strip); why != "" {
				ok = false
				break
			}
			argv := []string{"git", "apply", "--cached", "-R", "-p" + strconv.Itoa(p.Strip), "--whitespace=nowarn"}
			err := execx.Run(ctx, execx.Cmd{Argv: argv, Dir: dir, Env: []string{"GIT_INDEX_FILE=" + tmpIndex},
				Stdin: bytes.NewReader(p.Data), Log: io.Discard})
			if err != nil {
				if ctx.Err() != nil {
					return 0, fmt.Errorf("patch %s: git apply: %w", p.Name, err)
				}
				ok = false
				break
			}
		}
		if ok {
			return j - i + 1, nil
		}
	}
	return 0, nil
}

// checkWorkTree makes sure dir is the top of a git work tree, so the
// patches' paths are taken from where the caller thinks.
func checkWorkTree(ctx context.Context, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("patch: %w", err)
	}
	top, err := execx.Output(ctx, execx.Cmd{Argv: []string{"git", "rev-parse", "--show-toplevel"}, Dir: abs})
	if err != nil {
		return "", fmt.Errorf("patch: %s is not a git work tree: %w", dir, err)
	}
	a, err1 := filepath.EvalSymlinks(abs)
	t, err2 := filepath.EvalSymlinks(strings.TrimSpace(string(top)))
	if err1 != nil || err2 != nil || a != t {
		return "", fmt.Errorf("patch: %s is not the top of its git work tree (%s is)", dir, strings.TrimSpace(string(top)))
	}
	return abs, nil
}

func applyOne(ctx context.Context, dir string, p Patch) (State, error) {
	files := parseDiff(p.Data)
	if name, why := checkPaths(dir, files, p.Strip); why != "" {
		return StateFailed, &PatchError{Patch: p.Name, Subject: p.Subject, File: name,
			Reason: reasonEscape, Output: "rig: refused " + strconv.Quote(name) + ": " + why}
	}
	fwdOut, err := gitApply(ctx, dir, p, "--check")
	if err == nil {
		if out, err := gitApply(ctx, dir, p); err != nil {
			return StateFailed, classify(ctx, p, files, out, err)
		}
		return StateApplied, nil
	}
	if _, rerr := gitApply(ctx, dir, p, "--check", "-R"); rerr == nil {
		return StateAlreadyApplied, nil
	}
	return StateFailed, classify(ctx, p, files, fwdOut, err)
}

// gitApply runs git apply --index on p's data and returns git's output.
func gitApply(ctx context.Context, dir string, p Patch, extra ...string) (string, error) {
	argv := []string{"git", "apply", "--index", "-p" + strconv.Itoa(p.Strip), "--whitespace=warn"}
	argv = append(argv, extra...)
	var log bytes.Buffer
	err := execx.Run(ctx, execx.Cmd{Argv: argv, Dir: dir, Stdin: bytes.NewReader(p.Data), Log: &log})
	return log.String(), err
}

// gitErrors maps git apply's messages to a reason, one line per message.
// file and line are submatch numbers (0: none). The first line of git's
// output that matches decides.
var gitErrors = []struct {
	re     *regexp.Regexp
	reason string
	file   int
	line   int
}{
	{regexp.MustCompile(`^error: patch failed: (.+):(\d+)$`), "patch does not apply", 1, 2},
	{regexp.MustCompile(`^error: corrupt patch at line (\d+)$`), "malformed patch", 0, 0},
	{regexp.MustCompile(`^error: patch with only garbage at line (\d+)$`), "malformed patch", 0, 0},
	{regexp.MustCompile(`^error: git diff header lacks filename information`), "malformed patch: no file name at this -p level", 0, 0},
	{regexp.MustCompile(`^error: No valid patches in input`), "malformed patch: no diff in it", 0, 0},
	{regexp.MustCompile(`^error: cannot apply binary patch to '(.+)' without full index line$`), "binary patch without full index", 1, 0},
	{regexp.MustCompile(`^error: invalid path '(.+)'$`), reasonEscape, 1, 0},
	{regexp.MustCompile(`^error: affected file '(.+)' is beyond a symbolic link$`), reasonEscape, 1, 0},
	{regexp.MustCompile(`^error: (.+): does not exist in (?:index|working directory)$`), "file does not exist in the tree", 1, 0},
	{regexp.MustCompile(`^error: (.+): already exists in (?:index|working directory)$`), "file already exists in the tree", 1, 0},
	{regexp.MustCompile(`^error: (.+): does not match index$`), "tree file does not match the index", 1, 0},
	{regexp.MustCompile(`^error: (.+): wrong type$`), "file has the wrong type", 1, 0},
	{regexp.MustCompile(`^error: (.+): patch does not apply$`), "patch does not apply", 1, 0},
}

var corruptAt = regexp.MustCompile(`at line (\d+)$`)

// classify turns a failed git apply into a *PatchError, or into a plain
// error when the failure is not the patch's (ctx done, git missing, fatal).
func classify(ctx context.Context, p Patch, files []*fileDiff, out string, err error) error {
	var ee *execx.Error
	if ctx.Err() != nil || errors.Is(err, exec.ErrNotFound) || !errors.As(err, &ee) {
		return fmt.Errorf("patch %s: git apply: %w", p.Name, err)
	}
	pe := &PatchError{Patch: p.Name, Subject: p.Subject, Output: out}
	lines := strings.Split(out, "\n")
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		for _, g := range gitErrors {
			m := g.re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			pe.Reason = g.reason
			if g.file > 0 {
				pe.File = m[g.file]
			}
			if g.line > 0 {
				pe.Line, _ = strconv.Atoi(m[g.line])
				pe.Hunk, pe.HunkHeader = hunkAt(files, p.Strip, pe.File, pe.Line)
			}
			if g.reason == "malformed patch" {
				if c := corruptAt.FindStringSubmatch(l); c != nil {
					n, _ := strconv.Atoi(c[1])
					pe.File, pe.Hunk, pe.HunkHeader = hunkOfLine(files, p.Strip, n)
					pe.Reason = fmt.Sprintf("malformed patch (corrupt at line %d of the patch)", n)
				}
			}
			return pe
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "error: ") {
			pe.Reason = strings.TrimPrefix(l, "error: ")
			return pe
		}
	}
	return fmt.Errorf("patch %s: git apply: %w", p.Name, err)
}
