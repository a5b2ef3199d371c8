package cli

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/arch"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/run"
)

// The flag groups: each flag is declared once, here, with one help text,
// and every command that takes it registers its group. The defaults come
// from the packages that own them (machine, run).

// registerMachine registers the machine each guest runs on: vCPUs, memory
// and timeouts.
func registerMachine(fs *flag.FlagSet, o *run.Options) {
	fs.IntVar(&o.CPUs, "cpus", machine.DefaultCPUs, "vCPUs of each guest")
	fs.IntVar(&o.MemoryMB, "memory", 0, fmt.Sprintf("guest memory in MiB (default %d, or more when a config fragment asks with a \"# rig: memory=N\" line, as kasan does)", machine.DefaultMemoryMB))
	fs.DurationVar(&o.BootTimeout, "boot-timeout", 0, fmt.Sprintf("time allowed from QEMU start to the guest's first event (default %s, times the slowdown a config fragment states with \"# rig: slowdown=F\")", machine.DefaultBootTimeout))
	fs.DurationVar(&o.RunTimeout, "run-timeout", 0, "time allowed for each whole boot (default: from the tests, duration and the config fragments' slowdown)")
	fs.DurationVar(&o.EventTimeout, "event-timeout", 0, fmt.Sprintf("time a guest may send no event while a test runs before the cell ends as a timeout naming the test (default %s, times the config fragments' slowdown; the guest sends progress at least every %s)", run.DefaultEventTimeout, event.Heartbeat))
}

// registerTarget registers the one architecture and accelerator of a
// command that boots one machine (boot, bisect).
func registerTarget(fs *flag.FlagSet, o *run.Options) {
	fs.StringVar(&o.Arch, "arch", machine.DefaultArch, "target architecture: "+strings.Join(allArches(), " or "))
	fs.StringVar(&o.Accel, "accel", defaultAccel, "accelerator: auto (KVM if a probe boot works, else TCG), kvm, tcg")
}

// defaultAccel lets machine.ResolveAccel choose: KVM if a probe boot
// works, else TCG.
const defaultAccel = "auto"

// targets are the architectures and accelerators of a command that runs
// a cell for each (run).
type targets struct{ arches, accels listFlag }

func (t *targets) register(fs *flag.FlagSet) {
	t.arches = listFlag{vals: allArches()}
	t.accels = listFlag{vals: []string{defaultAccel}}
	fs.Var(&t.arches, "arch", "target architectures, comma-separated: "+strings.Join(t.arches.vals, ", "))
	fs.Var(&t.accels, "accel", "accelerators, comma-separated: auto (KVM if a probe boot works, else TCG), kvm, tcg; kvm,tcg runs both")
}

// allArches is every architecture the rig knows, in arch.Table's order.
func allArches() []string {
	var l []string
	for _, a := range arch.Table {
		l = append(l, a.Name)
	}
	return l
}

// registerGuest registers what the guest is told besides its tests: the
// seed and the kills the natural tests wait for.
func registerGuest(fs *flag.FlagSet, o *run.Options) {
	fs.Int64Var(&o.Seed, "seed", 0, "random seed for the guest (default: time-based, always recorded)")
	fs.IntVar(&o.MinKills, "min-kills", 0, "natural race tests keep going until this many kills (bounded by the test's duration)")
}

// registerTests registers the tests a command runs and how long the
// natural ones last (a matrix plan names its own).
func registerTests(fs *flag.FlagSet, tests *listFlag, d *time.Duration) {
	fs.Var(tests, "tests", "guest tests to run, comma-separated (default: all; see 'rig tests')")
	fs.DurationVar(d, "duration", run.DefaultDuration, helpDuration)
}

// helpDuration is --duration's help wherever a command takes it.
const helpDuration = "duration of each natural (statistical) test"

// registerResults registers where run directories go.
func registerResults(fs *flag.FlagSet, o *run.Options) {
	fs.StringVar(&o.Results, "results", "", "results directory; the run directory is created inside it (default: results/ of the rig checkout you are in, else $XDG_STATE_HOME/rig/results or ~/.local/state/rig/results)")
}

// registerKeep registers what a run keeps beside its results beyond what
// it always keeps (a cell that did not pass keeps its kernel and image).
func registerKeep(fs *flag.FlagSet, o *run.Options) {
	fs.BoolVar(&o.KeepKernel, "keep-kernel", false, "keep the kernel, vmlinux and initramfs of passing cells with the results too (a cell that did not pass always keeps them, for its reproduce.sh)")
}

// treeHelp is the help of --kernel-src and --series, the two tree flags
// whose meaning depends on the command: the tree to test, the tree a
// bisection runs on, or the checkout `git bisect` is walking.
type treeHelp struct{ kernelSrc, series string }

var testTree = treeHelp{
	kernelSrc: "kernel tree or git checkout (default: the kernel tree you are in, else Debian's linux-source-6.12; \"debian\": Debian's always)",
	series:    "patch series: a directory of *.patch, an mbox, a quilt series file, or commits of the git checkout tested: A..B (on A) or a branch (since its merge base with HEAD or --base); a series that states its base-commit applies there (default: none, test the base tree)",
}

// registerTree registers the kernel tree a command builds: the tree, the
// series on it, config fragments and make's -j.
func registerTree(fs *flag.FlagSet, o *run.Options, configs *listFlag, h treeHelp) {
	fs.StringVar(&o.KernelSrc, "kernel-src", "", h.kernelSrc)
	fs.StringVar(&o.Series, "series", "", h.series)
	fs.BoolVar(&o.Committed, "committed", false, "test a git checkout's HEAD alone (default: its working tree, uncommitted changes and untracked files included)")
	fs.StringVar(&o.Base, "base", "", "the commit the series applies to: a branch series counts its commits from its merge base with it; a file series applies to it instead of the base-commit it states")
	fs.Var(configs, "config", "extra config fragment(s) from kconfigs/ (name) or a path, e.g. debug")
	registerBuild(fs, o)
	fs.IntVar(&o.Jobs, "j", 0, "make -j (default: number of CPUs)")
}

// registerBuild registers the flags of every command that builds kernels,
// from a tree flag or from a plan.
func registerBuild(fs *flag.FlagSet, o *run.Options) {
	fs.BoolVar(&o.AllowMissingConfig, "allow-missing-config", false, "warn instead of failing when a requested config option did not survive")
}

// registerExtras registers what the user adds to the guest and the
// machine: programs run as tests, files in the image, kernel and QEMU
// arguments (run, boot, matrix).
func registerExtras(fs *flag.FlagSet, o *run.Options) {
	fs.Var((*multiFlag)(&o.Exec), "exec", "a static program to pack into the guest and run as a test named after its file (exit status 0 passes; repeatable; give one per arch the run boots)")
	fs.StringVar(&o.Overlay, "overlay", "", "a directory whose files are added to the guest's image root (refused where they would replace or hide what the guest needs: /init, /dev, /proc, /sys, /tmp, /kselftest, /rig)")
	fs.StringVar(&o.Append, "append", "", "extra kernel command-line arguments, after the rig's")
	fs.Var((*multiFlag)(&o.QEMUArgs), "qemu-arg", "an extra QEMU argument, after the rig's (repeatable, one argv element each: --qemu-arg -d --qemu-arg guest_errors)")
}

// multiFlag is a repeatable flag whose every use is one value, commas
// and all (QEMU's options hold commas).
type multiFlag []string

func (m *multiFlag) String() string {
	if m == nil {
		return ""
	}
	return strings.Join(*m, " ")
}

func (m *multiFlag) Set(s string) error {
	*m = append(*m, s)
	return nil
}

// listFlag is a comma-separated, repeatable flag; the first use replaces
// the default.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	n := 0
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if slices.Contains(l.vals, p) {
			return fmt.Errorf("%q given twice", p)
		}
		l.vals = append(l.vals, p)
		n++
	}
	if n == 0 {
		return fmt.Errorf("%q names nothing (leave the flag out for the default)", s)
	}
	return nil
}

// maxDuration bounds every duration flag: a typo cannot make a timeout
// of centuries, or one that overflows when a slowdown multiplies it.
const maxDuration = 366 * 24 * time.Hour

// emptyAllowed are the flags whose empty value means something
// ("--json \"\"": write no file).
var emptyAllowed = map[string]bool{"json": true}

// negativeAllowed are the number flags a negative value is valid for.
var negativeAllowed = map[string]bool{"seed": true}

// checkSet refuses the values of flags given on the command line that would
// silently mean something else: an empty string (the default would be
// used: --kernel-src "" tested Debian's tree), a negative number or
// duration, a duration over maxDuration. Flag defaults are not checked.
func checkSet(fs *flag.FlagSet) error {
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		bad := func(why string) { errs = append(errs, fmt.Errorf("%s %s: %s", dashed(f.Name), f.Value, why)) }
		g, _ := f.Value.(flag.Getter)
		var v any
		if g != nil {
			v = g.Get()
		}
		switch x := v.(type) {
		case bool:
		case int:
			if x < 0 && !negativeAllowed[f.Name] {
				bad("must not be negative")
			}
		case int64:
			if x < 0 && !negativeAllowed[f.Name] {
				bad("must not be negative")
			}
		case time.Duration:
			if x < 0 {
				bad("must not be negative")
			} else if x > maxDuration {
				bad(fmt.Sprintf("over %s, the most any duration may be", maxDuration))
			}
		default:
			if strings.TrimSpace(f.Value.String()) == "" && !emptyAllowed[f.Name] {
				errs = append(errs, fmt.Errorf("%s %q: empty value (leave the flag out for its default)", dashed(f.Name), f.Value.String()))
			}
		}
	})
	return errors.Join(errs...)
}

// dashed is a flag's name as the help text writes it: "-j", "--duration".
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// registerSymbolize registers --symbolize (run, matrix): build with the
// debuginfo fragment so that kernel reports are decoded to file:line.
func registerSymbolize(fs *flag.FlagSet, on *bool) {
	fs.BoolVar(on, "symbolize", false, "build with the "+run.DebugInfoFragment+" config fragment, so kernel reports' stacks are decoded to file:line with inlined frames (configs with debug info, such as the sanitizers', are decoded without it)")
}
