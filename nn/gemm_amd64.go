//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// gemm6x32 is the AVX-512F micro-kernel (gemm_amd64.s): a 6×32 tile in 12
// zmm accumulators, bias, residual and relu applied before the store.
//
//go:noescape
func gemm6x32(a **float32, taps, run int, b, bias, c, res *float32, ldc, ldr, mr, nr int, relu bool, rs int)

// gemm3x32AVX2 is the AVX2+FMA micro-kernel (gemm_avx2_amd64.s), 3×32.
//
//go:noescape
func gemm3x32AVX2(a **float32, taps, run int, b, bias, c, res *float32, ldc, ldr, mr int, mask *int32, relu bool, rs int)

var (
	avx512Kernel = &kernel{name: "avx512", rows: 6, usesPtrs: true, tile: tileAVX512}
	avx2Kernel   = &kernel{name: "avx2", rows: 3, usesPtrs: true, tile: tileAVX2}
)

// zeroPanel stands in for a missing residual (read with stride 0).
var zeroPanel [panelWidth]float32

// columnMasks[panelWidth-nr:][:panelWidth] has -1 for nr columns, then 0.
var columnMasks = func() (m [2 * panelWidth]int32) {
	for i := range panelWidth {
		m[i] = -1
	}
	return m
}()

// residual returns the residual pointer and stride for a kernel call.
func residual(t *tile) (*float32, int) {
	if t.res == nil {
		return &zeroPanel[0], 0
	}
	return &t.res[0], t.ldc
}

func tileAVX512(t *tile) {
	res, ldr := residual(t)
	gemm6x32(&t.ptrs[0], t.taps, t.run, &t.b[0], &t.bias[0], &t.c[0], res, t.ldc, ldr, t.mr, t.nr, t.relu, t.rowStride)
}

func tileAVX2(t *tile) {
	res, ldr := residual(t)
	gemm3x32AVX2(&t.ptrs[0], t.taps, t.run, &t.b[0], &t.bias[0], &t.c[0], res, t.ldc, ldr, t.mr,
		&columnMasks[panelWidth-t.nr], t.relu, t.rowStride)
}

// asmKernels lists the assembly kernels this CPU runs, fastest first.
func asmKernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return ks
}
