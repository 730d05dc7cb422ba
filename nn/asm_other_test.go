//go:build purego || !amd64

package nn

// builtKernels lists every GEMM micro-kernel in this build: the Go one.
func builtKernels() []*kernel { return []*kernel{goKernel} }

// asmMaxKernels: no assembly maxStrided in this build.
func asmMaxKernels() []maxKernel { return nil }
