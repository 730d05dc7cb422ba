package vision

import "math"

// zigzag maps a zigzag index to its natural (row-major) position. The 16
// extra entries catch run lengths that overshoot the block in corrupt data,
// sending them to position 63 as libjpeg does instead of out of bounds.
var zigzag = [80]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

// scanInfo is the header of one scan.
type scanInfo struct {
	comps          []*component
	ss, se, ah, al int
}

// scan decodes one scan whose header is seg; the entropy-coded data
// follows at d.pos.
func (d *jpegDecoder) scan(seg []byte) error {
	sc, err := d.parseSOS(seg)
	if err != nil {
		return err
	}
	for _, c := range sc.comps {
		c.dcPred = 0
	}
	d.eobrun = 0
	d.br.reset(d.data, d.pos)

	// One component: one block per MCU over the component's own blocks.
	// Several: MCUs of h*v blocks per component over the padded frame.
	mcusX, mcusY := d.mcusX, d.mcusY
	if len(sc.comps) == 1 {
		mcusX, mcusY = sc.comps[0].wib, sc.comps[0].hib
	}
	decode := d.sequentialMCU
	if d.progressive {
		decode = d.progressiveMCU(sc)
	}
	var blk [64]int16
	nextRST := 0
	todo := d.restart
	for my := 0; my < mcusY; my++ {
		for mx := 0; mx < mcusX; mx++ {
			if d.restart > 0 {
				if todo == 0 {
					if err := d.readRestart(nextRST); err != nil {
						return err
					}
					nextRST = (nextRST + 1) & 7
					todo = d.restart
					for _, c := range sc.comps {
						c.dcPred = 0
					}
					d.eobrun = 0
				}
				todo--
			}
			if err := decode(sc, mx, my, &blk); err != nil {
				return d.entropyError(err)
			}
			if d.br.overrun() {
				return d.entropyError(errInvalid("corrupt JPEG: premature end of entropy-coded data"))
			}
		}
	}
	d.pos = d.br.pos
	return nil
}

// entropyError reports err, or truncation if the data simply ran out.
func (d *jpegDecoder) entropyError(err error) error {
	if d.br.stop && d.br.pos >= len(d.data) {
		return errTruncated()
	}
	return err
}

// readRestart discards buffered bits and consumes the expected RSTn marker.
func (d *jpegDecoder) readRestart(n int) error {
	m, next, ok := d.br.skipToMarker()
	if !ok {
		return errTruncated()
	}
	if m != byte(mRST0+n) {
		return errInvalid("corrupt JPEG: expected restart marker %d, found 0x%02X", n, m)
	}
	d.br.reset(d.data, next)
	return nil
}

func (d *jpegDecoder) parseSOS(seg []byte) (*scanInfo, error) {
	if len(seg) < 1 {
		return nil, errInvalid("corrupt JPEG: short scan header")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return nil, errInvalid("corrupt JPEG: bad scan header")
	}
	sc := &scanInfo{}
	blocks := 0
	for i := 0; i < ns; i++ {
		id, tables := seg[1+2*i], seg[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
				break
			}
		}
		if c == nil {
			return nil, errInvalid("corrupt JPEG: scan names unknown component %d", id)
		}
		for _, o := range sc.comps {
			if o == c {
				return nil, errInvalid("corrupt JPEG: component %d twice in a scan", id)
			}
		}
		c.dcT, c.acT = int(tables>>4), int(tables&15)
		if c.dcT > 3 || c.acT > 3 {
			return nil, errInvalid("corrupt JPEG: bad Huffman table selector")
		}
		sc.comps = append(sc.comps, c)
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return nil, errInvalid("corrupt JPEG: too many blocks in an MCU")
	}
	p := seg[1+2*ns:]
	sc.ss, sc.se, sc.ah, sc.al = int(p[0]), int(p[1]), int(p[2]>>4), int(p[2]&15)
	if d.progressive {
		if err := d.checkProgression(sc); err != nil {
			return nil, err
		}
	}
	for _, c := range sc.comps {
		if !c.seen {
			if !d.quantSet[c.tq] {
				return nil, errInvalid("corrupt JPEG: missing quantization table %d", c.tq)
			}
			c.quant = d.quant[c.tq]
			for k, q := range c.quant {
				// libjpeg-turbo's SIMD build keeps multipliers in 16 bits.
				c.mult[k] = int32(int16(q))
			}
			c.seen = true
		}
		needDC := !d.progressive || (sc.ss == 0 && sc.ah == 0)
		needAC := !d.progressive || sc.ss > 0
		if needDC && (!d.dcTables[c.dcT].defined || !d.dcTables[c.dcT].validDC()) {
			return nil, errInvalid("corrupt JPEG: missing or bad DC Huffman table %d", c.dcT)
		}
		if needAC && !d.acTables[c.acT].defined {
			return nil, errInvalid("corrupt JPEG: missing AC Huffman table %d", c.acT)
		}
	}
	return sc, nil
}

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

// blockAt returns the sample offset of block (bx, by) in c.plane.
func (c *component) blockAt(bx, by int) int { return (by*c.bw*8 + bx) * 8 }

// sequentialMCU decodes one MCU of a baseline or extended sequential scan
// and transforms its blocks straight into the sample planes.
func (d *jpegDecoder) sequentialMCU(sc *scanInfo, mx, my int, blk *[64]int16) error {
	if len(sc.comps) == 1 {
		c := sc.comps[0]
		if err := d.decodeBlock(blk, c); err != nil {
			return err
		}
		idctIslow(blk, &c.mult, c.plane[c.blockAt(mx, my):], c.bw*8)
		return nil
	}
	for _, c := range sc.comps {
		for by := 0; by < c.v; by++ {
			for bx := 0; bx < c.h; bx++ {
				if err := d.decodeBlock(blk, c); err != nil {
					return err
				}
				idctIslow(blk, &c.mult, c.plane[c.blockAt(mx*c.h+bx, my*c.v+by):], c.bw*8)
			}
		}
	}
	return nil
}

// decodeBlock decodes one sequential block into blk (natural order).
func (d *jpegDecoder) decodeBlock(blk *[64]int16, c *component) error {
	*blk = [64]int16{}
	br := &d.br
	s, ok := br.decode(&d.dcTables[c.dcT])
	if !ok {
		return errBadCode
	}
	// libjpeg keeps the predictor in an int and lets it wrap.
	c.dcPred += br.receiveExtend(s)
	blk[0] = int16(c.dcPred)
	ac := &d.acTables[c.acT]
	for k := 1; k < 64; k++ {
		// A code (<= 16 bits) and its value (<= 15 bits) fit in 32 bits.
		if br.n < 32 {
			br.fill()
		}
		rs, ok := br.decodeFilled(ac)
		if !ok {
			return errBadCode
		}
		r, s := rs>>4, uint(rs&15)
		if s == 0 {
			if r != 15 {
				break
			}
			k += 15
			continue
		}
		k += r
		blk[zigzag[k]] = int16(br.extendFilled(s))
	}
	return nil
}

var errBadCode = errInvalid("corrupt JPEG: bad Huffman code")

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
