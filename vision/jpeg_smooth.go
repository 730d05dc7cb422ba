package vision

// Block smoothing (libjpeg's jdcoefct.c decompress_smooth_data, version 2.1):
// when a progressive file never sends some of the first nine AC coefficients
// (or not all their bits), libjpeg estimates them from the DC values of the
// 5x5 neighbourhood of blocks before the IDCT. Files with a complete scan
// script are unaffected.

// smoothPredictor estimates one coefficient from the neighbourhood's DC
// values: weights are indexed [row*5+col] over rows and columns -2..+2.
type smoothPredictor struct {
	pos  int // natural position of the coefficient
	bits int // index into coefBits (its zigzag index)
	// sparse is used while some of the nine AC coefficients are known,
	// full when none is (and the DC is re-estimated too); nil: not estimated.
	sparse, full *[25]int32
}

var smoothPredictors = [...]smoothPredictor{
	{1, 1, &[25]int32{ // AC01
		0, 0, 0, 0, 0,
		0, 0, 0, 0, 0,
		-7, 50, 0, -50, 7,
		0, 0, 0, 0, 0,
		0, 0, 0, 0, 0,
	}, &[25]int32{
		-1, -1, 0, 1, 1,
		-3, 13, 0, -13, 3,
		-3, 38, 0, -38, 3,
		-3, 13, 0, -13, 3,
		-1, -1, 0, 1, 1,
	}},
	{8, 2, &[25]int32{ // AC10
		0, 0, -7, 0, 0,
		0, 0, 50, 0, 0,
		0, 0, 0, 0, 0,
		0, 0, -50, 0, 0,
		0, 0, 7, 0, 0,
	}, &[25]int32{
		-1, -3, -3, -3, -1,
		-1, 13, 38, 13, -1,
		0, 0, 0, 0, 0,
		1, -13, -38, -13, 1,
		1, 3, 3, 3, 1,
	}},
	{16, 3, &[25]int32{ // AC20
		0, 0, -1, 0, 0,
		0, 0, 13, 0, 0,
		0, 0, -24, 0, 0,
		0, 0, 13, 0, 0,
		0, 0, -1, 0, 0,
	}, &[25]int32{
		0, 0, 1, 0, 0,
		0, 2, 7, 2, 0,
		0, -5, -14, -5, 0,
		0, 2, 7, 2, 0,
		0, 0, 1, 0, 0,
	}},
	{9, 4, &[25]int32{ // AC11
		0, -1, 0, 1, 0,
		-1, 10, 0, -10, 1,
		0, 0, 0, 0, 0,
		1, -10, 0, 10, -1,
		0, 1, 0, -1, 0,
	}, &[25]int32{
		-1, 0, 0, 0, 1,
		0, 9, 0, -9, 0,
		0, 0, 0, 0, 0,
		0, -9, 0, 9, 0,
		1, 0, 0, 0, -1,
	}},
	{2, 5, &[25]int32{ // AC02
		0, 0, 0, 0, 0,
		0, 0, 0, 0, 0,
		-1, 13, -24, 13, -1,
		0, 0, 0, 0, 0,
		0, 0, 0, 0, 0,
	}, &[25]int32{
		0, 0, 0, 0, 0,
		0, 2, -5, 2, 0,
		1, 7, -14, 7, 1,
		0, 2, -5, 2, 0,
		0, 0, 0, 0, 0,
	}},
	{3, 6, nil, &[25]int32{ // AC03
		0, 0, 0, 0, 0,
		0, 1, 0, -1, 0,
		0, 2, 0, -2, 0,
		0, 1, 0, -1, 0,
		0, 0, 0, 0, 0,
	}},
	{10, 7, nil, &[25]int32{ // AC12
		0, 0, 0, 0, 0,
		0, 1, -3, 1, 0,
		0, 0, 0, 0, 0,
		0, -1, 3, -1, 0,
		0, 0, 0, 0, 0,
	}},
	{17, 8, nil, &[25]int32{ // AC21
		0, 0, 0, 0, 0,
		0, 1, 0, -1, 0,
		0, -3, 0, 3, 0,
		0, 1, 0, -1, 0,
		0, 0, 0, 0, 0,
	}},
	{24, 9, nil, &[25]int32{ // AC30
		0, 0, 0, 0, 0,
		0, 1, 2, 1, 0,
		0, 0, 0, 0, 0,
		0, -1, -2, -1, 0,
		0, 0, 0, 0, 0,
	}},
}

// smoothDC re-estimates the DC when no AC coefficient was sent at all.
var smoothDC = [25]int32{
	-2, -6, -8, -6, -2,
	-6, 6, 42, 6, -6,
	-8, 42, 152, 42, -8,
	-6, 6, 42, 6, -6,
	-2, -6, -8, -6, -2,
}

// smoothingWanted mirrors libjpeg's smoothing_ok for a fully read file.
func (d *jpegDecoder) smoothingWanted() bool {
	useful := false
	for i := range d.comps {
		c := &d.comps[i]
		for _, p := range []int{0, 1, 8, 16, 9, 2, 3, 10, 17, 24} {
			if c.quant[p] == 0 {
				return false // the estimates divide by these
			}
		}
		if c.coefBits[0] < 0 {
			return false
		}
		for k := 1; k <= 9; k++ {
			if c.coefBits[k] != 0 {
				useful = true
			}
		}
	}
	return useful
}

// smoothComponent estimates missing coefficients of every block of c and
// transforms the result into c.plane. Which neighbours count as present at
// the image edges follows libjpeg, which reasons in iMCU rows and keeps
// stale values in its sliding window at the right edge; matching it exactly
// keeps the pixels identical.
func (d *jpegDecoder) smoothComponent(c *component) {
	full := true
	for k := 1; k <= 9; k++ {
		if c.coefBits[k] != -1 {
			full = false
		}
	}
	q00 := int64(c.quant[0])
	v := c.sv
	lastRow := d.iMCURows - 1
	lastCol := c.wib - 1
	stride := c.bw * 8
	dcAt := func(row, col int) int32 { return int32(c.coefs[(row*c.bw+col)*64]) }
	var ws [64]int16
	for imcu := 0; imcu <= lastRow; imcu++ {
		blockRows := v
		if imcu == lastRow {
			if blockRows = c.hib % v; blockRows == 0 {
				blockRows = v
			}
		}
		for br := 0; br < blockRows; br++ {
			row := imcu*v + br
			var rows [5]int // block rows at offsets -2..+2
			rows[2] = row
			rows[1] = row
			if br > 0 || imcu > 0 {
				rows[1] = row - 1
			}
			rows[0] = rows[1]
			if br > 1 || imcu > 1 {
				rows[0] = row - 2
			}
			rows[3] = row
			if br < blockRows-1 || imcu < lastRow {
				rows[3] = row + 1
			}
			rows[4] = rows[3]
			if br < blockRows-2 || imcu+1 < lastRow {
				rows[4] = row + 2
			}
			var dc [25]int32 // sliding window of DC values
			for r := range 5 {
				x := dcAt(rows[r], 0)
				for k := range 5 {
					dc[r*5+k] = x
				}
			}
			for col := 0; col <= lastCol; col++ {
				if col == 0 && col < lastCol {
					for r := range 5 {
						dc[r*5+3] = dcAt(rows[r], 1)
					}
				}
				if col+1 < lastCol {
					for r := range 5 {
						dc[r*5+4] = dcAt(rows[r], col+2)
					}
				}
				j := (row*c.bw + col) * 64
				copy(ws[:], c.coefs[j:j+64])
				for _, p := range smoothPredictors {
					w := p.sparse
					if full {
						w = p.full
					}
					al := int(c.coefBits[p.bits])
					if w == nil || al == 0 || ws[p.pos] != 0 {
						continue
					}
					ws[p.pos] = int16(predict(q00*weigh(w, &dc), int64(c.quant[p.pos]), al))
				}
				if full {
					ws[0] = int16(predict(q00*weigh(&smoothDC, &dc), q00, 0))
				}
				idctIslow(&ws, &c.mult, c.plane[row*8*stride+col*8:], stride)
				for r := range 5 {
					copy(dc[r*5:r*5+4], dc[r*5+1:r*5+5])
				}
			}
		}
	}
}

func weigh(w, dc *[25]int32) int64 {
	var s int64
	for i, x := range w {
		s += int64(x) * int64(dc[i])
	}
	return s
}

// predict divides num by 256*q rounding half away from zero and, when the
// coefficient's top bits are known (al > 0), keeps the estimate below the
// first unknown bit.
func predict(num, q int64, al int) int64 {
	neg := num < 0
	if neg {
		num = -num
	}
	p := (q<<7 + num) / (q << 8)
	if al > 0 && p >= 1<<al {
		p = 1<<al - 1
	}
	if neg {
		p = -p
	}
	return p
}
