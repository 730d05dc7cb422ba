//go:build purego || !amd64

package nn

// asmKernels: no assembly kernels in this build.
func asmKernels() []*kernel { return nil }
