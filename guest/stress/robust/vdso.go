package robust

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readVDSO reads this process's vDSO from its mapping ([vdso] in
// /proc/self/maps, bytes through /proc/self/mem) and returns it with the
// address it is mapped at.
func readVDSO() (*elf.File, uint64, error) {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, 0, err
	}
	defer maps.Close()
	var start, end uint64
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(line, "[vdso]") {
			continue
		}
		a, b, _ := strings.Cut(strings.Fields(line)[0], "-")
		start, _ = strconv.ParseUint(a, 16, 64)
		end, _ = strconv.ParseUint(b, 16, 64)
		break
	}
	if start == 0 || end <= start || end-start > 1<<20 {
		return nil, 0, fmt.Errorf("no [vdso] mapping")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return nil, 0, err
	}
	defer mem.Close()
	buf := make([]byte, end-start)
	if _, err := mem.ReadAt(buf, int64(start)); err != nil {
		return nil, 0, fmt.Errorf("read vdso: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(buf))
	if err != nil {
		return nil, 0, fmt.Errorf("vdso elf: %w", err)
	}
	return f, start, nil
}

// VDSOSymbols lists the dynamic symbols of this process's vDSO.
func VDSOSymbols() ([]string, error) {
	f, _, err := readVDSO()
	if err != nil {
		return nil, err
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("vdso symbols: %w", err)
	}
	var names []string
	for _, s := range syms {
		names = append(names, s.Name)
	}
	return names, nil
}

// VDSORobustUnlock returns the name of the vDSO's robust try-unlock entry
// point (the FUTEX_ROBUST_UNLOCK fix, docs/design.md), or "".
func VDSORobustUnlock(names []string) string {
	for _, n := range names {
		if strings.HasPrefix(n, "__vdso_futex_robust") && strings.HasSuffix(n, "try_unlock") {
			return n
		}
	}
	return ""
}

// VDSOTryUnlockAddr finds the vDSO's 64-bit robust try-unlock (0: none).
func VDSOTryUnlockAddr() uintptr {
	for _, n := range []string{"__vdso_futex_robust_list64_try_unlock", "__kernel_futex_robust_list64_try_unlock"} {
		if a, err := VDSOSymbolAddr(n); err == nil && a != 0 {
			return a
		}
	}
	return 0
}

// VDSOSymbolAddr returns the address in this process of the vDSO's dynamic
// symbol name (0 and no error if the vDSO lacks it): the mapping's start
// plus the symbol's value relative to the first PT_LOAD segment.
func VDSOSymbolAddr(name string) (uintptr, error) {
	f, start, err := readVDSO()
	if err != nil {
		return 0, err
	}
	var base uint64
	found := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			base, found = p.Vaddr, true
			break
		}
	}
	if !found {
		return 0, fmt.Errorf("vdso has no PT_LOAD")
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return 0, fmt.Errorf("vdso symbols: %w", err)
	}
	for _, s := range syms {
		if s.Name == name && s.Value != 0 {
			return uintptr(start + s.Value - base), nil
		}
	}
	return 0, nil
}
