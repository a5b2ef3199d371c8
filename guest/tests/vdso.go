package tests

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// vdsoSymbols lists the dynamic symbols of this process's vDSO, read from
// its mapping ([vdso] in /proc/self/maps, bytes through /proc/self/mem).
func vdsoSymbols() ([]string, error) {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("no [vdso] mapping")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	buf := make([]byte, end-start)
	if _, err := mem.ReadAt(buf, int64(start)); err != nil {
		return nil, fmt.Errorf("read vdso: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("vdso elf: %w", err)
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

// vdsoRobustUnlock returns the name of the vDSO's robust try-unlock entry
// point (the FUTEX_ROBUST_UNLOCK fix, docs/design.md), or "".
func vdsoRobustUnlock(names []string) string {
	for _, n := range names {
		if strings.HasPrefix(n, "__vdso_futex_robust") && strings.HasSuffix(n, "try_unlock") {
			return n
		}
	}
	return ""
}
