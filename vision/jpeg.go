package vision

import (
	"github.com/imgrec/imgrec"
)

// JPEG markers that the decoder acts on.
const (
	mSOF0  = 0xC0 // baseline
	mSOF1  = 0xC1 // extended sequential, Huffman
	mSOF2  = 0xC2 // progressive, Huffman
	mDHT   = 0xC4
	mDAC   = 0xCC
	mRST0  = 0xD0
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDQT   = 0xDB
	mDRI   = 0xDD
	mAPP0  = 0xE0
	mAPP14 = 0xEE
)

// maxScans bounds the work a small hostile progressive file can cause: each
// scan may touch every block of the image.
const maxScans = 1000

// component is one colour component of the frame.
type component struct {
	id     byte
	h, v   int        // sampling factors
	tq     int        // quantisation table selector
	quant  [64]uint16 // latched when the component first appears in a scan
	mult   [64]int32  // IDCT multipliers derived from quant
	sv     int        // vertical sampling factor as the frame header gives it
	bw, bh int        // blocks per row and column, padded to whole MCUs
	wib    int        // blocks per row that hold image data (width_in_blocks)
	hib    int        // blocks per column that hold image data
	dw, dh int        // samples per row and column that hold image data

	plane []byte  // bw*8 x bh*8 samples after the IDCT
	coefs []int16 // progressive only: bw*bh blocks of 64 coefficients

	dcPred   int32
	dcT, acT int
	coefBits [64]int8 // progressive: lowest bit known per coefficient, -1 none
	seen     bool     // appeared in a scan
	up       upsampler
}

type jpegDecoder struct {
	data []byte
	pos  int

	width, height int
	progressive   bool
	comps         []component
	hmax, vmax    int
	mcusX, mcusY  int

	quant     [4][64]uint16 // natural order
	iMCURows  int           // MCU rows of the frame as libjpeg counts them
	quantSet  [4]bool
	dcTables  [4]huffTable
	acTables  [4]huffTable
	restart   int
	jfif      bool
	adobe     bool
	transform byte

	scans  int
	eobrun int
	// spectral band and bit position of the current progressive scan
	scanSs, scanSe, scanAl int
	br                     bitReader
}

func errInvalid(format string, args ...any) error {
	return imgrec.Errorf(imgrec.EINVALID, format, args...)
}

func errTruncated() error {
	return errInvalid("truncated JPEG: data ends before the image is complete")
}

// nextMarker reads the marker at pos, skipping stray bytes before it as
// libjpeg does.
func (d *jpegDecoder) nextMarker() (byte, error) {
	for {
		for d.pos < len(d.data) && d.data[d.pos] != 0xFF {
			d.pos++
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(d.data) {
			return 0, errTruncated()
		}
		m := d.data[d.pos]
		d.pos++
		if m != 0 {
			return m, nil
		}
	}
}

// segment returns the payload of the marker segment at pos and moves past it.
func (d *jpegDecoder) segment() ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, errTruncated()
	}
	n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if n < 2 {
		return nil, errInvalid("corrupt JPEG: bad marker length")
	}
	if d.pos+n > len(d.data) {
		return nil, errTruncated()
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

// readHeader parses markers up to and including the frame header (SOF).
func (d *jpegDecoder) readHeader() error {
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case m == mSOF0 || m == mSOF1 || m == mSOF2:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			return d.parseSOF(seg, m == mSOF2)
		case m == 0xC3 || (m >= 0xC5 && m <= 0xC7):
			return errInvalid("unsupported JPEG: lossless or hierarchical coding")
		case m >= 0xC9 && m <= 0xCF && m != mDAC:
			return errInvalid("unsupported JPEG: arithmetic coding")
		case m == mEOI || m == mSOS:
			return errInvalid("corrupt JPEG: no frame header")
		}
		if err := d.tableOrSkip(m); err != nil {
			return err
		}
	}
}

// tableOrSkip handles a marker that may appear between frame and scans.
func (d *jpegDecoder) tableOrSkip(m byte) error {
	if m == mSOI || (m >= mRST0 && m < mRST0+8) || m == 0x01 {
		return nil // standalone markers without a length
	}
	seg, err := d.segment()
	if err != nil {
		return err
	}
	switch m {
	case mDHT:
		return d.parseDHT(seg)
	case mDQT:
		return d.parseDQT(seg)
	case mDRI:
		if len(seg) != 2 {
			return errInvalid("corrupt JPEG: bad DRI length")
		}
		d.restart = int(seg[0])<<8 | int(seg[1])
	case mAPP0:
		if len(seg) >= 14 && string(seg[:5]) == "JFIF\x00" {
			d.jfif = true
		}
	case mAPP14:
		if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
			d.adobe = true
			d.transform = seg[11]
		}
	case mDAC:
		return errInvalid("unsupported JPEG: arithmetic coding")
	}
	return nil
}

func (d *jpegDecoder) parseSOF(seg []byte, progressive bool) error {
	if len(seg) < 6 {
		return errInvalid("corrupt JPEG: short frame header")
	}
	if seg[0] != 8 {
		return errInvalid("unsupported JPEG: %d-bit samples", seg[0])
	}
	d.progressive = progressive
	d.height = int(seg[1])<<8 | int(seg[2])
	d.width = int(seg[3])<<8 | int(seg[4])
	if d.height == 0 {
		return errInvalid("unsupported JPEG: height defined by a DNL marker")
	}
	if d.width == 0 {
		return errInvalid("corrupt JPEG: zero width")
	}
	nc := int(seg[5])
	if nc != 1 && nc != 3 && nc != 4 {
		return errInvalid("unsupported JPEG: %d components", nc)
	}
	if len(seg) != 6+3*nc {
		return errInvalid("corrupt JPEG: bad frame header length")
	}
	d.comps = make([]component, nc)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		b := seg[6+3*i:]
		c.id, c.h, c.v, c.tq = b[0], int(b[1]>>4), int(b[1]&15), int(b[2])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return errInvalid("corrupt JPEG: bad sampling factors")
		}
		if c.tq > 3 {
			return errInvalid("corrupt JPEG: bad quantization table selector")
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	return nil
}

func (d *jpegDecoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return errInvalid("corrupt JPEG: bad quantization table")
		}
		n := 65
		if pq == 1 {
			n = 129
		}
		if len(seg) < n {
			return errInvalid("corrupt JPEG: short quantization table")
		}
		for k := 0; k < 64; k++ {
			q := uint16(seg[1+k])
			if pq == 1 {
				q = uint16(seg[1+2*k])<<8 | uint16(seg[2+2*k])
			}
			d.quant[tq][zigzag[k]] = q
		}
		d.quantSet[tq] = true
		seg = seg[n:]
	}
	return nil
}

func (d *jpegDecoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errInvalid("corrupt JPEG: short Huffman table")
		}
		class, th := seg[0]>>4, int(seg[0]&15)
		if class > 1 || th > 3 {
			return errInvalid("corrupt JPEG: bad Huffman table index")
		}
		t := &d.dcTables[th]
		if class == 1 {
			t = &d.acTables[th]
		}
		total := 0
		for l := 1; l <= 16; l++ {
			t.counts[l] = seg[l]
			total += int(seg[l])
		}
		if total > 256 || len(seg) < 17+total {
			return errInvalid("corrupt JPEG: bad Huffman table")
		}
		t.vals = [256]uint8{}
		copy(t.vals[:], seg[17:17+total])
		if !t.build() {
			return errInvalid("corrupt JPEG: bad Huffman table")
		}
		t.defined = true
		seg = seg[17+total:]
	}
	return nil
}

// decodeJPEG decodes a whole JPEG file to RGB.
func decodeJPEG(data []byte, maxPixels int64) (*imgrec.Image, error) {
	d := &jpegDecoder{data: data}
	if err := d.readHeader(); err != nil {
		return nil, err
	}
	if err := checkSize(d.width, d.height, maxPixels); err != nil {
		return nil, err
	}
	if err := d.setupFrame(); err != nil {
		return nil, err
	}
	if err := d.readScans(); err != nil {
		return nil, err
	}
	if d.progressive {
		d.finishProgressive()
	}
	return d.toRGB(), nil
}

// setupFrame sizes the components and allocates their sample planes once the
// image size has passed the limit.
func (d *jpegDecoder) setupFrame() error {
	d.mcusX = ceilDiv(d.width, 8*d.hmax)
	d.mcusY = ceilDiv(d.height, 8*d.vmax)
	d.iMCURows = d.mcusY
	for i := range d.comps {
		d.comps[i].sv = d.comps[i].v
	}
	if len(d.comps) == 1 {
		// A single-component frame is never interleaved: one block per MCU.
		d.hmax, d.vmax = 1, 1
		c := &d.comps[0]
		c.h, c.v = 1, 1
		d.mcusX, d.mcusY = ceilDiv(d.width, 8), ceilDiv(d.height, 8)
	}
	total := 0
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return errInvalid("unsupported JPEG: fractional sampling factors")
		}
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		c.dw = ceilDiv(d.width*c.h, d.hmax)
		c.dh = ceilDiv(d.height*c.v, d.vmax)
		c.wib, c.hib = ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
		total += c.bw * c.bh * 64
	}
	samples := make([]byte, total)
	for i := range d.comps {
		c := &d.comps[i]
		n := c.bw * c.bh * 64
		c.plane, samples = samples[:n:n], samples[n:]
		if d.progressive {
			c.coefs = make([]int16, n)
			for k := range c.coefBits {
				c.coefBits[k] = -1
			}
		}
		c.up = chooseUpsampler(d.hmax/c.h, d.vmax/c.v, c.dw)
	}
	return nil
}

// readScans decodes every scan up to EOI.
func (d *jpegDecoder) readScans() error {
	for {
		m, err := d.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			if d.scans == 0 {
				return errInvalid("corrupt JPEG: no image data")
			}
			for i := range d.comps {
				if !d.comps[i].seen {
					return errInvalid("corrupt JPEG: component %d has no data", i)
				}
			}
			return nil
		case m == mSOS:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			if d.scans++; d.scans > maxScans {
				return errInvalid("unsupported JPEG: more than %d scans", maxScans)
			}
			if err := d.scan(seg); err != nil {
				return err
			}
		case m >= 0xC0 && m <= 0xCF && m != mDHT && m != mDAC:
			return errInvalid("corrupt JPEG: more than one frame")
		default:
			if err := d.tableOrSkip(m); err != nil {
				return err
			}
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
