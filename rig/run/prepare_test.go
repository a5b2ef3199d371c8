package run

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/source"
)

// fakeKernelTree lays out the files the rig's kernel tree checks look for.
func fakeKernelTree(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	for _, d := range []string{"kernel/futex", "arch/x86", "include/linux"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"Makefile", "Kconfig"} {
		if err := os.WriteFile(filepath.Join(top, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func prepared(t *testing.T, o Options) (Options, error) {
	t.Helper()
	o.Root, o.Cache, o.Results = t.TempDir(), t.TempDir(), t.TempDir()
	err := Prepare(&o)
	return o, err
}

// Started inside a kernel tree (here from a subdirectory of it), a run
// tests that tree, not Debian's.
func TestPrepareUsesTheKernelTreeYouAreIn(t *testing.T) {
	top := fakeKernelTree(t)
	t.Chdir(filepath.Join(top, "kernel", "futex"))
	o, err := prepared(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.KernelSrc != top || !o.TreeFromCwd {
		t.Fatalf("KernelSrc %q (from cwd %v), want %s", o.KernelSrc, o.TreeFromCwd, top)
	}
	// Debian's tree, asked for by name.
	if o, err = prepared(t, Options{KernelSrc: source.DefaultName}); err != nil || o.KernelSrc != "" || o.TreeFromCwd {
		t.Fatalf("--kernel-src debian: KernelSrc %q, err %v", o.KernelSrc, err)
	}
	// An explicit tree wins.
	other := fakeKernelTree(t)
	if o, err = prepared(t, Options{KernelSrc: other}); err != nil || o.KernelSrc != other || o.TreeFromCwd {
		t.Fatalf("--kernel-src %s: KernelSrc %q, err %v", other, o.KernelSrc, err)
	}
}

// A kernel tree that cannot be used is an error about that tree, never a
// silent switch to the default one.
func TestPrepareReportsAnUnusableTreeYouAreIn(t *testing.T) {
	top := fakeKernelTree(t)
	if err := os.WriteFile(filepath.Join(top, ".config"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(top)
	_, err := prepared(t, Options{})
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "the kernel tree you are in") || !strings.Contains(err.Error(), "mrproper") {
		t.Fatalf("err = %v, want a usage error about the tree you are in", err)
	}
}

// Outside any kernel tree the default is Debian's.
func TestPrepareOutsideAKernelTree(t *testing.T) {
	t.Chdir(t.TempDir())
	o, err := prepared(t, Options{})
	if err != nil || o.KernelSrc != "" || o.TreeFromCwd {
		t.Fatalf("KernelSrc %q, err %v", o.KernelSrc, err)
	}
}
