// Package nn holds the float32 kernels of the ResNet-18 inference engine:
// convolution (with BatchNorm folded in), pooling and the fully connected
// layer, on NHWC tensors. The convolution is an indirect GEMM whose
// micro-kernel is Go assembly where the CPU allows (AVX-512F) and Go
// elsewhere (or with the purego build tag).
package nn

// Tensor is a batch of feature maps in NHWC layout (channel last).
type Tensor struct {
	N, H, W, C int
	Data       []float32 // len N*H*W*C
}

// reshape sets t's shape, reusing t.Data when its capacity suffices.
// The contents are not cleared: every caller overwrites all of them.
func (t *Tensor) reshape(n, h, w, c int) {
	t.N, t.H, t.W, t.C = n, h, w, c
	size := n * h * w * c
	if cap(t.Data) >= size {
		t.Data = t.Data[:size]
	} else {
		t.Data = make([]float32, size)
	}
}
