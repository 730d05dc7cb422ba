package nn

import "fmt"

// Linear is a fully connected layer, weight [out][in] as torch stores it.
// It runs as a 1×1 convolution over n one-pixel images.
type Linear struct {
	conv    *Conv2D
	out, in int
}

// NewLinear packs weight [out][in] and bias [out].
func NewLinear(weight, bias []float32, out, in int) *Linear {
	if len(weight) != out*in || len(bias) != out {
		panic(fmt.Sprintf("nn.NewLinear: %d weights, %d biases for out=%d in=%d", len(weight), len(bias), out, in))
	}
	return &Linear{conv: NewConv2D(weight, bias, out, in, 1, 1, 1, 0), out: out, in: in}
}

// Forward computes dst[n][out] = x[n][in]·Wᵀ + b for n rows; dst is reused
// if its capacity suffices.
func (l *Linear) Forward(dst, x []float32, n int) []float32 {
	return l.forward(selected, dst, x, n)
}

func (l *Linear) forward(k *kernel, dst, x []float32, n int) []float32 {
	if len(x) < n*l.in {
		panic(fmt.Sprintf("nn.Linear.Forward: %d inputs for %d rows of %d", len(x), n, l.in))
	}
	in := Tensor{N: n, H: 1, W: 1, C: l.in, Data: x[:n*l.in]}
	out := Tensor{Data: dst}
	l.conv.forward(k, &out, &in, nil, false)
	return out.Data
}
