package vision

// upsampler names libjpeg's method for bringing a subsampled component to
// full size; which one libjpeg picks changes the pixels, so the choice
// mirrors jinit_upsampler.
type upsampler struct {
	kind   int
	hr, vr int // expansion factors
}

const (
	upFull = iota // not subsampled
	upH2V1        // "fancy" triangular filter, horizontal
	upH1V2        // "fancy" triangular filter, vertical
	upH2V2        // "fancy" triangular filter, both directions
	upBox         // plain replication (int_upsample, h2v1/h2v2_upsample)
)

func chooseUpsampler(hr, vr, dw int) upsampler {
	u := upsampler{kind: upBox, hr: hr, vr: vr}
	switch {
	case hr == 1 && vr == 1:
		u.kind = upFull
	case hr == 2 && vr == 1 && dw > 2:
		u.kind = upH2V1
	case hr == 1 && vr == 2:
		u.kind = upH1V2
	case hr == 2 && vr == 2 && dw > 2:
		u.kind = upH2V2
	}
	return u
}

// row returns output row y of component c at full resolution (at least
// width samples). buf has room for 2*c.dw+hr samples and cs for c.dw sums.
// Rows and columns past the component's data repeat its last row or column,
// as libjpeg's context rows and edge cases do.
func (c *component) row(y, width int, buf []byte, cs []int32) []byte {
	stride := c.bw * 8
	u := c.up
	switch u.kind {
	case upFull:
		return c.plane[y*stride : y*stride+width]
	case upH2V1:
		h2v1Fancy(c.plane[y*stride:y*stride+c.dw], buf)
		return buf
	case upH1V2, upH2V2:
		i := y >> 1
		n, bias := i-1, int32(1) // even rows lean on the row above
		if y&1 == 1 {
			n, bias = i+1, 2
		}
		n = max(0, min(n, c.dh-1))
		near := c.plane[i*stride : i*stride+c.dw]
		far := c.plane[n*stride : n*stride+c.dw]
		if u.kind == upH1V2 {
			out := buf[:len(near)]
			for x := range out {
				out[x] = byte((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
			}
			return buf
		}
		sums := cs[:len(near)]
		for x := range sums {
			sums[x] = 3*int32(near[x]) + int32(far[x])
		}
		h2v2Fancy(sums, buf)
		return buf
	}
	src := c.plane[(y/u.vr)*stride:]
	out := buf[:width]
	for x := range out {
		out[x] = src[x/u.hr]
	}
	return buf
}

// h2v1Fancy doubles a row with weights 3/4 nearer, 1/4 further sample,
// rounding alternately down and up as libjpeg does. len(in) > 2.
func h2v1Fancy(in, out []byte) {
	n := len(in)
	out = out[:2*n]
	out[0] = in[0]
	out[1] = byte((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for x := 1; x < n-1; x++ {
		v := 3 * int32(in[x])
		out[2*x] = byte((v + int32(in[x-1]) + 1) >> 2)
		out[2*x+1] = byte((v + int32(in[x+1]) + 2) >> 2)
	}
	v := 3 * int32(in[n-1])
	out[2*n-2] = byte((v + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// h2v2Fancy doubles a row of vertical sums (3*near + far) horizontally with
// the same 3:1 weights; len(cs) > 2.
func h2v2Fancy(cs []int32, out []byte) {
	n := len(cs)
	out = out[:2*n]
	out[0] = byte((4*cs[0] + 8) >> 4)
	out[1] = byte((3*cs[0] + cs[1] + 7) >> 4)
	for x := 1; x < n-1; x++ {
		v := 3 * cs[x]
		out[2*x] = byte((v + cs[x-1] + 8) >> 4)
		out[2*x+1] = byte((v + cs[x+1] + 7) >> 4)
	}
	v := 3 * cs[n-1]
	out[2*n-2] = byte((v + cs[n-2] + 8) >> 4)
	out[2*n-1] = byte((4*cs[n-1] + 7) >> 4)
}
