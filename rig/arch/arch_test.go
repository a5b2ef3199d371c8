package arch_test

import (
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/arch"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x86_64", "x86_64"}, {"amd64", "x86_64"}, {"x86-64", "x86_64"}, {"x86", "x86_64"},
		{"arm64", "arm64"}, {"aarch64", "arm64"},
	} {
		a, err := arch.Lookup(tc.in)
		if err != nil || a.Name != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.in, a.Name, err, tc.want)
		}
	}
	_, err := arch.Lookup("riscv64")
	if err == nil || !strings.Contains(err.Error(), `"riscv64"`) || !strings.Contains(err.Error(), "arm64, x86_64") {
		t.Errorf("unknown arch: %v", err)
	}
}

func TestTable(t *testing.T) {
	names := arch.Names()
	if !sort.StringsAreSorted(names) || len(names) != len(arch.Table) {
		t.Errorf("Names() = %v", names)
	}
	for _, a := range arch.Table {
		if a.KernelArch == "" || a.Cross == "" || a.Image == "" || a.GOARCH == "" || a.Fragment == "" || a.HostGOARCH == "" || a.ELF == 0 {
			t.Errorf("%s: incomplete entry %+v", a.Name, a)
		}
		if !strings.HasSuffix(a.Cross, "-") {
			t.Errorf("%s: CROSS_COMPILE prefix %q does not end in '-'", a.Name, a.Cross)
		}
		want := a.Cross
		if runtime.GOARCH == a.HostGOARCH {
			want = ""
		}
		if got := a.CrossPrefix(); got != want {
			t.Errorf("%s.CrossPrefix() on %s = %q, want %q", a.Name, runtime.GOARCH, got, want)
		}
	}
	if runtime.GOARCH == "amd64" {
		x, _ := arch.Lookup("x86_64")
		a, _ := arch.Lookup("arm64")
		if x.CrossPrefix() != "" || a.CrossPrefix() != "aarch64-linux-gnu-" {
			t.Errorf("amd64 host: x86_64 %q, arm64 %q", x.CrossPrefix(), a.CrossPrefix())
		}
	}
}
