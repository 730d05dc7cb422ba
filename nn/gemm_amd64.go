//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// gemm6x32 is the AVX-512F micro-kernel (gemm_amd64.s): a 6×32 tile in 12
// zmm accumulators, bias, residual and relu applied before the store.
//
//go:noescape
func gemm6x32(a **float32, taps, run int, b, bias, c, res *float32, ldc, ldr, mr, nr int, relu bool, rs int)

var avx512Kernel = &kernel{name: "avx512", rows: 6, usesPtrs: true, tile: tileAVX512}

// zeroPanel stands in for a missing residual (read with stride 0).
var zeroPanel [panelWidth]float32

func tileAVX512(t *tile) {
	res, ldr := &zeroPanel[0], 0
	if t.res != nil {
		res, ldr = &t.res[0], t.ldc
	}
	gemm6x32(&t.ptrs[0], t.taps, t.run, &t.b[0], &t.bias[0], &t.c[0], res, t.ldc, ldr, t.mr, t.nr, t.relu, t.rowStride)
}

func asmKernels() []*kernel {
	if cpu.X86.HasAVX512F {
		return []*kernel{avx512Kernel}
	}
	return nil
}
