#include "textflag.h"

// func robustUnlock(lock *uint32, tid uint32, pending *uintptr) uint32
// The window is the two instructions after LOCK CMPXCHGL: the JNE (taken
// only on failure) and the MOVQ clearing list_op_pending.
TEXT ·robustUnlock(SB), NOSPLIT, $0-28
	MOVQ	lock+0(FP), BX
	MOVL	tid+8(FP), AX
	MOVQ	pending+16(FP), DX
	XORL	CX, CX
	LOCK
	CMPXCHGL	CX, 0(BX)
	JNE	failed
	MOVQ	$0, 0(DX)
	MOVL	AX, ret+24(FP)
	RET
failed:
	MOVL	AX, ret+24(FP) // the value found
	RET

// func CallTryUnlock(fn uintptr, lock *uint32, tid uint32, pending *uintptr) uint32
// SysV call on the goroutine stack: the frame and the stack check leave the
// guard area (hundreds of bytes, more than the red zone) below SP for the
// small leaf vDSO function. R12 is callee-saved in SysV.
TEXT ·CallTryUnlock(SB), 0, $16-36
	MOVQ	fn+0(FP), AX
	MOVQ	lock+8(FP), DI
	MOVL	tid+16(FP), SI
	MOVQ	pending+24(FP), DX
	MOVQ	SP, R12
	ANDQ	$~15, SP
	CALL	AX
	MOVQ	R12, SP
	MOVL	AX, ret+32(FP)
	RET
