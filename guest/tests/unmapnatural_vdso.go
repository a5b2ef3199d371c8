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

// vdsoSymbolAddr returns the address in this process of the vDSO's dynamic
// symbol name (0 and no error if the vDSO lacks it): the mapping's start
// plus the symbol's value relative to the first PT_LOAD segment.
func vdsoSymbolAddr(name string) (uintptr, error) {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer maps.Close()
	var start, end uint64
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(line, "[vdso]") {
			a, b, _ := strings.Cut(strings.Fields(line)[0], "-")
			start, _ = strconv.ParseUint(a, 16, 64)
			end, _ = strconv.ParseUint(b, 16, 64)
			break
		}
	}
	if start == 0 || end <= start || end-start > 1<<20 {
		return 0, fmt.Errorf("no [vdso] mapping")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	buf := make([]byte, end-start)
	if _, err := mem.ReadAt(buf, int64(start)); err != nil {
		return 0, fmt.Errorf("read vdso: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(buf))
	if err != nil {
		return 0, fmt.Errorf("vdso elf: %w", err)
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
