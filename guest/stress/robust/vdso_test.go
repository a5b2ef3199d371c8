package robust

import (
	"runtime"
	"slices"
	"testing"
)

func TestVdsoSymbols(t *testing.T) {
	names, err := VDSOSymbols()
	if err != nil {
		t.Fatal(err)
	}
	want := "__vdso_clock_gettime"
	if runtime.GOARCH == "arm64" {
		want = "__kernel_clock_gettime"
	}
	if !slices.Contains(names, want) {
		t.Fatalf("vdso symbols %v lack %s", names, want)
	}
	t.Logf("robust unlock symbol: %q", VDSORobustUnlock(names))
	if got := VDSORobustUnlock([]string{"x", "__vdso_futex_robust_list64_try_unlock"}); got != "__vdso_futex_robust_list64_try_unlock" {
		t.Errorf("VDSORobustUnlock = %q", got)
	}
}
