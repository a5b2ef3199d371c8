package futex

//go:noescape
func robustUnlock(lock *uint32, tid uint32, pending *uintptr) uint32

// UnlockInstr names the instructions of the assembly unlock.
const UnlockInstr = "lock cmpxchgl; movq $0"
