package vision

// finishProgressive turns the accumulated coefficients of a progressive
// image into samples, once every scan has been read.
func (d *jpegDecoder) finishProgressive() {
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		for by := 0; by < c.hib; by++ {
			for bx := 0; bx < c.wib; bx++ {
				j := (by*c.bw + bx) * 64
				blk := (*[64]int16)(c.coefs[j : j+64])
				idctIslow(blk, &c.quant, c.plane[by*8*stride+bx*8:], stride)
			}
		}
		c.coefs = nil
	}
}
