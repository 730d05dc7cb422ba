package nn

import "fmt"

// Conv2D is a 2-D convolution whose BatchNorm has been folded into weight and
// bias by the caller.
type Conv2D struct {
	cout, cin, kh, kw, stride, pad int
	w                              []float32 // packWeights panels
	bias                           []float32 // packBias
	zero                           []float32 // the run a padding tap reads
	// rowRuns: a tap is a whole kernel row, kw*cin contiguous floats of
	// NHWC input, rather than one pixel's cin; worth it when cin is too
	// small to feed the micro-kernel (the 3-channel stem).
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
	c, err := NewConv2DPacked(packWeights(weight, cout, cin, kh, kw), packBias(bias, cout), cout, cin, kh, kw, stride, pad)
	if err != nil {
		panic(err)
	}
	return c
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
	src         []float32 // x.Data
	sh, sw      int       // x's spatial size
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
	t := tile{taps: j.taps, run: j.run, ldc: j.cout, relu: j.relu}
	if j.k.usesPtrs {
		t.ptrs = make([]*float32, j.taps*rows)
	} else {
		t.runs = make([][]float32, j.taps*rows)
	}
	var border []float32 // rowRuns: the runs that cross the left or right edge, completed with zeros
	if j.rowRuns {
		border = make([]float32, j.taps*rows*j.run)
	}
	m := len(j.dst) / j.cout
	for q0 := p0; q0 < p1; q0 += block {
		q1 := min(q0+block, p1)
		for ti := t0; ti < t1; ti++ {
			m0 := ti * rows
			t.mr = min(rows, m-m0)
			j.indirect(&t, m0, border)
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

// indirect fills t.runs, or t.ptrs for the kernels that use them, for the
// tile of output pixels from m0.
func (j *convJob) indirect(t *tile, m0 int, border []float32) {
	rows := j.k.rows
	n, rem := m0/(j.oh*j.ow), m0%(j.oh*j.ow)
	oy, ox := rem/j.ow, rem%j.ow
	t.rowStride = 0
	if t.ptrs != nil && j.regular(t, oy, ox) {
		// The usual case: one output row, every window inside the input.
		// Row 0's runs suffice; the others are a stride apart.
		t.rowStride = j.stride * j.cin
		corner := (n*j.sh+oy*j.stride-j.pad)*j.sw + ox*j.stride - j.pad
		for ky := range j.kh {
			if j.rowRuns {
				t.ptrs[ky] = &j.src[(corner+ky*j.sw)*j.cin]
				continue
			}
			for kx := range j.kw {
				t.ptrs[ky*j.kw+kx] = &j.src[(corner+ky*j.sw+kx)*j.cin]
			}
		}
		return
	}
	for r := range rows {
		if r > 0 && r < t.mr { // rows past the end repeat the last one
			if ox++; ox == j.ow {
				if ox, oy = 0, oy+1; oy == j.oh {
					oy, n = 0, n+1
				}
			}
		}
		ix0 := ox*j.stride - j.pad
		for ky := range j.kh {
			iy := oy*j.stride - j.pad + ky
			inside := iy >= 0 && iy < j.sh
			var row []float32
			if inside {
				row = j.src[(n*j.sh+iy)*j.sw*j.cin:][:j.sw*j.cin]
			}
			if j.rowRuns {
				i := ky*rows + r
				switch {
				case !inside:
					j.point(t, i, nil)
				case ix0 >= 0 && ix0+j.kw <= j.sw:
					j.point(t, i, row[ix0*j.cin:][:j.run])
				default: // copy the part inside, next to zeros
					b := border[i*j.run:][:j.run]
					clear(b)
					lo, hi := max(ix0, 0), min(ix0+j.kw, j.sw)
					copy(b[(lo-ix0)*j.cin:], row[lo*j.cin:hi*j.cin])
					j.point(t, i, b)
				}
				continue
			}
			for kx := range j.kw {
				ix := ix0 + kx
				var run []float32
				if inside && ix >= 0 && ix < j.sw {
					run = row[ix*j.cin:][:j.cin]
				}
				j.point(t, (ky*j.kw+kx)*rows+r, run)
			}
		}
	}
}

// regular reports whether the full tile from output pixel (oy, ox) lies in
// one output row with every window inside the input.
func (j *convJob) regular(t *tile, oy, ox int) bool {
	last := ox + j.k.rows - 1
	iy, ix := oy*j.stride-j.pad, ox*j.stride-j.pad
	return t.mr == j.k.rows && last < j.ow && iy >= 0 && iy+j.kh <= j.sh &&
		ix >= 0 && last*j.stride-j.pad+j.kw <= j.sw
}

// point sets entry i of the tile's A table to run (nil: zeros).
func (j *convJob) point(t *tile, i int, run []float32) {
	switch {
	case t.ptrs == nil:
		t.runs[i] = run
	case run == nil:
		t.ptrs[i] = &j.zero[0]
	default:
		t.ptrs[i] = &run[0]
	}
}
