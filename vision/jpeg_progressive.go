package vision

import "math"

// checkProgression validates a progressive scan's spectral selection and
// successive approximation as libjpeg does, and records which coefficient
// bits are now known (for block smoothing).
func (d *jpegDecoder) checkProgression(sc *scanInfo) error {
	bad := false
	if sc.ss == 0 {
		bad = sc.se != 0
	} else {
		bad = sc.ss > sc.se || sc.se > 63 || len(sc.comps) != 1
	}
	if sc.ah != 0 && sc.al != sc.ah-1 {
		bad = true
	}
	if bad || sc.al > 13 {
		return errInvalid("corrupt JPEG: bad progression parameters Ss=%d Se=%d Ah=%d Al=%d",
			sc.ss, sc.se, sc.ah, sc.al)
	}
	for _, c := range sc.comps {
		for k := sc.ss; k <= sc.se; k++ {
			c.coefBits[k] = int8(sc.al)
		}
	}
	return nil
}

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

// progressiveMCU returns the decoder for one MCU of a progressive scan; it
// accumulates coefficients for the IDCT after the last scan.
func (d *jpegDecoder) progressiveMCU(sc *scanInfo) func(*scanInfo, int, int, *[64]int16) error {
	var block func(c *component, b []int16) error
	switch {
	case sc.ss == 0 && sc.ah == 0:
		block = d.dcFirst
	case sc.ss == 0:
		block = d.dcRefine
	case sc.ah == 0:
		block = d.acFirst
	default:
		block = d.acRefine
	}
	al := sc.al
	d.scanSs, d.scanSe, d.scanAl = sc.ss, sc.se, al
	return func(sc *scanInfo, mx, my int, _ *[64]int16) error {
		if len(sc.comps) == 1 {
			c := sc.comps[0]
			i := (my*c.bw + mx) * 64
			return block(c, c.coefs[i:i+64:i+64])
		}
		for _, c := range sc.comps {
			for by := 0; by < c.v; by++ {
				for bx := 0; bx < c.h; bx++ {
					i := ((my*c.v+by)*c.bw + mx*c.h + bx) * 64
					if err := block(c, c.coefs[i:i+64:i+64]); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
}

func (d *jpegDecoder) dcFirst(c *component, b []int16) error {
	s, ok := d.br.decode(&d.dcTables[c.dcT])
	if !ok {
		return errBadCode
	}
	p := int64(c.dcPred) + int64(d.br.receiveExtend(s))
	if p > math.MaxInt32 || p < math.MinInt32 {
		return errInvalid("corrupt JPEG: DC coefficient out of range")
	}
	c.dcPred = int32(p)
	b[0] = int16(c.dcPred << d.scanAl)
	return nil
}

func (d *jpegDecoder) dcRefine(_ *component, b []int16) error {
	if d.br.bit() {
		b[0] |= 1 << d.scanAl
	}
	return nil
}

func (d *jpegDecoder) acFirst(c *component, b []int16) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	br := &d.br
	ac := &d.acTables[c.acT]
	for k := d.scanSs; k <= d.scanSe; k++ {
		rs, ok := br.decode(ac)
		if !ok {
			return errBadCode
		}
		r, s := rs>>4, rs&15
		if s == 0 {
			if r == 15 {
				k += 15
				continue
			}
			d.eobrun = 1<<r - 1
			if r > 0 {
				d.eobrun += int(br.bits(r))
			}
			break
		}
		k += r
		b[zigzag[k]] = int16(br.receiveExtend(s) << d.scanAl)
	}
	return nil
}

// acRefine adds one bit of precision to a band of AC coefficients (JPEG
// G.1.2.3), following libjpeg's decode_mcu_AC_refine.
func (d *jpegDecoder) acRefine(c *component, b []int16) error {
	br := &d.br
	p1 := int16(1) << d.scanAl
	m1 := int16(-1) << d.scanAl
	k, se := d.scanSs, d.scanSe
	// refine appends a correction bit to an already nonzero coefficient.
	refine := func(z int) {
		if br.bit() && b[z]&p1 == 0 {
			if b[z] >= 0 {
				b[z] += p1
			} else {
				b[z] += m1
			}
		}
	}
	if d.eobrun == 0 {
		ac := &d.acTables[c.acT]
		for ; k <= se; k++ {
			rs, ok := br.decode(ac)
			if !ok {
				return errBadCode
			}
			r, s := rs>>4, rs&15
			var v int16
			if s != 0 {
				if s != 1 {
					return errInvalid("corrupt JPEG: bad refinement coefficient")
				}
				v = m1
				if br.bit() {
					v = p1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += int(br.bits(r))
				}
				break
			}
			for ; k <= se; k++ {
				z := zigzag[k]
				if b[z] != 0 {
					refine(int(z))
				} else {
					if r--; r < 0 {
						break
					}
				}
			}
			if s != 0 {
				b[zigzag[k]] = v
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			if z := zigzag[k]; b[z] != 0 {
				refine(int(z))
			}
		}
		d.eobrun--
	}
	return nil
}
