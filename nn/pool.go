package nn

import "fmt"

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
		if r0 == r1 {
			return
		}
		// Separable: the max over the window's rows into one row of W×C,
		// then over its columns. The centre tap (ky, kx = pad) is always
		// inside the input, so it initialises each max.
		col := make([]float32, x.W*c)
		for r := r0; r < r1; r++ {
			b, oy := r/oh, r%oh
			row := func(y int) []float32 { return x.Data[(b*x.H+y)*x.W*c:][:x.W*c] }
			copy(col, row(oy*stride))
			for y := max(oy*stride-pad, 0); y < min(oy*stride-pad+k, x.H); y++ {
				if y != oy*stride {
					maxStrided(col, row(y), x.W*c, 1, 0, 0)
				}
			}
			out := dst.Data[(b*oh+oy)*ow*c:][:ow*c]
			for ox := range ow {
				copy(out[ox*c:(ox+1)*c], col[ox*stride*c:])
			}
			for kx := range k {
				if kx == pad {
					continue
				}
				// Output columns whose tap kx falls inside the input.
				lo := max(0, (pad-kx+stride-1)/stride)
				last := x.W - 1 + pad - kx // ox*stride ≤ last
				if hi := min(ow, last/stride+1); last >= 0 && lo < hi {
					maxStrided(out[lo*c:], col[(lo*stride-pad+kx)*c:], c, hi-lo, c, stride*c)
				}
			}
		}
	})
}

// maxStridedGo is maxStrided in portable Go.
func maxStridedGo(dst, src []float32, c, n, ds, ss int) {
	for i := range n {
		d, s := dst[i*ds:][:c], src[i*ss:][:c]
		for j, v := range s {
			d[j] = max(d[j], v)
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
	// Sum in float64: a 224² input leaves 49 pixels per channel, but
	// larger inputs would lose bits in a float32 sum.
	sum := make([]float64, x.C)
	for n := range x.N {
		clear(sum)
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
