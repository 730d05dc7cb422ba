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

// resampleCoeffs holds, per output index, the first input index, the number
// of inputs, and ksize fixed-point weights.
type resampleCoeffs struct {
	first, count []int
	k            []int32
	ksize        int
}

// bilinearCoeffs computes PIL's BILINEAR (triangle, support 1) weights for
// resizing inSize samples to outSize. Products are converted explicitly so
// the compiler cannot fuse them into FMAs, which would change the rounding.
func bilinearCoeffs(inSize, outSize int) resampleCoeffs {
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		first: make([]int, outSize),
		count: make([]int, outSize),
		k:     make([]int32, outSize*ksize),
		ksize: ksize,
	}
	ss := 1.0 / filterscale
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			t := float64((float64(x+xmin) - center + 0.5) * ss)
			w[x] = max(1-math.Abs(t), 0)
			ww += w[x]
		}
		k := c.k[xx*ksize : (xx+1)*ksize]
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
		c.first[xx], c.count[xx] = xmin, max(xmax, 0)
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

// resizeBilinear resizes an RGB image to w x h as PIL's
// Image.resize((w, h), Image.BILINEAR) does.
func resizeBilinear(img *imgrec.Image, w, h int) *imgrec.Image {
	src, sw, sh := img.Pix, img.Width, img.Height
	horiz, vert := bilinearCoeffs(sw, w), bilinearCoeffs(sh, h)
	if w != sw {
		// Only the input rows the vertical pass reads.
		y0 := vert.first[0]
		y1 := vert.first[h-1] + vert.count[h-1]
		if h == sh {
			y0, y1 = 0, sh
		}
		tmp := make([]byte, (y1-y0)*w*3)
		const half = 1 << (resamplePrecision - 1)
		for y := y0; y < y1; y++ {
			in := src[y*sw*3 : (y+1)*sw*3]
			out := tmp[(y-y0)*w*3 : (y-y0+1)*w*3]
			for xx := 0; xx < w; xx++ {
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
		src, sw = tmp, w
		if h == sh {
			return &imgrec.Image{Width: w, Height: h, Pix: src}
		}
		for i := range vert.first {
			vert.first[i] -= y0
		}
	}
	if h == sh {
		return &imgrec.Image{Width: w, Height: h, Pix: append([]byte(nil), src...)}
	}
	dst := make([]byte, w*h*3)
	const half = 1 << (resamplePrecision - 1)
	for yy := 0; yy < h; yy++ {
		k := vert.k[yy*vert.ksize : yy*vert.ksize+vert.count[yy]]
		out := dst[yy*w*3 : (yy+1)*w*3]
		for x := range out {
			s := int32(half)
			for i, kv := range k {
				s += int32(src[(vert.first[yy]+i)*sw*3+x]) * kv
			}
			out[x] = clipResample(s)
		}
	}
	return &imgrec.Image{Width: w, Height: h, Pix: dst}
}
