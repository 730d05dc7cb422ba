package vision

import (
	"math"

	"github.com/imgrec/imgrec"
)

// PIL's resampling (libImaging/Resample.c, Pillow 9.4) for 8-bit images:
// separable convolution, horizontal pass then vertical, with weights
// computed in float64, normalised to sum 1, then rounded to 22-bit fixed
// point; each pass rounds and clips to a byte. Downscaling widens the
// filter by the scale factor (antialiasing).

const resamplePrecision = 32 - 8 - 2

// resampleCoeffs holds, per output index of a window, the first input
// index, the number of inputs, and ksize fixed-point weights.
type resampleCoeffs struct {
	first, count []int
	k            []int32
	ksize        int
}

// bilinearCoeffs computes PIL's BILINEAR (triangle, support 1) weights for
// resizing inSize samples to outSize, for the n output indices from off on.
// Products are converted explicitly so the compiler cannot fuse them into
// FMAs, which would change the rounding.
func bilinearCoeffs(inSize, outSize, off, n int) resampleCoeffs {
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		first: make([]int, n),
		count: make([]int, n),
		k:     make([]int32, n*ksize),
		ksize: ksize,
	}
	ss := 1.0 / filterscale
	w := make([]float64, ksize)
	for i := range n {
		center := float64((float64(off+i) + 0.5) * scale)
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			t := float64((float64(x+xmin) - center + 0.5) * ss)
			w[x] = max(1-math.Abs(t), 0)
			ww += w[x]
		}
		k := c.k[i*ksize : (i+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			f := float64(v * (1 << resamplePrecision))
			if v < 0 {
				k[x] = int32(f - 0.5)
			} else {
				k[x] = int32(f + 0.5)
			}
		}
		c.first[i], c.count[i] = xmin, max(xmax, 0)
	}
	return c
}

// clipResample turns a fixed-point sum into a byte.
func clipResample(v int32) byte {
	switch {
	case v >= 255<<resamplePrecision:
		return 255
	case v <= 0:
		return 0
	}
	return byte(v >> resamplePrecision)
}

// resizeCrop returns the cw x ch window at (left, top) of the RGB image as
// PIL's Image.resize((w, h), Image.BILINEAR) would produce it. Every output
// pixel depends only on its own weights, so computing just the window gives
// the same bytes without materialising the whole resized image (which, for
// a long thin input, could be huge).
func resizeCrop(img *imgrec.Image, w, h, left, top, cw, ch int) *imgrec.Image {
	src, sw, sh := img.Pix, img.Width, img.Height
	const half = 1 << (resamplePrecision - 1)
	y0, y1 := top, top+ch // input rows the vertical pass reads
	var vert resampleCoeffs
	if h != sh {
		vert = bilinearCoeffs(sh, h, top, ch)
		y0 = vert.first[0]
		y1 = vert.first[ch-1] + vert.count[ch-1]
	}
	// Horizontal pass (or plain column crop) over rows y0..y1.
	rows := make([]byte, (y1-y0)*cw*3)
	if w != sw {
		horiz := bilinearCoeffs(sw, w, left, cw)
		for y := y0; y < y1; y++ {
			in := src[y*sw*3 : (y+1)*sw*3]
			out := rows[(y-y0)*cw*3 : (y-y0+1)*cw*3]
			for xx := 0; xx < cw; xx++ {
				k := horiz.k[xx*horiz.ksize : xx*horiz.ksize+horiz.count[xx]]
				p := in[horiz.first[xx]*3:]
				r, g, b := int32(half), int32(half), int32(half)
				for i, kv := range k {
					r += int32(p[3*i]) * kv
					g += int32(p[3*i+1]) * kv
					b += int32(p[3*i+2]) * kv
				}
				out[3*xx], out[3*xx+1], out[3*xx+2] = clipResample(r), clipResample(g), clipResample(b)
			}
		}
	} else {
		for y := y0; y < y1; y++ {
			copy(rows[(y-y0)*cw*3:(y-y0+1)*cw*3], src[(y*sw+left)*3:])
		}
	}
	if h == sh {
		return &imgrec.Image{Width: cw, Height: ch, Pix: rows}
	}
	// Vertical pass: accumulate whole rows, tap by tap.
	dst := make([]byte, cw*ch*3)
	acc := make([]int32, cw*3)
	for yy := 0; yy < ch; yy++ {
		for i := range acc {
			acc[i] = half
		}
		k := vert.k[yy*vert.ksize : yy*vert.ksize+vert.count[yy]]
		for i, kv := range k {
			in := rows[(vert.first[yy]-y0+i)*cw*3 : (vert.first[yy]-y0+i+1)*cw*3]
			for x, v := range in {
				acc[x] += int32(v) * kv
			}
		}
		out := dst[yy*cw*3 : (yy+1)*cw*3]
		for x, s := range acc {
			out[x] = clipResample(s)
		}
	}
	return &imgrec.Image{Width: cw, Height: ch, Pix: dst}
}
