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
