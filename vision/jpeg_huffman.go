package vision

// lookBits is how many leading bits the fast Huffman lookup table resolves;
// longer codes fall back to the canonical maxcode walk.
const lookBits = 9

// huffTable is a decoding table derived from a DHT segment the way libjpeg's
// jpeg_make_d_derived_tbl derives it, including its validity checks.
type huffTable struct {
	defined bool
	counts  [17]uint8 // counts[l] = number of codes of length l
	vals    [256]uint8
	nvals   int

	// lut[peek] = length<<8 | symbol for codes of at most lookBits bits; 0 if
	// the code is longer.
	lut       [1 << lookBits]uint16
	maxcode   [18]int32 // largest code of each length, -1 if none
	valoffset [18]int32 // vals index of a length's first code, minus that code
}

// build derives the lookup tables. It fails on counts that overrun the symbol
// table or do not describe a prefix code, as libjpeg does.
func (t *huffTable) build() bool {
	var sizes [257]uint8
	p := 0
	for l := 1; l <= 16; l++ {
		n := int(t.counts[l])
		if p+n > 256 {
			return false
		}
		for ; n > 0; n-- {
			sizes[p] = uint8(l)
			p++
		}
	}
	t.nvals = p
	var codes [256]uint32
	code := uint32(0)
	si := sizes[0]
	for p = 0; sizes[p] != 0; {
		for sizes[p] == si {
			codes[p] = code
			code++
			p++
		}
		// libjpeg rejects a table whose codes do not fit their length,
		// including one that uses the all-ones code.
		if code >= 1<<si {
			return false
		}
		code <<= 1
		si++
	}
	t.lut = [1 << lookBits]uint16{}
	p = 0
	for l := 1; l <= 16; l++ {
		n := int(t.counts[l])
		if n == 0 {
			t.maxcode[l] = -1
			continue
		}
		t.valoffset[l] = int32(p) - int32(codes[p])
		if l <= lookBits {
			for i := 0; i < n; i++ {
				first := codes[p+i] << (lookBits - l)
				entry := uint16(l)<<8 | uint16(t.vals[p+i])
				for j := uint32(0); j < 1<<(lookBits-l); j++ {
					t.lut[first+j] = entry
				}
			}
		}
		p += n
		t.maxcode[l] = int32(codes[p-1])
	}
	t.maxcode[17] = 0x7FFFFFFF
	return true
}

// validDC reports whether every symbol fits a DC table (a bit count <= 15).
func (t *huffTable) validDC() bool {
	for _, v := range t.vals[:t.nvals] {
		if v > 15 {
			return false
		}
	}
	return true
}

// bitReader reads entropy-coded data: it removes 0xFF00 byte stuffing and
// stops at the next marker, after which it supplies zero bits. Those padding
// bits are counted so that consuming any of them is detected (overrun).
type bitReader struct {
	data []byte
	pos  int    // next unread byte
	acc  uint64 // bits, most significant first
	n    int    // valid bits in acc, padding included
	pad  int    // zero bits appended after the data ended
	stop bool   // a marker or the end of data was reached
}

func (br *bitReader) reset(data []byte, pos int) {
	*br = bitReader{data: data, pos: pos}
}

// fill tops acc up to at least 57 bits.
func (br *bitReader) fill() {
	for br.n <= 56 {
		var b byte
		if !br.stop {
			if br.pos >= len(br.data) {
				br.stop = true
			} else if b = br.data[br.pos]; b != 0xFF {
				br.pos++
			} else {
				// 0xFF, then optional 0xFF fill bytes, then 0x00 for a
				// stuffed 0xFF or anything else for a marker.
				q := br.pos + 1
				for q < len(br.data) && br.data[q] == 0xFF {
					q++
				}
				if q < len(br.data) && br.data[q] == 0 {
					br.pos = q + 1
				} else {
					br.stop = true
					br.pos = q - 1 // at the 0xFF that introduces the marker
					if q >= len(br.data) {
						br.pos = len(br.data)
					}
				}
			}
		}
		if br.stop {
			b = 0
			br.pad += 8
		}
		br.acc |= uint64(b) << (56 - br.n)
		br.n += 8
	}
}

// overrun reports whether padding bits past the end of the data were used.
func (br *bitReader) overrun() bool { return br.n < br.pad }

// bits returns the next s (<= 16) bits as an unsigned number.
func (br *bitReader) bits(s int) int32 {
	if br.n < s {
		br.fill()
	}
	v := int32(br.acc >> (64 - s))
	br.acc <<= s
	br.n -= s
	return v
}

func (br *bitReader) bit() bool {
	if br.n < 1 {
		br.fill()
	}
	v := br.acc>>63 != 0
	br.acc <<= 1
	br.n--
	return v
}

// receiveExtend reads an s-bit magnitude category and sign-extends it
// (JPEG F.2.2.1 EXTEND).
func (br *bitReader) receiveExtend(s int) int32 {
	if s == 0 {
		return 0
	}
	v := br.bits(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// extendFilled is receiveExtend for 1 <= s <= 15 when s bits are buffered.
func (br *bitReader) extendFilled(s uint) int32 {
	v := int32(br.acc >> (64 - s))
	br.acc <<= s
	br.n -= int(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// decode reads one Huffman-coded symbol; ok is false for a code that is not
// in the table.
func (br *bitReader) decode(t *huffTable) (sym int, ok bool) {
	if br.n < 16 {
		br.fill()
	}
	return br.decodeFilled(t)
}

// decodeFilled is decode for a caller that made sure 16 bits are buffered.
func (br *bitReader) decodeFilled(t *huffTable) (sym int, ok bool) {
	if e := t.lut[br.acc>>(64-lookBits)]; e != 0 {
		l := e >> 8
		br.acc <<= l
		br.n -= int(l)
		return int(e & 0xFF), true
	}
	return br.decodeLong(t)
}

// decodeLong resolves codes longer than lookBits.
func (br *bitReader) decodeLong(t *huffTable) (sym int, ok bool) {
	peek := int32(br.acc >> 48)
	for l := lookBits + 1; l <= 16; l++ {
		code := peek >> (16 - l)
		if code <= t.maxcode[l] {
			br.acc <<= l
			br.n -= l
			return int(t.vals[(t.valoffset[l]+code)&0xFF]), true
		}
	}
	return 0, false
}

// skipToMarker discards buffered bits and moves to the next marker, skipping
// any bytes before it as libjpeg's next_marker does. It returns the marker
// byte and the position after it, or ok false at the end of the data.
func (br *bitReader) skipToMarker() (marker byte, next int, ok bool) {
	p := br.pos
	for {
		for p < len(br.data) && br.data[p] != 0xFF {
			p++
		}
		for p < len(br.data) && br.data[p] == 0xFF {
			p++
		}
		if p >= len(br.data) {
			return 0, len(br.data), false
		}
		if br.data[p] != 0 {
			return br.data[p], p + 1, true
		}
		p++ // a stuffed 0xFF00 inside leftover data
	}
}
