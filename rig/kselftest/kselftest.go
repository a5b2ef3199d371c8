// Package kselftest builds the tree's own futex selftests statically for
// the guest's arch, one gcc call per test rather than through lib.mk, and
// turns functional/run.sh into the guest's run list (docs/design.md,
// "The kernel's own tests").
package kselftest

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/kbuild"
)

// Where things go in the image and what the guest reads.
const (
	// ImageDir is where the binaries and RunList go in the initramfs
	// (archive path, no leading slash): the guest looks in /kselftest/futex.
	ImageDir = "kselftest/futex"
	// RunList is the manifest beside the binaries: one command line per
	// line ("futex_requeue_pi -b -l -t 500000"), in run.sh's order. Lines
	// starting with '#' are comments, except "# not built: NAME: REASON",
	// which tells the guest that a test run.sh runs did not compile.
	RunList = "run.list"
	// NotBuilt is the prefix of a run.list line naming a test that did not
	// compile.
	NotBuilt = "# not built: "
)

// version is part of every cache key: bump it when the build changes.
const version = "kselftest-futex-v1"

// compilerCalls counts compile and make invocations (not the version
// queries that make the cache key), so tests can tell a cache hit from a
// rebuild.
var compilerCalls atomic.Int64

// Build builds tools/testing/selftests/futex of the work tree src
// statically for arch a, using the slot's build dir for `make headers`
// output (O=buildDir: headers go to buildDir/usr/include), and returns the
// built test binaries (name -> host path) in an output directory under
// cacheDir/kselftest, beside RunList. Cached by content: the key hashes the
// futex selftests tree, the kselftest headers, the uapi headers they use
// (include/uapi/linux/futex.h, the syscall tables), the arch and the
// compiler version; a cached build returns at once without running make or
// the compiler.
//
// A test that fails to compile is skipped with a warning on log (and a
// NotBuilt line in RunList); nothing compiled is an error naming the first
// compiler error. The caller must hold the build slot's lock: make headers
// writes into buildDir.
func Build(ctx context.Context, a arch.Arch, src, buildDir, cacheDir string, log io.Writer) (map[string]string, error) {
	if log == nil {
		log = io.Discard
	}
	futexDir := filepath.Join(src, "tools/testing/selftests/futex")
	funcDir := filepath.Join(futexDir, "functional")
	if _, err := os.Stat(funcDir); err != nil {
		return nil, fmt.Errorf("no futex selftests in %s: %w", src, err)
	}
	cc := a.CrossPrefix() + "gcc"
	ccVer, err := compilerVersion(ctx, cc)
	if err != nil {
		return nil, err
	}
	hdrKey, err := hashFiles(src, headerInputs(src, a))
	if err != nil {
		return nil, err
	}
	treeKey, err := hashFiles(src, treeInputs(src))
	if err != nil {
		return nil, err
	}
	key := cache.Key(version, a.Name, ccVer, hdrKey, treeKey)
	out := cache.Kselftests.Path(cacheDir, "futex", a.Name, key)
	var built map[string]string
	hit, err := cache.GetOrBuild(ctx, out, func(dir string) bool { _, err := readBuilt(dir); return err == nil },
		func() { fmt.Fprintf(log, "kselftest: waiting for another rig building %s\n", out) },
		func(tmp string) error {
			b, err := compileInto(ctx, a, src, buildDir, hdrKey, funcDir, futexDir, cc, tmp, out, log)
			built = b
			return err
		})
	if err != nil {
		return nil, err
	}
	if hit {
		bins, err := readBuilt(out)
		if err == nil {
			fmt.Fprintf(log, "kselftest: futex selftests for %s cached in %s (%d binaries)\n", a.Name, out, len(bins))
		}
		return bins, err
	}
	return built, nil
}

// compileInto installs the headers, compiles every functional test into
// tmp and writes the run list there; the map names each binary where it
// will be once tmp is published as out.
func compileInto(ctx context.Context, a arch.Arch, src, buildDir, hdrKey, funcDir, futexDir, cc, tmp, out string, log io.Writer) (map[string]string, error) {
	start := time.Now()
	if err := headers(ctx, a, src, buildDir, hdrKey, log); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "kselftest: headers for %s ready in %.1fs\n", a.Name, time.Since(start).Seconds())

	start = time.Now()
	srcs, err := filepath.Glob(filepath.Join(funcDir, "*.c"))
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no tests in %s", funcDir)
	}
	sort.Strings(srcs)
	libs := makefileLibs(filepath.Join(funcDir, "Makefile"))
	c := compiler{cc: cc, machine: machineOf(a), funcDir: funcDir, incDir: filepath.Join(futexDir, "include"),
		selftests: filepath.Dir(futexDir), uapi: filepath.Join(buildDir, "usr/include"), libs: libs, out: tmp, log: &lockedWriter{w: log}}
	results := c.all(ctx, srcs)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	built := map[string]string{}
	failed := map[string]string{}
	var names, firstErr []string
	for _, r := range results {
		if r.err != nil {
			failed[r.name] = r.first
			fmt.Fprintf(log, "kselftest: warning: %s did not compile for %s, skipped: %s\n", r.name, a.Name, r.first)
			if firstErr == nil {
				firstErr = []string{r.name, r.first}
			}
			continue
		}
		built[r.name] = filepath.Join(out, r.name)
		names = append(names, r.name)
	}
	if len(built) == 0 {
		return nil, fmt.Errorf("no futex selftest compiled for %s: %s: %s", a.Name, firstErr[0], firstErr[1])
	}
	fmt.Fprintf(log, "kselftest: compiled %d of %d futex selftests for %s in %.1fs\n", len(built), len(results), a.Name, time.Since(start).Seconds())

	list := runList(filepath.Join(funcDir, "run.sh"), names, failed)
	if err := os.WriteFile(filepath.Join(tmp, RunList), []byte(list), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, builtList), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return built, nil
}

// ImageFiles maps what Build returned to initramfs entries (archive path ->
// host path, for initramfs.Pack): ImageDir/NAME for every binary and
// ImageDir/RunList.
func ImageFiles(bins map[string]string) map[string]string {
	files := map[string]string{}
	for name, p := range bins {
		files[ImageDir+"/"+name] = p
		files[ImageDir+"/"+RunList] = filepath.Join(filepath.Dir(p), RunList)
	}
	return files
}

// builtList names the binaries of a published build, one per line.
const builtList = "built.list"

// readBuilt returns the binaries of a published build directory.
func readBuilt(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, builtList))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, RunList)); err != nil {
		return nil, err
	}
	bins := map[string]string{}
	for _, n := range strings.Fields(string(b)) {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		bins[n] = p
	}
	if len(bins) == 0 {
		return nil, errors.New("empty build")
	}
	return bins, nil
}

func compilerVersion(ctx context.Context, cc string) (string, error) {
	var parts []string
	for _, flag := range []string{"-dumpfullversion", "-dumpmachine", "--version"} {
		out, err := execx.Output(ctx, execx.Cmd{Argv: []string{cc, flag}})
		if err != nil {
			return "", fmt.Errorf("compiler for the futex selftests: %w", err)
		}
		parts = append(parts, strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
	}
	return strings.Join(parts, " "), nil
}

// srcArch is the kernel's arch/ directory for a.
func srcArch(a arch.Arch) string {
	switch a.KernelArch {
	case "x86_64", "i386", "x86":
		return "x86"
	}
	return a.KernelArch
}

// headerInputs are the uapi sources the futex selftests depend on: futex.h
// and where the syscall numbers come from.
func headerInputs(src string, a arch.Arch) []string {
	files := []string{"include/uapi/linux/futex.h", "include/uapi/asm-generic/unistd.h", "scripts/syscall.tbl"}
	for _, g := range []string{"arch/" + srcArch(a) + "/entry/syscalls/*.tbl", "arch/" + srcArch(a) + "/kernel/syscalls/*.tbl",
		"arch/" + srcArch(a) + "/include/uapi/asm/unistd*.h"} {
		m, _ := filepath.Glob(filepath.Join(src, g))
		for _, p := range m {
			rel, _ := filepath.Rel(src, p)
			files = append(files, rel)
		}
	}
	return files
}

// treeInputs are the selftest sources: the futex tree and the kselftest
// headers at the selftests root.
func treeInputs(src string) []string {
	var files []string
	root := filepath.Join(src, "tools/testing/selftests/futex")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(src, p)
			files = append(files, rel)
		}
		return nil
	})
	m, _ := filepath.Glob(filepath.Join(src, "tools/testing/selftests/kselftest*.h"))
	for _, p := range m {
		rel, _ := filepath.Rel(src, p)
		files = append(files, rel)
	}
	return files
}

// hashFiles keys files (relative to root) by name and content; a missing
// file counts as "absent", so optional inputs need no special case.
func hashFiles(root string, files []string) (string, error) {
	sort.Strings(files)
	var parts []string
	for _, f := range files {
		h, err := cache.HashFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			h = "absent"
		} else if err != nil {
			return "", err
		}
		parts = append(parts, f, h)
	}
	return cache.Key(parts...), nil
}

// headersStamp in buildDir/usr/include records which header inputs the
// installed headers came from.
const headersStamp = ".rig-kselftest-headers"

// headers runs `make headers` into buildDir/usr/include unless they are
// already there, installed from the same inputs, and not older than the
// tree's futex.h.
func headers(ctx context.Context, a arch.Arch, src, buildDir, hdrKey string, log io.Writer) error {
	inc := filepath.Join(buildDir, "usr/include")
	stamp, _ := os.ReadFile(filepath.Join(inc, headersStamp))
	inst, err1 := os.Stat(filepath.Join(inc, "linux/futex.h"))
	orig, err2 := os.Stat(filepath.Join(src, "include/uapi/linux/futex.h"))
	if string(stamp) == a.Name+" "+hdrKey && err1 == nil && err2 == nil && !inst.ModTime().Before(orig.ModTime()) {
		fmt.Fprintf(log, "kselftest: headers in %s are current\n", inc)
		return nil
	}
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		return err
	}
	argv := append([]string{"make", "-C", src, "O=" + buildDir}, kbuild.MakeArgs(a, "")...)
	argv = append(argv, "headers")
	compilerCalls.Add(1)
	if err := execx.Run(ctx, execx.Cmd{Argv: argv, Env: []string{"LC_ALL=C"}, Log: log}); err != nil {
		return fmt.Errorf("make headers for the futex selftests: %w", err)
	}
	if _, err := os.Stat(filepath.Join(inc, "linux/futex.h")); err != nil {
		return fmt.Errorf("make headers did not install linux/futex.h: %w", err)
	}
	return os.WriteFile(filepath.Join(inc, headersStamp), []byte(a.Name+" "+hdrKey), 0o644)
}

// makefileLibs returns the -l flags of functional/Makefile's LDLIBS
// (default -lpthread -lrt).
func makefileLibs(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{"-lpthread", "-lrt"}
	}
	var libs []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "LDLIBS" {
			continue
		}
		if f[1] == ":=" || f[1] == "=" {
			libs = nil
		}
		for _, t := range f[2:] {
			if strings.HasPrefix(t, "-l") {
				libs = append(libs, t)
			}
		}
	}
	if libs == nil {
		libs = []string{"-lpthread", "-lrt"}
	}
	return libs
}

// basicLibs are what every futex test links with; a library beyond them
// that is not installed for the target (say a static libnuma for arm64)
// must not fail the tests that do not need it.
var basicLibs = []string{"-lpthread", "-lrt"}

type compiler struct {
	cc        string
	machine   elf.Machine
	funcDir   string
	incDir    string
	selftests string
	uapi      string
	libs      []string
	out       string
	log       *lockedWriter
}

type compiled struct {
	name  string
	err   error
	first string // the first error line
}

// all compiles srcs with one worker per CPU; results are in srcs' order.
func (c compiler) all(ctx context.Context, srcs []string) []compiled {
	res := make([]compiled, len(srcs))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res[i] = c.one(ctx, srcs[i])
			}
		}()
	}
	for i := range srcs {
		work <- i
	}
	close(work)
	wg.Wait()
	return res
}

func (c compiler) one(ctx context.Context, srcFile string) compiled {
	name := strings.TrimSuffix(filepath.Base(srcFile), ".c")
	bin := filepath.Join(c.out, name)
	base := []string{c.cc, "-static", "-O2", "-Wall", "-D_GNU_SOURCE=", "-pthread",
		"-I", c.incDir, "-I", c.selftests, "-isystem", c.uapi, "-o", bin, filepath.Base(srcFile)}
	var buf bytes.Buffer
	run := func(libs []string) error {
		compilerCalls.Add(1)
		argv := append(append([]string{}, base...), libs...)
		fmt.Fprintf(&buf, "kselftest: %s\n", strings.Join(argv, " "))
		return execx.Run(ctx, execx.Cmd{Argv: argv, Dir: c.funcDir, Env: []string{"LC_ALL=C"}, Log: &buf})
	}
	err := run(c.libs)
	if err != nil && ctx.Err() == nil && !sameStrings(c.libs, basicLibs) {
		buf.WriteString("kselftest: retrying with " + strings.Join(basicLibs, " ") + " only\n")
		err = run(basicLibs)
	}
	if err == nil {
		err = checkELF(bin, c.machine)
	}
	c.log.Write(buf.Bytes())
	if err != nil {
		first := firstError(buf.String())
		if first == "" {
			first = lines.Last(err.Error())
		}
		return compiled{name: name, err: err, first: first}
	}
	return compiled{name: name}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// firstError is the first compiler or linker error line of a log.
func firstError(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "error:") || strings.Contains(l, "undefined reference") || strings.Contains(l, "cannot find -l") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func machineOf(a arch.Arch) elf.Machine {
	switch a.GOARCH {
	case "amd64":
		return elf.EM_X86_64
	case "arm64":
		return elf.EM_AARCH64
	}
	return elf.EM_NONE
}

// checkELF makes sure bin is a static executable for m (no interpreter).
func checkELF(bin string, m elf.Machine) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	if m != elf.EM_NONE && f.Machine != m {
		return fmt.Errorf("error: %s is for %v, not %v", filepath.Base(bin), f.Machine, m)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("error: %s is dynamically linked", filepath.Base(bin))
		}
	}
	return nil
}

// Command is one line of run.sh: a binary and its arguments.
type Command struct {
	Binary string
	Args   []string
}

func (c Command) String() string { return strings.Join(append([]string{c.Binary}, c.Args...), " ") }

// ParseRunSh returns the `./binary args...` lines of a selftest run.sh in
// order, without the $COLOR (and other $VARIABLE) arguments.
func ParseRunSh(r io.Reader) []Command {
	var cmds []Command
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if !strings.HasPrefix(line, "./") {
			continue
		}
		f := strings.Fields(line)
		c := Command{Binary: strings.TrimPrefix(f[0], "./")}
		if c.Binary == "" || strings.ContainsAny(c.Binary, "/$") {
			continue
		}
		for _, a := range f[1:] {
			if strings.HasPrefix(a, "$") || strings.ContainsAny(a, "|;&><`") {
				continue
			}
			c.Args = append(c.Args, strings.Trim(a, `"'`))
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// runList renders RunList: run.sh's commands for the binaries that built,
// a NotBuilt line for each one that did not, and every built binary with
// no arguments if run.sh names none of them.
func runList(runSh string, built []string, failed map[string]string) string {
	var cmds []Command
	if f, err := os.Open(runSh); err == nil {
		cmds = ParseRunSh(f)
		f.Close()
	}
	isBuilt := map[string]bool{}
	for _, n := range built {
		isBuilt[n] = true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# futex selftests, from functional/run.sh (one command line per line)\n")
	listed, said := 0, map[string]bool{}
	for _, c := range cmds {
		switch {
		case isBuilt[c.Binary]:
			b.WriteString(c.String() + "\n")
			listed++
		case !said[c.Binary]:
			said[c.Binary] = true
			why, ok := failed[c.Binary]
			if !ok {
				why = "no source " + c.Binary + ".c"
			}
			fmt.Fprintf(&b, "%s%s: %s\n", NotBuilt, c.Binary, lines.One(why))
		}
	}
	if listed == 0 {
		for _, n := range built {
			b.WriteString(n + "\n")
		}
	}
	return b.String()
}

// lockedWriter serializes writes from the compile workers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
