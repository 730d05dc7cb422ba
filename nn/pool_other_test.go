//go:build purego || !amd64

package nn

// asmMaxKernels: no assembly maxStrided in this build.
func asmMaxKernels() []maxKernel { return nil }
