//go:build !purego

#include "textflag.h"

// func maxStridedAVX512(dst, src *float32, c, n, ds, ss int)
//
// For i < n, j < c: dst[i*ds+j] = max(dst[i*ds+j], src[i*ss+j]).
TEXT ·maxStridedAVX512(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  c+16(FP), R11
	MOVQ  n+24(FP), BX
	MOVQ  ds+32(FP), R8
	SHLQ  $2, R8
	MOVQ  ss+40(FP), R9
	SHLQ  $2, R9
	TESTQ BX, BX
	JZ    done
	MOVQ  R11, CX
	ANDQ  $15, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1 // the c%16 tail
	SHRQ  $4, R11

row:
	MOVQ  DI, R12
	MOVQ  SI, R13
	MOVQ  R11, CX
	TESTQ CX, CX
	JZ    tail

vec:
	VMOVUPS (R13), Z0
	VMAXPS  (R12), Z0, Z0
	VMOVUPS Z0, (R12)
	ADDQ    $64, R12
	ADDQ    $64, R13
	DECQ    CX
	JNZ     vec

tail:
	KORTESTW  K1, K1
	JZ        next
	VMOVUPS.Z (R13), K1, Z0
	VMOVUPS.Z (R12), K1, Z1
	VMAXPS    Z1, Z0, Z0
	VMOVUPS   Z0, K1, (R12)

next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ BX
	JNZ  row

done:
	VZEROUPPER
	RET
