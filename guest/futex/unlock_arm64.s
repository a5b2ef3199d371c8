#include "textflag.h"

// func robustUnlockLLSC(lock *uint32, tid uint32, pending *uintptr) uint32
// The window is after a successful STLXRW: CBNZ, then the MOVD clearing
// list_op_pending.
TEXT ·robustUnlockLLSC(SB), NOSPLIT, $0-28
	MOVD	lock+0(FP), R0
	MOVWU	tid+8(FP), R1
	MOVD	pending+16(FP), R2
again:
	LDAXRW	(R0), R3
	CMPW	R1, R3
	BNE	failed
	STLXRW	ZR, (R0), R4
	CBNZ	R4, again
	MOVD	ZR, (R2)
	MOVW	R3, ret+24(FP)
	RET
failed:
	MOVW	R3, ret+24(FP) // the value found
	RET

// func robustUnlockCAS(lock *uint32, tid uint32, pending *uintptr) uint32
// ARMv8.1 LSE: CASALW, then (if it released) the MOVD clearing
// list_op_pending.
TEXT ·robustUnlockCAS(SB), NOSPLIT, $0-28
	MOVD	lock+0(FP), R0
	MOVWU	tid+8(FP), R1
	MOVD	pending+16(FP), R2
	MOVW	R1, R3
	MOVW	$0, R5
	CASALW	R3, (R0), R5
	CMPW	R1, R3
	BNE	failed
	MOVD	ZR, (R2)
	MOVW	R3, ret+24(FP)
	RET
failed:
	MOVW	R3, ret+24(FP)
	RET

// func CallTryUnlock(fn uintptr, lock *uint32, tid uint32, pending *uintptr) uint32
// AAPCS64 call: x0-x2 the arguments, w0 the result; R19 (callee-saved)
// keeps the Go stack pointer while RSP is aligned to 16.
TEXT ·CallTryUnlock(SB), 0, $16-36
	MOVD	fn+0(FP), R4
	MOVD	lock+8(FP), R0
	MOVWU	tid+16(FP), R1
	MOVD	pending+24(FP), R2
	MOVD	RSP, R19
	MOVD	R19, R20
	AND	$-16, R20
	MOVD	R20, RSP
	BL	(R4)
	MOVD	R19, RSP
	MOVW	R0, ret+32(FP)
	RET
