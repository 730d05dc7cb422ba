package vision

// Fixed-point constants of libjpeg's accurate integer IDCT (jidctint.c):
// FIX(x) = round(x * 2^13).
const (
	idctConstBits = 13
	idctPass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// idctIslow dequantises a block of coefficients (natural order), applies
// libjpeg's ISLOW inverse DCT with exactly its rounding and writes the 8x8
// samples to dst (rows stride bytes apart).
//
// The result is clamped to 0..255. libjpeg's C code wraps values far out of
// range through a 1024-entry table, but the SIMD code PIL actually runs on
// x86 saturates; both agree on every value a valid image produces.
func idctIslow(blk *[64]int16, q *[64]int32, dst []byte, stride int) {
	var ws [64]int32
	for col := 0; col < 8; col++ {
		in1, in2, in3, in4 := blk[8+col], blk[16+col], blk[24+col], blk[32+col]
		in5, in6, in7 := blk[40+col], blk[48+col], blk[56+col]
		if in1|in2|in3|in4|in5|in6|in7 == 0 {
			dc := int32(blk[col]) * q[col] << idctPass1Bits
			for r := 0; r < 8; r++ {
				ws[r*8+col] = dc
			}
			continue
		}
		// Even part.
		z2 := int32(in2) * q[16+col]
		z3 := int32(in6) * q[48+col]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		z2 = int32(blk[col]) * q[col]
		z3 = int32(in4) * q[32+col]
		tmp0 := (z2 + z3) << idctConstBits
		tmp1 := (z2 - z3) << idctConstBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

		// Odd part.
		tmp0 = int32(in7) * q[56+col]
		tmp1 = int32(in5) * q[40+col]
		tmp2 = int32(in3) * q[24+col]
		tmp3 = int32(in1) * q[8+col]
		tmp0, tmp1, tmp2, tmp3 = oddPart(tmp0, tmp1, tmp2, tmp3)

		const sh = idctConstBits - idctPass1Bits
		const round = 1 << (sh - 1)
		ws[0*8+col] = (tmp10 + tmp3 + round) >> sh
		ws[7*8+col] = (tmp10 - tmp3 + round) >> sh
		ws[1*8+col] = (tmp11 + tmp2 + round) >> sh
		ws[6*8+col] = (tmp11 - tmp2 + round) >> sh
		ws[2*8+col] = (tmp12 + tmp1 + round) >> sh
		ws[5*8+col] = (tmp12 - tmp1 + round) >> sh
		ws[3*8+col] = (tmp13 + tmp0 + round) >> sh
		ws[4*8+col] = (tmp13 - tmp0 + round) >> sh
	}

	for row := 0; row < 8; row++ {
		w := (*[8]int32)(ws[row*8 : row*8+8])
		out := dst[row*stride : row*stride+8 : row*stride+8]
		if w[1]|w[2]|w[3]|w[4]|w[5]|w[6]|w[7] == 0 {
			v := clampSample((w[0] + 1<<(idctPass1Bits+2)) >> (idctPass1Bits + 3))
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2, z3 := w[2], w[6]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		tmp0 := (w[0] + w[4]) << idctConstBits
		tmp1 := (w[0] - w[4]) << idctConstBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

		tmp0, tmp1, tmp2, tmp3 = oddPart(w[7], w[5], w[3], w[1])

		const sh = idctConstBits + idctPass1Bits + 3
		const round = 1 << (sh - 1)
		out[0] = clampSample((tmp10 + tmp3 + round) >> sh)
		out[7] = clampSample((tmp10 - tmp3 + round) >> sh)
		out[1] = clampSample((tmp11 + tmp2 + round) >> sh)
		out[6] = clampSample((tmp11 - tmp2 + round) >> sh)
		out[2] = clampSample((tmp12 + tmp1 + round) >> sh)
		out[5] = clampSample((tmp12 - tmp1 + round) >> sh)
		out[3] = clampSample((tmp13 + tmp0 + round) >> sh)
		out[4] = clampSample((tmp13 - tmp0 + round) >> sh)
	}
}

// oddPart is the odd half of the 8-point IDCT butterfly (libjpeg's
// "figure 8"); inputs are the coefficients at positions 7, 5, 3, 1.
func oddPart(tmp0, tmp1, tmp2, tmp3 int32) (int32, int32, int32, int32) {
	z1 := tmp0 + tmp3
	z2 := tmp1 + tmp2
	z3 := tmp0 + tmp2
	z4 := tmp1 + tmp3
	z5 := (z3 + z4) * fix1_175875602

	tmp0 *= fix0_298631336
	tmp1 *= fix2_053119869
	tmp2 *= fix3_072711026
	tmp3 *= fix1_501321110
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 = z3*-fix1_961570560 + z5
	z4 = z4*-fix0_390180644 + z5

	return tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
}

// clampSample adds the +128 level shift and saturates to a byte.
func clampSample(x int32) byte {
	x += 128
	if uint32(x) > 255 {
		if x < 0 {
			return 0
		}
		return 255
	}
	return byte(x)
}
