package vision

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
