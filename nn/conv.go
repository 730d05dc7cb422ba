package nn

import "fmt"

// Conv2D is a 2-D convolution whose BatchNorm has been folded into weight and
// bias by the caller.
type Conv2D struct {
	cout, cin, kh, kw, stride, pad int
	w                              []float32 // packWeights panels
	bias                           []float32 // packBias
	zero                           []float32 // cin zeros: the run a padding tap reads
	// rowRuns: the input is copied with its zero border so that each kernel
	// row is one contiguous run of kw*cin floats; worth it when cin is too
	// small to feed the micro-kernel per tap (the 3-channel stem).
	rowRuns bool
}

// l2Budget is how many bytes of weight panels one worker keeps hot in its
// L2 cache while it sweeps the output pixels.
const l2Budget = 512 << 10

// NewConv2D packs torch-layout weights [cout][cin][kh][kw] (flat) and bias
// [cout]; square stride and zero padding.
func NewConv2D(weight, bias []float32, cout, cin, kh, kw, stride, pad int) *Conv2D {
	if len(weight) != cout*cin*kh*kw || len(bias) != cout || stride < 1 || pad < 0 {
		panic(fmt.Sprintf("nn.NewConv2D: %d weights, %d biases for cout=%d cin=%d kh=%d kw=%d stride=%d pad=%d",
			len(weight), len(bias), cout, cin, kh, kw, stride, pad))
	}
	return &Conv2D{
		cout: cout, cin: cin, kh: kh, kw: kw, stride: stride, pad: pad,
		w:       packWeights(weight, cout, cin, kh, kw),
		bias:    packBias(bias, cout),
		zero:    make([]float32, cin),
		rowRuns: cin < 16 && kw > 1,
	}
}

// OutSize is the output height/width for an input of the given height/width.
func (c *Conv2D) OutSize(h, w int) (int, int) {
	return (h+2*c.pad-c.kh)/c.stride + 1, (w+2*c.pad-c.kw)/c.stride + 1
}

// Forward sets dst = relu?(conv(x) + bias [+ residual]). dst.Data is reused
// when its capacity suffices, else allocated; dst's shape is set. residual may
// be nil; when set it has dst's shape. x is not modified; dst must not alias x.
func (c *Conv2D) Forward(dst, x, residual *Tensor, relu bool) {
	c.forward(selected, dst, x, residual, relu)
}

// convJob is one Forward call's geometry, shared by its workers.
type convJob struct {
	*Conv2D
	k           *kernel
	src         []float32 // x.Data, or its padded copy when rowRuns
	sh, sw      int       // src's spatial size
	oh, ow      int
	taps, run   int
	dst, res    []float32
	relu        bool
	tiles, pans int // row tiles and weight panels
}

func (c *Conv2D) forward(k *kernel, dst, x, residual *Tensor, relu bool) {
	if x.C != c.cin {
		panic(fmt.Sprintf("nn.Conv2D.Forward: input has %d channels, want %d", x.C, c.cin))
	}
	oh, ow := c.OutSize(x.H, x.W)
	dst.reshape(x.N, oh, ow, c.cout)
	j := &convJob{Conv2D: c, k: k, src: x.Data, sh: x.H, sw: x.W, oh: oh, ow: ow,
		taps: c.kh * c.kw, run: c.cin, dst: dst.Data, relu: relu}
	if residual != nil {
		if residual.N != dst.N || residual.H != oh || residual.W != ow || residual.C != c.cout {
			panic("nn.Conv2D.Forward: residual shape differs from the output's")
		}
		j.res = residual.Data
	}
	if c.rowRuns {
		j.src, j.sh, j.sw = padded(x, c.pad)
		j.taps, j.run = c.kh, c.kw*c.cin
	}
	m := x.N * oh * ow
	j.tiles = (m + k.rows - 1) / k.rows
	j.pans = (c.cout + panelWidth - 1) / panelWidth

	// Each worker takes a share of the panels (and every pixel) when the
	// weights outweigh the input, so that each weight is read once; else a
	// share of the pixels (and every panel).
	n := workers()
	splitPanels := j.pans >= n && len(c.w) > len(j.src)
	parallel(n, func(i int) {
		if splitPanels {
			p0, p1 := span(i, n, j.pans)
			j.sweep(0, j.tiles, p0, p1)
		} else {
			t0, t1 := span(i, n, j.tiles)
			j.sweep(t0, t1, 0, j.pans)
		}
	})
}

// sweep computes row tiles [t0, t1) × panels [p0, p1), a block of panels
// at a time so that the block stays in L2 while the rows stream past.
func (j *convJob) sweep(t0, t1, p0, p1 int) {
	if t0 >= t1 || p0 >= p1 {
		return
	}
	rows := j.k.rows
	panelLen := j.taps * j.run * panelWidth
	block := max(1, l2Budget/(4*panelLen))
	t := tile{src: j.src, taps: j.taps, run: j.run, ldc: j.cout, relu: j.relu}
	if j.k.usesPtrs {
		t.ptrs = make([]*float32, j.taps*rows)
	} else {
		t.offs = make([]int, j.taps*rows)
	}
	m := len(j.dst) / j.cout
	for q0 := p0; q0 < p1; q0 += block {
		q1 := min(q0+block, p1)
		for ti := t0; ti < t1; ti++ {
			m0 := ti * rows
			t.mr = min(rows, m-m0)
			j.indirect(&t, m0)
			for p := q0; p < q1; p++ {
				t.b = j.w[p*panelLen : (p+1)*panelLen]
				t.bias = j.bias[p*panelWidth : (p+1)*panelWidth]
				t.nr = min(panelWidth, j.cout-p*panelWidth)
				t.c = j.dst[m0*j.cout+p*panelWidth:]
				if j.res != nil {
					t.res = j.res[m0*j.cout+p*panelWidth:]
				}
				j.k.tile(&t)
			}
		}
	}
}

// indirect fills t.offs, or t.ptrs for the kernels that use them, for the
// tile of output pixels from m0.
func (j *convJob) indirect(t *tile, m0 int) {
	rows := j.k.rows
	n, rem := m0/(j.oh*j.ow), m0%(j.oh*j.ow)
	oy, ox := rem/j.ow, rem%j.ow
	for r := range rows {
		if r > 0 && r < t.mr { // rows past the end repeat the last one
			if ox++; ox == j.ow {
				if ox, oy = 0, oy+1; oy == j.oh {
					oy, n = 0, n+1
				}
			}
		}
		if j.rowRuns {
			// Padded input: kernel row ky is one run from the window's corner.
			for ky := range j.kh {
				j.point(t, ky*rows+r, ((n*j.sh+oy*j.stride+ky)*j.sw+ox*j.stride)*j.cin)
			}
			continue
		}
		for ky := range j.kh {
			iy := oy*j.stride - j.pad + ky
			for kx := range j.kw {
				ix := ox*j.stride - j.pad + kx
				off := -1
				if iy >= 0 && iy < j.sh && ix >= 0 && ix < j.sw {
					off = ((n*j.sh+iy)*j.sw + ix) * j.cin
				}
				j.point(t, (ky*j.kw+kx)*rows+r, off)
			}
		}
	}
}

// point sets entry i of the tile's A table to the run at off (-1: zeros).
func (j *convJob) point(t *tile, i, off int) {
	switch {
	case t.ptrs == nil:
		t.offs[i] = off
	case off < 0:
		t.ptrs[i] = &j.zero[0]
	default:
		t.ptrs[i] = &j.src[off]
	}
}

// padded returns x's data with a zero border of pad pixels, and its new size.
func padded(x *Tensor, pad int) ([]float32, int, int) {
	h, w, c := x.H+2*pad, x.W+2*pad, x.C
	out := make([]float32, x.N*h*w*c)
	for n := range x.N {
		for y := range x.H {
			from := x.Data[((n*x.H+y)*x.W)*c:][:x.W*c]
			copy(out[((n*h+y+pad)*w+pad)*c:], from)
		}
	}
	return out, h, w
}
