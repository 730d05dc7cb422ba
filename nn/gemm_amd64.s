//go:build !purego

#include "textflag.h"

// func gemm6x32(a **float32, taps, run int, b, bias, c, res *float32, ldc, ldr, mr, nr int, relu bool, rs int)
//
// C[6×32] = relu?(A·B + bias + res), rows ≥ mr and columns ≥ nr left unstored.
// A is indirect: a holds, per tap, 6 row pointers to runs of `run` floats,
// or, when rs > 0, one pointer (row 0's; row r's run is r*rs floats on).
// B is the packed panel, 32 floats per k. Accumulators: row r in Z(2r), Z(2r+1).
TEXT ·gemm6x32(SB), NOSPLIT, $0-104
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	MOVQ a+0(FP), DI
	MOVQ taps+8(FP), BX
	MOVQ b+24(FP), SI
	MOVQ rs+96(FP), AX
	SHLQ $2, AX

tap:
	MOVQ  0(DI), R8
	TESTQ AX, AX
	JZ    indirect
	LEAQ  (R8)(AX*1), R9
	LEAQ  (R9)(AX*1), R10
	LEAQ  (R10)(AX*1), R11
	LEAQ  (R11)(AX*1), R12
	LEAQ  (R12)(AX*1), R13
	ADDQ  $8, DI
	JMP   loaded

indirect:
	MOVQ 8(DI), R9
	MOVQ 16(DI), R10
	MOVQ 24(DI), R11
	MOVQ 32(DI), R12
	MOVQ 40(DI), R13
	ADDQ $48, DI

loaded:
	MOVQ run+16(FP), CX
	XORQ DX, DX

k:
	VMOVUPS (SI), Z12
	VMOVUPS 64(SI), Z13
	VBROADCASTSS (R8)(DX*1), Z14
	VBROADCASTSS (R9)(DX*1), Z15
	VBROADCASTSS (R10)(DX*1), Z16
	VBROADCASTSS (R11)(DX*1), Z17
	VBROADCASTSS (R12)(DX*1), Z18
	VBROADCASTSS (R13)(DX*1), Z19
	VFMADD231PS Z14, Z12, Z0
	VFMADD231PS Z14, Z13, Z1
	VFMADD231PS Z15, Z12, Z2
	VFMADD231PS Z15, Z13, Z3
	VFMADD231PS Z16, Z12, Z4
	VFMADD231PS Z16, Z13, Z5
	VFMADD231PS Z17, Z12, Z6
	VFMADD231PS Z17, Z13, Z7
	VFMADD231PS Z18, Z12, Z8
	VFMADD231PS Z18, Z13, Z9
	VFMADD231PS Z19, Z12, Z10
	VFMADD231PS Z19, Z13, Z11
	ADDQ $128, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  k

	DECQ BX
	JNZ  tap

	// Epilogue: bias, residual, relu (max with 0, or with -inf for none),
	// masked to nr columns, stopping after mr rows.
	MOVQ    bias+32(FP), AX
	VMOVUPS (AX), Z12
	VMOVUPS 64(AX), Z13
	MOVQ    nr+80(FP), CX
	MOVQ    $1, AX
	SHLQ    CX, AX
	DECQ    AX
	KMOVW   AX, K1
	SHRQ    $16, AX
	KMOVW   AX, K2
	VXORPS  Z14, Z14, Z14
	MOVBQZX relu+88(FP), AX
	TESTQ   AX, AX
	JNZ     floor
	MOVL    $0xff800000, AX
	VPBROADCASTD AX, Z14

floor:
	MOVQ c+40(FP), DI
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8
	MOVQ res+48(FP), SI
	MOVQ ldr+64(FP), R9
	SHLQ $2, R9
	MOVQ mr+72(FP), R10

#define ROW(lo, hi) \
	VADDPS    Z12, lo, lo      \
	VADDPS    Z13, hi, hi      \
	VMOVUPS.Z (SI), K1, Z15    \
	VMOVUPS.Z 64(SI), K2, Z16  \
	VADDPS    Z15, lo, lo      \
	VADDPS    Z16, hi, hi      \
	VMAXPS    Z14, lo, lo      \
	VMAXPS    Z14, hi, hi      \
	VMOVUPS   lo, K1, (DI)     \
	VMOVUPS   hi, K2, 64(DI)   \
	ADDQ      R8, DI           \
	ADDQ      R9, SI

	ROW(Z0, Z1)
	CMPQ R10, $1
	JEQ  done
	ROW(Z2, Z3)
	CMPQ R10, $2
	JEQ  done
	ROW(Z4, Z5)
	CMPQ R10, $3
	JEQ  done
	ROW(Z6, Z7)
	CMPQ R10, $4
	JEQ  done
	ROW(Z8, Z9)
	CMPQ R10, $5
	JEQ  done
	ROW(Z10, Z11)

done:
	VZEROUPPER
	RET
