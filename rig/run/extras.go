package run

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rig-kernel/rig/guest/catalog"
	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/initramfs"
	"github.com/rig-kernel/rig/rig/internal/safefile"
	"github.com/rig-kernel/rig/rig/result"
)

// What the user adds to a run (docs/design.md, "Your own programs and
// boot options"): programs run as tests (--exec), files in the image
// (--overlay), kernel arguments (--append) and QEMU arguments
// (--qemu-arg). All are checked before anything is built.

// CheckProgram checks that path is a program the guest can run as a test:
// a regular file, a 64-bit little-endian ELF executable for an arch the rig
// boots, statically linked. The Program names its arch; its test is named
// after the file.
func CheckProgram(path string) (result.Program, error) {
	p := result.Program{Name: filepath.Base(path), Path: path}
	if abs, err := filepath.Abs(path); err == nil {
		p.Path = abs
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, fmt.Errorf("--exec %s: no such file", path)
	case err != nil:
		return p, fmt.Errorf("--exec %s: %w", path, err)
	case !st.Mode().IsRegular():
		return p, fmt.Errorf("--exec %s: a %s, not a program: give the static binary itself", path, safefile.Kind(st.Mode()))
	}
	p.Size = st.Size()
	f, err := elf.Open(path)
	if err != nil {
		return p, fmt.Errorf("--exec %s: not an ELF program (%v): --exec takes a static binary built for the guest's arch (gcc -static, aarch64-linux-gnu-gcc -static)", path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return p, fmt.Errorf("--exec %s: a %v %v ELF: the guests run 64-bit little-endian programs only", path, f.Class, f.Data)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return p, fmt.Errorf("--exec %s: an ELF of type %v, not an executable: link it into a program", path, f.Type)
	}
	for _, a := range arch.Table {
		if a.ELF == f.Machine {
			p.Arch = a.Name
		}
	}
	if p.Arch == "" {
		return p, fmt.Errorf("--exec %s: an ELF for %v, which the rig does not boot (it boots %s)", path, f.Machine, strings.Join(arch.Names(), ", "))
	}
	for _, ph := range f.Progs {
		if ph.Type == elf.PT_INTERP {
			interp := "a dynamic loader"
			if b, err := readAll(ph); err == nil {
				interp = strings.TrimRight(string(b), "\x00")
			}
			return p, fmt.Errorf("--exec %s: dynamically linked (its interpreter is %s): the guest has no C library; link it statically (gcc -static)", path, interp)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return p, fmt.Errorf("--exec %s: needs shared libraries (%s): the guest has none; link it statically (gcc -static)", path, strings.Join(libs, ", "))
	}
	if !catalog.ValidExecName(p.Name) {
		return p, fmt.Errorf("--exec %s: %q cannot name a test (letters, digits and - _ . + only, at most 64): rename the file", path, p.Name)
	}
	if _, ok := catalog.Lookup(p.Name); ok {
		return p, fmt.Errorf("--exec %s: %q is the name of one of the rig's tests (see `rig tests`): rename the file", path, p.Name)
	}
	if p.SHA256, err = cache.HashFile(path); err != nil {
		return p, fmt.Errorf("--exec %s: %w", path, err)
	}
	return p, nil
}

func readAll(ph *elf.Prog) ([]byte, error) {
	b := make([]byte, min(ph.Filesz, 4096))
	_, err := ph.ReadAt(b, 0)
	return b, err
}

// CheckPrograms checks every --exec path, and that the same name is not
// given twice for one arch.
func CheckPrograms(paths []string) ([]result.Program, error) {
	var out []result.Program
	for _, path := range paths {
		p, err := CheckProgram(path)
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if q.Name == p.Name && q.Arch == p.Arch {
				return nil, fmt.Errorf("--exec %s and --exec %s: two %s programs called %s; one test per name and arch", q.Path, p.Path, p.Arch, p.Name)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// CheckProgramArches checks that every program name has a program for
// each of arches: a test cannot run on one arch and vanish on another.
func CheckProgramArches(programs []result.Program, arches []string) error {
	for _, p := range programs {
		for _, a := range arches {
			if !slices.ContainsFunc(programs, func(q result.Program) bool { return q.Name == p.Name && q.Arch == a }) {
				return fmt.Errorf("--exec %s: built for %s, and no %s program is called %s: add --exec with one built for %s (aarch64-linux-gnu-gcc -static for arm64, gcc -static for x86_64), or run --arch %s only",
					p.Path, p.Arch, a, p.Name, a, p.Arch)
			}
		}
	}
	return nil
}

// programsFor are the programs of one arch.
func programsFor(programs []result.Program, archName string) []result.Program {
	var out []result.Program
	for _, p := range programs {
		if p.Arch == archName {
			out = append(out, p)
		}
	}
	return out
}

// CheckAppend refuses rig.* words in --append: the guest's options are the
// rig's to set, and the host judges a boot by them.
func CheckAppend(s string) error {
	for _, w := range strings.Fields(s) {
		if strings.HasPrefix(w, "rig.") {
			return fmt.Errorf("--append %q: %s is the guest's option, which the rig sets: use --tests, --seed, --duration or --min-kills", s, w)
		}
	}
	return nil
}

// checkExtras checks --exec, --overlay, --append and --qemu-arg and keeps
// what the image needs of them.
func (o *Options) checkExtras() error {
	var err error
	if o.programs, err = CheckPrograms(o.Exec); err != nil {
		return &UsageError{err}
	}
	if o.Overlay != "" {
		if o.overlay, err = initramfs.ReadOverlay(o.Overlay); err != nil {
			return &UsageError{fmt.Errorf("--overlay %s: %w", o.Overlay, err)}
		}
		if o.overlayKey, err = initramfs.EntriesKey(o.overlay); err != nil {
			return &UsageError{fmt.Errorf("--overlay %s: %w", o.Overlay, err)}
		}
	}
	if err := CheckAppend(o.Append); err != nil {
		return &UsageError{err}
	}
	return CheckQEMUArgs(o.QEMUArgs)
}

// qemuOwned are the QEMU options the rig sets, each with the rig's own
// way to change it: given again with --qemu-arg, QEMU would take the
// last one, and the machine booted would not be the one recorded.
var qemuOwned = map[string]string{
	"kernel": "rig boot --kernel",
	"initrd": "--overlay or --exec",
	"append": "--append",
	"m":      "--memory",
	"smp":    "--cpus",
	"accel":  "--accel",
	"qmp":    "nothing: the rig drives the machine through it",
}

// CheckQEMUArgs refuses an empty --qemu-arg and one that overrides an
// option the rig sets.
func CheckQEMUArgs(args []string) error {
	for _, a := range args {
		if strings.TrimSpace(a) == "" {
			return &UsageError{errors.New("--qemu-arg: an empty argument (give one argv element per --qemu-arg: --qemu-arg -d --qemu-arg guest_errors)")}
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if use, ok := qemuOwned[name]; ok {
			return &UsageError{fmt.Errorf("--qemu-arg %s: the rig sets -%s itself (QEMU would take the last one, and the machine booted would not be the one recorded); use %s", a, name, use)}
		}
	}
	return nil
}

// isProgram reports whether a --tests name is one of the run's programs.
func (o *Options) isProgram(name string) bool {
	return slices.ContainsFunc(o.programs, func(p result.Program) bool { return p.Name == name })
}

// RecordExtras records what the user added in a run's record.
func (o Options) RecordExtras(r *result.Run) {
	r.Exec, r.Append, r.QEMUArgs = o.programs, strings.TrimSpace(o.Append), o.QEMUArgs
	if o.Overlay != "" {
		dir, _ := filepath.Abs(o.Overlay)
		r.Overlay = &result.Overlay{Dir: dir, Entries: len(o.overlay), Key: o.overlayKey}
	}
}

// Programs are the checked --exec programs (after Prepare).
func (o Options) Programs() []result.Program { return o.programs }

// imageExtras are the entries the cell adds to the guest's image: its
// programs under catalog.ExecDir and the overlay; key identifies them.
func (c *cell) imageExtras() (entries []initramfs.Entry, key string, err error) {
	for _, p := range c.spec.Programs {
		entries = append(entries, initramfs.Entry{Name: catalog.ExecDir + "/" + p.Name, Src: p.Path, Mode: 0o755})
	}
	if len(entries) == 0 && len(c.opts.overlay) == 0 {
		return nil, "", nil
	}
	k, err := initramfs.EntriesKey(entries)
	if err != nil {
		return nil, "", err
	}
	return append(entries, c.opts.overlay...), cache.Key(k, c.opts.overlayKey), nil
}

// withPrograms adds the cell's programs to its tests: a program is always
// run (that is why it was given), beside the tests --tests names. Empty
// tests (all) stay empty: the guest runs every test it has.
func withPrograms(tests []string, programs []result.Program) []string {
	if len(tests) == 0 {
		return tests
	}
	out := slices.Clone(tests)
	for _, p := range programs {
		if !slices.Contains(out, p.Name) {
			out = append(out, p.Name)
		}
	}
	return out
}

func programNames(programs []result.Program) []string {
	var out []string
	for _, p := range programs {
		if !slices.Contains(out, p.Name) {
			out = append(out, p.Name)
		}
	}
	return out
}
