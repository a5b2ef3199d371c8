package futex

import "golang.org/x/sys/cpu"

//go:noescape
func robustUnlockLLSC(lock *uint32, tid uint32, pending *uintptr) uint32

//go:noescape
func robustUnlockCAS(lock *uint32, tid uint32, pending *uintptr) uint32

// robustUnlock uses CASALW where the CPU has LSE atomics.
var robustUnlock = func() func(*uint32, uint32, *uintptr) uint32 {
	if cpu.ARM64.HasATOMICS {
		return robustUnlockCAS
	}
	return robustUnlockLLSC
}()

// UnlockInstr names the instructions of the assembly unlock.
var UnlockInstr = func() string {
	if cpu.ARM64.HasATOMICS {
		return "casalw; str xzr"
	}
	return "ldaxr/stlxr; str xzr"
}()
