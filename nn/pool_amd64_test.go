//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// asmMaxKernels lists the assembly maxStrided kernels this CPU runs.
func asmMaxKernels() []maxKernel {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return []maxKernel{{"avx512", maxStridedAsm}}
}
