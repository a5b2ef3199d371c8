// Package kconfig turns config fragments into a kernel .config and proves it:
// it merges kconfigs/*.config fragments on top of tinyconfig with the
// kernel's own merge_config.sh, runs olddefconfig, and checks that every
// requested option survived (Kconfig silently drops options whose
// dependencies are not met).
package kconfig

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/rig-kernel/rig/rig/internal/execx"
	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// Option is one requested setting.
type Option struct {
	Name  string // CONFIG_FOO
	Value string // "y", "m", "n" (for "# CONFIG_FOO is not set"), or a literal value
	From  string // fragment file it came from
}

// Fragment is one config fragment file.
type Fragment struct {
	Name string // "base", "x86_64", "debug", or the file's base name
	Path string
	Data []byte
}

// maxFragment bounds a fragment file (a whole .config is under 1 MB).
const maxFragment = 4 << 20

// Resolve finds fragments by name in dir (kconfigs/) or as paths.
func Resolve(dir string, names []string) ([]Fragment, error) {
	var out []Fragment
	for _, n := range names {
		p := n
		if !strings.ContainsRune(n, '/') && !strings.HasSuffix(n, ".config") {
			p = filepath.Join(dir, n+".config")
		}
		if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() {
			return nil, fmt.Errorf("config fragment %q: %s is not a regular file", n, p)
		}
		b, err := safefile.ReadFile(p, maxFragment)
		if err != nil {
			return nil, fmt.Errorf("config fragment %q: %w (known fragments are in %s)", n, err, dir)
		}
		if _, err := Parse(b, p); err != nil {
			return nil, err
		}
		if _, err := ParseNeeds(b, p); err != nil {
			return nil, err
		}
		out = append(out, Fragment{Name: strings.TrimSuffix(filepath.Base(p), ".config"), Path: p, Data: b})
	}
	return out, nil
}

var (
	setRe   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRe = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// Parse reads a fragment or a .config into options, in file order. Blank
// lines and comments are skipped; anything else is an error naming the line.
func Parse(data []byte, from string) ([]Option, error) {
	var opts []Option
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if m := setRe.FindStringSubmatch(line); m != nil {
			opts = append(opts, Option{Name: m[1], Value: m[2], From: from})
			continue
		}
		if m := unsetRe.FindStringSubmatch(line); m != nil {
			opts = append(opts, Option{Name: m[1], Value: "n", From: from})
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !looksLikeConfig(data) {
			// Quote nothing: the file may be anything (--config
			// /proc/self/environ holds the environment's secrets).
			return nil, fmt.Errorf("%s:%d: not a config fragment: no line is a config line (want CONFIG_FOO=y or # CONFIG_FOO is not set)", from, n)
		}
		return nil, fmt.Errorf("%s:%d: not a config line: %q (want CONFIG_FOO=y or # CONFIG_FOO is not set)", from, n, snippet(line))
	}
	return opts, sc.Err()
}

// maxSnippet bounds what an error quotes of a bad line.
const maxSnippet = 40

// snippet is the start of a bad line, cut and with control characters
// replaced, for an error message.
func snippet(line string) string {
	var b strings.Builder
	for i, r := range line {
		if i >= maxSnippet {
			b.WriteString("...")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// looksLikeConfig: text (no NUL byte) with at least one option line.
func looksLikeConfig(data []byte) bool {
	if bytes.IndexByte(data, 0) >= 0 {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if setRe.MatchString(l) || unsetRe.MatchString(l) {
			return true
		}
	}
	return false
}

// Requested merges fragments in order (later fragments win) into the list of
// options the final .config must have.
func Requested(frags []Fragment) []Option {
	idx := map[string]int{}
	var out []Option
	for _, f := range frags {
		opts, _ := Parse(f.Data, f.Name)
		for _, o := range opts {
			if i, ok := idx[o.Name]; ok {
				out[i] = o
				continue
			}
			idx[o.Name] = len(out)
			out = append(out, o)
		}
	}
	return out
}

// Missing is a requested option that did not survive.
type Missing struct {
	Option
	Got string // value in the final .config ("n" when unset)
}

func (m Missing) String() string {
	return fmt.Sprintf("%s=%s (from %s) is %s in the final .config", m.Name, m.Value, m.From, m.Got)
}

// MissingError lists options that did not survive olddefconfig.
type MissingError struct{ Missing []Missing }

func (e *MissingError) Error() string {
	var names []string
	for _, m := range e.Missing {
		names = append(names, m.Name)
	}
	return fmt.Sprintf("%d requested config option(s) did not survive: %s (a dependency is missing or the option does not exist in this tree; use --allow-missing-config to go on)", len(names), strings.Join(names, ", "))
}

// Check compares requested options with a final .config.
func Check(final []byte, requested []Option) []Missing {
	got := map[string]string{}
	opts, _ := Parse(final, ".config")
	for _, o := range opts {
		got[o.Name] = o.Value
	}
	var miss []Missing
	for _, r := range requested {
		g, ok := got[r.Name]
		if !ok {
			g = "n"
		}
		if unquote(g) != unquote(r.Value) {
			miss = append(miss, Missing{Option: r, Got: g})
		}
	}
	return miss
}

func unquote(s string) string { return strings.Trim(s, `"`) }

// Make describes the make invocation for config targets.
type Make struct {
	Src, Build string   // source and O= build directory
	Args       []string // ARCH=..., CROSS_COMPILE=..., CC=...
	Log        io.Writer
}

func (m Make) run(ctx context.Context, targets ...string) error {
	argv := append([]string{"make", "-C", m.Src, "O=" + m.Build}, m.Args...)
	argv = append(argv, targets...)
	return execx.Run(ctx, execx.Cmd{Argv: argv, Log: m.Log})
}

// Generate writes build/.config from tinyconfig plus the fragments and
// returns the options that did not survive.
func Generate(ctx context.Context, m Make, frags []Fragment) ([]Missing, error) {
	if err := os.MkdirAll(m.Build, 0o755); err != nil {
		return nil, err
	}
	if err := m.run(ctx, "tinyconfig"); err != nil {
		return nil, fmt.Errorf("make tinyconfig: %w", err)
	}
	merged := filepath.Join(m.Build, "rig-fragments.config")
	var all bytes.Buffer
	for _, f := range frags {
		fmt.Fprintf(&all, "# --- %s\n", f.Name)
		all.Write(f.Data)
		all.WriteByte('\n')
	}
	if err := os.WriteFile(merged, all.Bytes(), 0o644); err != nil {
		return nil, err
	}
	cfg := filepath.Join(m.Build, ".config")
	err := execx.Run(ctx, execx.Cmd{
		Argv: []string{filepath.Join(m.Src, "scripts/kconfig/merge_config.sh"), "-m", "-O", m.Build, cfg, merged},
		Dir:  m.Src, Log: m.Log, Env: argsEnv(m.Args)})
	if err != nil {
		return nil, fmt.Errorf("merge_config.sh: %w", err)
	}
	return Refresh(ctx, m, frags)
}

// Refresh runs olddefconfig on an existing build/.config (a series may have
// changed a Kconfig file) and checks the result.
func Refresh(ctx context.Context, m Make, frags []Fragment) ([]Missing, error) {
	if err := m.run(ctx, "olddefconfig"); err != nil {
		return nil, fmt.Errorf("make olddefconfig: %w", err)
	}
	final, err := os.ReadFile(filepath.Join(m.Build, ".config"))
	if err != nil {
		return nil, err
	}
	return Check(final, Requested(frags)), nil
}

// argsEnv passes ARCH and CROSS_COMPILE to merge_config.sh, which reads them
// from the environment.
func argsEnv(args []string) []string {
	var env []string
	for _, a := range args {
		if strings.HasPrefix(a, "ARCH=") || strings.HasPrefix(a, "CROSS_COMPILE=") {
			env = append(env, a)
		}
	}
	return env
}
