// Package nn holds the float32 kernels of the ResNet-18 inference engine:
// convolution (BatchNorm folded in by the caller), pooling and the fully
// connected layer, on NHWC tensors.
//
// A convolution is a GEMM: M = N·OH·OW output pixels, K = KH·KW·Cin,
// N = Cout. NewConv2D packs the weights into panels of 32 output channels,
// each K-major (pack.go), so that a micro-kernel streams its panel
// sequentially. The A side needs no im2col buffer: for each tile of output
// pixels, a small table says where each pixel's run of K (one kernel tap:
// Cin contiguous floats of NHWC input) starts, and padding taps read a
// zero run (conv.go). A tile wholly inside the input passes only its first
// row's pointers, the other rows being a stride apart. The 3-channel stem
// takes a whole kernel row (KW·Cin floats) per tap instead.
//
// The micro-kernels compute a tile of 6×32 (AVX-512, 12 zmm accumulators)
// or 3×32 (AVX2+FMA) outputs over all of K and apply bias, residual and
// relu before the single store. They are Go assembly, chosen at init from
// the CPU's features; gemm_generic.go is the portable Go kernel, the only
// one under the purego build tag.
//
// Each call splits its work over GOMAXPROCS parts: by weight panels when the
// weights outweigh the input (late layers, small batches: each weight is
// then read from memory once), else by pixel tiles. A pool of spinning
// helpers takes the parts (parallel.go), since parking and waking goroutines
// would cost more than many of the layers.
package nn
