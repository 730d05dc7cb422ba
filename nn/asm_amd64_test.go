//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// builtKernels lists every GEMM micro-kernel in this build, whether or not
// this CPU runs it.
func builtKernels() []*kernel { return []*kernel{avx512Kernel, avx2Kernel, goKernel} }

// asmMaxKernels lists the assembly maxStrided kernels this CPU runs.
func asmMaxKernels() []maxKernel {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return []maxKernel{{"avx512", maxStridedAsm}}
}
