//go:build !purego

#include "textflag.h"

// func gemm3x32AVX2(a **float32, taps, run int, b, bias, c, res *float32, ldc, ldr, mr int, mask *int32, relu bool, rs int)
//
// The AVX2+FMA micro-kernel, for CPUs without AVX-512: gemm6x32's contract
// on 3 rows (12 ymm accumulators; B is read from memory by the FMAs, as 16
// registers hold no more). mask points to 32 int32s, -1 for each of the nr
// columns to store, 0 past them.
TEXT ·gemm3x32AVX2(SB), NOSPLIT, $0-104
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ   a+0(FP), DI
	MOVQ   taps+8(FP), BX
	MOVQ   b+24(FP), SI
	MOVQ   rs+96(FP), AX
	SHLQ   $2, AX

tap:
	MOVQ  0(DI), R8
	TESTQ AX, AX
	JZ    indirect
	LEAQ  (R8)(AX*1), R9
	LEAQ  (R9)(AX*1), R10
	ADDQ  $8, DI
	JMP   loaded

indirect:
	MOVQ 8(DI), R9
	MOVQ 16(DI), R10
	ADDQ $24, DI

loaded:
	MOVQ run+16(FP), CX
	XORQ DX, DX

k:
	VBROADCASTSS (R8)(DX*1), Y12
	VBROADCASTSS (R9)(DX*1), Y13
	VBROADCASTSS (R10)(DX*1), Y14
	VFMADD231PS  (SI), Y12, Y0
	VFMADD231PS  32(SI), Y12, Y1
	VFMADD231PS  64(SI), Y12, Y2
	VFMADD231PS  96(SI), Y12, Y3
	VFMADD231PS  (SI), Y13, Y4
	VFMADD231PS  32(SI), Y13, Y5
	VFMADD231PS  64(SI), Y13, Y6
	VFMADD231PS  96(SI), Y13, Y7
	VFMADD231PS  (SI), Y14, Y8
	VFMADD231PS  32(SI), Y14, Y9
	VFMADD231PS  64(SI), Y14, Y10
	VFMADD231PS  96(SI), Y14, Y11
	ADDQ         $128, SI
	ADDQ         $4, DX
	DECQ         CX
	JNZ          k

	DECQ BX
	JNZ  tap

	// Epilogue: bias, residual, relu (max with 0, or with -inf for none),
	// masked to the mask's columns, stopping after mr rows.
	VXORPS  Y15, Y15, Y15
	MOVBQZX relu+88(FP), CX
	TESTQ   CX, CX
	JNZ     floor
	MOVL    $0xff800000, CX
	MOVQ    CX, X15
	VBROADCASTSS X15, Y15

floor:
	MOVQ bias+32(FP), AX
	MOVQ mask+80(FP), BX
	MOVQ c+40(FP), DI
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8
	MOVQ res+48(FP), SI
	MOVQ ldr+64(FP), R9
	SHLQ $2, R9
	MOVQ mr+72(FP), R10

#define CHUNK(acc, off) \
	VADDPS     off(AX), acc, acc  \
	VMOVUPS    off(BX), Y12       \
	VMASKMOVPS off(SI), Y12, Y13  \
	VADDPS     Y13, acc, acc      \
	VMAXPS     Y15, acc, acc      \
	VMASKMOVPS acc, Y12, off(DI)

#define ROW(c0, c1, c2, c3) \
	CHUNK(c0, 0)  \
	CHUNK(c1, 32) \
	CHUNK(c2, 64) \
	CHUNK(c3, 96) \
	ADDQ R8, DI   \
	ADDQ R9, SI

	ROW(Y0, Y1, Y2, Y3)
	CMPQ R10, $1
	JEQ  done
	ROW(Y4, Y5, Y6, Y7)
	CMPQ R10, $2
	JEQ  done
	ROW(Y8, Y9, Y10, Y11)

done:
	VZEROUPPER
	RET
