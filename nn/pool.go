package nn

import (
	"fmt"
	"math"
)

// MaxPool2D sets dst to the k×k max pooling of x with the given stride and
// padding; padded positions are -inf, as in torch's MaxPool2d(k, stride, pad).
// dst.Data is reused when its capacity suffices.
func MaxPool2D(dst, x *Tensor, k, stride, pad int) {
	if k < 1 || stride < 1 || pad < 0 || pad*2 > k {
		panic(fmt.Sprintf("nn.MaxPool2D: k=%d stride=%d pad=%d", k, stride, pad))
	}
	oh, ow := (x.H+2*pad-k)/stride+1, (x.W+2*pad-k)/stride+1
	dst.reshape(x.N, oh, ow, x.C)
	c := x.C
	rows := x.N * oh
	n := workers()
	parallel(n, func(i int) {
		r0, r1 := span(i, n, rows)
		for r := r0; r < r1; r++ {
			b, oy := r/oh, r%oh
			y0, y1 := max(oy*stride-pad, 0), min(oy*stride-pad+k, x.H)
			for ox := range ow {
				x0, x1 := max(ox*stride-pad, 0), min(ox*stride-pad+k, x.W)
				out := dst.Data[((b*oh+oy)*ow+ox)*c:][:c]
				for j := range out {
					out[j] = float32(math.Inf(-1))
				}
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						maxInto(out, x.Data[((b*x.H+y)*x.W+xx)*c:][:c])
					}
				}
			}
		}
	})
}

// maxInto sets dst[i] = max(dst[i], src[i]).
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		if v > dst[i] {
			dst[i] = v
		}
	}
}

// GlobalAvgPool averages x over H and W: it returns N*C floats, a row per
// image, in dst when its capacity suffices.
func GlobalAvgPool(dst []float32, x *Tensor) []float32 {
	size := x.N * x.C
	if cap(dst) >= size {
		dst = dst[:size]
	} else {
		dst = make([]float32, size)
	}
	hw := x.H * x.W
	for n := range x.N {
		// Sum in float64: a 224² input leaves 49 pixels per channel, but
		// larger inputs would lose bits in a float32 sum.
		sum := make([]float64, x.C)
		for p := range hw {
			for j, v := range x.Data[(n*hw+p)*x.C:][:x.C] {
				sum[j] += float64(v)
			}
		}
		for j, s := range sum {
			dst[n*x.C+j] = float32(s / float64(hw))
		}
	}
	return dst
}
