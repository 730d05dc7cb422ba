package vision

// finishProgressive turns the accumulated coefficients of a progressive
// image into samples, once every scan has been read. Like libjpeg it first
// estimates unsent low-frequency coefficients from neighbouring DC values
// when the scans left some of them out (block smoothing).
func (d *jpegDecoder) finishProgressive() {
	smooth := d.smoothingWanted()
	for i := range d.comps {
		c := &d.comps[i]
		if smooth {
			d.smoothComponent(c)
		} else {
			stride := c.bw * 8
			for by := 0; by < c.hib; by++ {
				for bx := 0; bx < c.wib; bx++ {
					j := (by*c.bw + bx) * 64
					idctIslow((*[64]int16)(c.coefs[j:j+64]), &c.mult, c.plane[by*8*stride+bx*8:], stride)
				}
			}
		}
		c.coefs = nil
	}
}
