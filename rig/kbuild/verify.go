package kbuild

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/execx"
)

// Object verification: a kernel is never booted, cached or reported on the
// word of make and ccache alone. After a build, every object built from a
// source file that the series touched, or that changed since the slot's
// previous build, is compiled once more with the exact command kbuild
// recorded for it (its .cmd file), with ccache bypassed, and the two
// objects are compared byte for byte. kbuild's compiles are reproducible
// (ReproEnv, relative paths), so any difference means the build dir holds an
// object that was not built from the source now in the tree: a stale make
// decision or a false ccache hit. docs/design.md ("Build integrity") says
// why this exists.

// Limits on how much a verification compiles: a series that touches a
// widely included header would otherwise recompile half the kernel.
const (
	maxHeaderDependents = 4  // objects checked per changed header
	maxVerify           = 48 // objects checked per build
)

// ObjectCheck is what Verify found for one object.
type ObjectCheck struct {
	Source string `json:"source"` // path in the tree, e.g. kernel/futex/core.c
	Object string `json:"object"` // path in the build dir, e.g. kernel/futex/core.o
	Why    string `json:"why"`    // "changed" or "includes kernel/futex/futex.h"
	Stale  bool   `json:"stale,omitempty"`
}

// VerifyReport is the outcome of one verification.
type VerifyReport struct {
	Checked  []ObjectCheck `json:"checked,omitempty"`
	Skipped  []string      `json:"skipped,omitempty"` // changed sources without an object in this config, or over the limits
	Repaired []string      `json:"repaired,omitempty"`
	Seconds  float64       `json:"seconds"`
}

// Stale lists the sources whose objects did not match.
func (r *VerifyReport) Stale() []string {
	var s []string
	for _, c := range r.Checked {
		if c.Stale {
			s = append(s, c.Source)
		}
	}
	return s
}

// StaleError is a build the rig cannot vouch for: objects that still do
// not match a fresh compile after a rebuild without ccache, or an image that
// does not hold the vmlinux it was built from.
type StaleError struct {
	Sources []string // sources whose objects do not match
	Image   string   // or: the image that does not hold its build
	BuildID string
}

func (e *StaleError) Error() string {
	if e.Image != "" {
		return fmt.Sprintf("stale image: %s does not hold the kernel of this build (#%s): a boot wrapper packed an earlier kernel", e.Image, e.BuildID)
	}
	return fmt.Sprintf("stale object: %s does not match a fresh compile of %s even after a rebuild without ccache",
		objectOf(e.Sources[0]), e.Sources[0])
}

// ChangedSources returns the files that differ between two git trees of
// the slot's work tree (either may be "" for "none": nothing differs).
func ChangedSources(ctx context.Context, src, fromTree, toTree string) ([]string, error) {
	if fromTree == "" || toTree == "" || fromTree == toTree {
		return nil, nil
	}
	out, err := execx.Output(ctx, execx.Cmd{Argv: []string{"git", "diff-tree", "-r", "--name-only", "--no-renames", "-z", fromTree, toTree}, Dir: src, Env: []string{"LC_ALL=C"}})
	if err != nil {
		return nil, fmt.Errorf("listing the files changed from %.12s to %.12s: %w", fromTree, toTree, err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// Verify checks the objects built from sources (paths in the tree) against
// fresh compiles that bypass ccache. Each stale object is rebuilt in place
// without ccache and checked again; the caller relinks (Run) when Repaired is
// not empty. An error that is a *StaleError names a source whose object
// could not be made to match.
func (b Build) Verify(ctx context.Context, sources []string) (*VerifyReport, error) {
	start := time.Now()
	rep := &VerifyReport{}
	defer func() { rep.Seconds = time.Since(start).Seconds() }()
	checks, skipped, err := b.plan(sources)
	if err != nil {
		return rep, err
	}
	rep.Skipped = skipped
	if len(checks) == 0 {
		return rep, nil
	}
	tmp, err := os.MkdirTemp(b.Dir, ".rig-verify-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)

	jobs := b.Jobs
	if jobs <= 0 {
		jobs = 2
	}
	errs := make([]error, len(checks))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fresh := filepath.Join(tmp, fmt.Sprintf("%d.o", i))
			same, err := b.compare(ctx, checks[i].Object, fresh)
			if err != nil {
				errs[i] = err
				return
			}
			checks[i].Stale = !same
		}()
	}
	wg.Wait()
	rep.Checked = checks
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	var still []string
	for i, c := range checks {
		if !c.Stale {
			continue
		}
		fmt.Fprintf(b.logw(), "rig: stale object %s: it does not match a fresh compile of %s; rebuilding it without the cache\n", c.Object, c.Source)
		if err := b.recompile(ctx, c.Object); err != nil {
			return rep, fmt.Errorf("rebuilding stale %s: %w", c.Object, err)
		}
		same, err := b.compare(ctx, c.Object, filepath.Join(tmp, fmt.Sprintf("%d.o", i)))
		if err != nil {
			return rep, err
		}
		if !same {
			still = append(still, c.Source)
			continue
		}
		rep.Repaired = append(rep.Repaired, c.Source)
	}
	if len(still) > 0 {
		return rep, &StaleError{Sources: still}
	}
	return rep, nil
}

func (b Build) logw() io.Writer {
	if b.Log == nil {
		return io.Discard
	}
	return b.Log
}

// plan maps changed sources to the objects to check: a .c or .S file to its
// own object, a header to a few of the objects whose recorded dependencies
// name it (same directory first).
func (b Build) plan(sources []string) (checks []ObjectCheck, skipped []string, err error) {
	seen := map[string]bool{}
	add := func(src, why string) bool {
		obj := objectOf(src)
		if seen[obj] {
			return true
		}
		if _, err := os.Stat(filepath.Join(b.Src, src)); err != nil {
			return true // a leftover object of a file the tree no longer has
		}
		if len(checks) >= maxVerify {
			skipped = append(skipped, src+" (over the limit of objects checked per build)")
			return false
		}
		seen[obj] = true
		checks = append(checks, ObjectCheck{Source: src, Object: obj, Why: why})
		return true
	}
	var headers []string
	for _, s := range sources {
		if _, err := os.Stat(filepath.Join(b.Src, s)); err != nil {
			// Deleted from the tree (a bisection step back, say): its
			// leftover object is no longer built or linked.
			if filepath.Ext(s) == ".c" || filepath.Ext(s) == ".S" || filepath.Ext(s) == ".h" {
				skipped = append(skipped, s+" (not in the tree)")
			}
			continue
		}
		switch filepath.Ext(s) {
		case ".c", ".S":
			if b.built(objectOf(s)) {
				add(s, "changed")
			} else {
				skipped = append(skipped, s+" (not built in this config)")
			}
		case ".h":
			headers = append(headers, s)
		}
	}
	if len(headers) == 0 {
		return checks, skipped, nil
	}
	deps, err := b.dependents(headers)
	if err != nil {
		return checks, skipped, err
	}
	for _, h := range headers {
		d := deps[h]
		if len(d) == 0 {
			skipped = append(skipped, h+" (no built object includes it)")
			continue
		}
		dir := filepath.Dir(h)
		sort.SliceStable(d, func(i, j int) bool {
			return (filepath.Dir(d[i]) == dir) && (filepath.Dir(d[j]) != dir)
		})
		for i, src := range d {
			if i >= maxHeaderDependents {
				skipped = append(skipped, fmt.Sprintf("%s (%d more objects include it)", h, len(d)-i))
				break
			}
			if !add(src, "includes "+h) {
				break
			}
		}
	}
	return checks, skipped, nil
}

// built reports whether the build dir has the object and kbuild's record
// of the command that made it.
func (b Build) built(obj string) bool {
	if _, err := os.Stat(filepath.Join(b.Dir, obj)); err != nil {
		return false
	}
	_, err := os.Stat(cmdFile(b.Dir, obj))
	return err == nil
}

// dependents reads every object's .cmd file once and returns, per header,
// the sources (sorted) whose recorded dependencies include it.
func (b Build) dependents(headers []string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(b.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".rig-verify-") || d.Name() == "tools" || d.Name() == "scripts" {
				return filepath.SkipDir
			}
			return nil
		}
		n := d.Name()
		if !strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".o.cmd") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		src := sourceLine.FindSubmatch(data)
		if src == nil {
			return nil
		}
		rel, err := filepath.Rel(b.Dir, filepath.Join(filepath.Dir(p), strings.TrimSuffix(strings.TrimPrefix(n, "."), ".cmd")))
		if err != nil {
			return nil
		}
		for _, h := range headers {
			if bytes.Contains(data, []byte("/"+h+" ")) || bytes.Contains(data, []byte("/"+h+"\n")) {
				out[h] = append(out[h], sourceOf(rel, string(src[1])))
			}
		}
		return nil
	})
	for h := range out {
		sort.Strings(out[h])
	}
	return out, err
}

// sourceLine is the first dependency kbuild records: the source itself.
var sourceLine = regexp.MustCompile(`(?m)^source_\S+ := (\S+)$`)

// sourceOf turns an object path and its recorded source path (absolute or
// relative to the build dir) into the source's path in the tree.
func sourceOf(obj, recorded string) string {
	ext := filepath.Ext(recorded)
	return strings.TrimSuffix(obj, ".o") + ext
}

func objectOf(src string) string {
	return strings.TrimSuffix(src, filepath.Ext(src)) + ".o"
}

func cmdFile(dir, obj string) string {
	return filepath.Join(dir, filepath.Dir(obj), "."+filepath.Base(obj)+".cmd")
}

// savedCommand reads the shell command kbuild recorded for obj, with make's
// escapes ($$, $(pound)) undone.
func savedCommand(dir, obj string) (string, error) {
	data, err := os.ReadFile(cmdFile(dir, obj))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(data), "\n") {
		for _, prefix := range []string{"savedcmd_" + obj + " := ", "cmd_" + obj + " := "} {
			if s, ok := strings.CutPrefix(l, prefix); ok {
				s = strings.ReplaceAll(s, "$(pound)", "#")
				return strings.ReplaceAll(s, "$$", "$"), nil
			}
		}
	}
	return "", fmt.Errorf("%s: no recorded command for %s", cmdFile(dir, obj), obj)
}

// retarget rewrites a recorded command to write out (and its dependency
// file dep) instead of obj, leaving the build dir untouched.
func retarget(cmd, obj, out, dep string) string {
	depRe := regexp.MustCompile(`-Wp,-M(M?)D,` + regexp.QuoteMeta(filepath.Join(filepath.Dir(obj), "."+filepath.Base(obj)+".d")) + `(\s|$)`)
	cmd = depRe.ReplaceAllString(cmd, "-Wp,-M${1}D,"+dep+"$2")
	objRe := regexp.MustCompile(`(^|[\s=,])` + regexp.QuoteMeta(obj) + `($|[\s;])`)
	// Twice: ReplaceAll does not see a match that overlaps the previous one.
	for i := 0; i < 2; i++ {
		cmd = objRe.ReplaceAllString(cmd, "${1}"+out+"${2}")
	}
	return cmd
}

// compare compiles obj's recorded command into fresh, bypassing ccache,
// and reports whether the result is byte-identical to the build dir's obj.
func (b Build) compare(ctx context.Context, obj, fresh string) (bool, error) {
	cmd, err := savedCommand(b.Dir, obj)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(fresh); err != nil {
		c := retarget(cmd, obj, fresh, fresh+".d")
		env := append(append(Env(filepath.Dir(b.Dir)), b.Env...), "CCACHE_DISABLE=1")
		if err := execx.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", c}, Dir: b.Dir, Env: env, Unset: []string{"CCACHE_PREFIX", "CCACHE_RECACHE"}}); err != nil {
			return false, fmt.Errorf("compiling %s afresh to check it: %w", obj, err)
		}
	}
	h1, err := cache.HashFile(filepath.Join(b.Dir, obj))
	if err != nil {
		return false, err
	}
	h2, err := cache.HashFile(fresh)
	if err != nil {
		return false, err
	}
	return h1 == h2, nil
}

// recompile rebuilds obj in place with its recorded command, ccache
// bypassed. The dependency file the compiler writes is removed, as kbuild's
// fixdep would have removed it. (ccache cannot be made to forget one entry:
// in depend mode a recache adds a second manifest entry beside the bad one,
// whose recorded inputs may still match; a later hit on it is caught here
// again.)
func (b Build) recompile(ctx context.Context, obj string) error {
	cmd, err := savedCommand(b.Dir, obj)
	if err != nil {
		return err
	}
	defer os.Remove(filepath.Join(b.Dir, filepath.Dir(obj), "."+filepath.Base(obj)+".d"))
	env := append(append(Env(filepath.Dir(b.Dir)), b.Env...), "CCACHE_DISABLE=1")
	return execx.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", cmd}, Dir: b.Dir, Env: env, Log: b.Log, Unset: []string{"CCACHE_PREFIX", "CCACHE_RECACHE"}})
}

// ImageHasBuildID reports whether the boot image at path holds the kernel
// built with build id id (its UTS version "#<id> "), looking in the image
// itself and in every gzip stream inside it (x86's bzImage carries vmlinux
// compressed). It catches a boot wrapper that packed an earlier kernel.
func ImageHasBuildID(path, id string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	want := []byte("#" + id + " ")
	if bytes.Contains(data, want) {
		return true, nil
	}
	magic := []byte{0x1f, 0x8b, 0x08}
	for off := 0; ; {
		i := bytes.Index(data[off:], magic)
		if i < 0 {
			return false, nil
		}
		off += i
		if zr, err := gzip.NewReader(bytes.NewReader(data[off:])); err == nil {
			zr.Multistream(false)
			if found, _ := containsStream(zr, want); found {
				return true, nil
			}
		}
		off++
	}
}

// containsStream reports whether r's bytes contain want (reading at most
// 256 MiB).
func containsStream(r io.Reader, want []byte) (bool, error) {
	buf := make([]byte, 0, 1<<20)
	chunk := make([]byte, 1<<20)
	total := 0
	for total < 256<<20 {
		n, err := r.Read(chunk)
		total += n
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, want) {
			return true, nil
		}
		if keep := len(want) - 1; len(buf) > keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}
