package vision

import "github.com/imgrec/imgrec"

// libjpeg's YCbCr->RGB tables (jdcolor.c build_ycc_rgb_table), 16-bit fixed
// point: R = Y + crR[Cr], B = Y + cbB[Cb], G = Y + (cbG[Cb]+crG[Cr])>>16.
var crR, cbB, crG, cbG [256]int32

func init() {
	const half = 1 << 15
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (91881*x + half) >> 16  // FIX(1.40200)
		cbB[i] = (116130*x + half) >> 16 // FIX(1.77200)
		crG[i] = -46802 * x              // FIX(0.71414)
		cbG[i] = -22554*x + half         // FIX(0.34414), rounding folded in
	}
}

func clamp8(x int32) byte {
	if uint32(x) > 255 {
		if x < 0 {
			return 0
		}
		return 255
	}
	return byte(x)
}

// colorSpace is what the components hold, guessed as libjpeg's
// default_decompress_parms guesses it.
func (d *jpegDecoder) colorSpace() string {
	switch len(d.comps) {
	case 1:
		return "gray"
	case 3:
		switch {
		case d.jfif:
			return "ycbcr"
		case d.adobe:
			if d.transform == 0 {
				return "rgb"
			}
			return "ycbcr"
		case d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B':
			return "rgb"
		}
		return "ycbcr"
	}
	if d.adobe && d.transform != 0 {
		return "ycck"
	}
	return "cmyk"
}

// toRGB upsamples the components and converts them to interleaved RGB.
func (d *jpegDecoder) toRGB() *imgrec.Image {
	w, h := d.width, d.height
	img := &imgrec.Image{Width: w, Height: h, Pix: make([]byte, w*h*3)}
	nc := len(d.comps)
	maxDW := 0
	for i := range d.comps {
		maxDW = max(maxDW, d.comps[i].dw)
	}
	bufLen := 2*maxDW + 4
	scratch := make([]byte, nc*bufLen)
	cs := make([]int32, maxDW)
	var rows [4][]byte
	space := d.colorSpace()
	for y := 0; y < h; y++ {
		for i := range d.comps {
			rows[i] = d.comps[i].row(y, w, scratch[i*bufLen:(i+1)*bufLen], cs)[:w]
		}
		out := img.Pix[y*w*3 : (y+1)*w*3]
		switch space {
		case "gray":
			grayRow(rows[0], out)
		case "rgb":
			rgbRow(rows[0], rows[1], rows[2], out)
		case "ycbcr":
			yccRow(rows[0], rows[1], rows[2], out)
		case "cmyk", "ycck":
			cmykRow(rows[0], rows[1], rows[2], rows[3], space == "ycck", out)
		}
	}
	return img
}

func grayRow(g, out []byte) {
	for x, v := range g {
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0], o[1], o[2] = v, v, v
	}
}

func rgbRow(r, g, b, out []byte) {
	for x := range r {
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0], o[1], o[2] = r[x], g[x], b[x]
	}
}

func yccRow(yy, cb, cr, out []byte) {
	cb, cr = cb[:len(yy)], cr[:len(yy)]
	for x := range yy {
		y := int32(yy[x])
		b, r := cb[x], cr[x]
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0] = clamp8(y + crR[r])
		o[1] = clamp8(y + (cbG[b]+crG[r])>>16)
		o[2] = clamp8(y + cbB[b])
	}
}

// cmykRow converts libjpeg's CMYK (or YCCK, converted to CMYK first as
// jdcolor.c does) the way PIL does: it reads JPEG CMYK as Adobe-inverted
// ("CMYK;I") and convert("RGB") computes each channel as
// (255-k) - c*(255-k)/255 with its MULDIV255 rounding.
func cmykRow(c0, c1, c2, k []byte, ycck bool, out []byte) {
	for x := range c0 {
		c, m, yl := c0[x], c1[x], c2[x]
		if ycck {
			y := int32(c)
			cb, cr := c1[x], c2[x]
			c = 255 - clamp8(y+crR[cr])
			m = 255 - clamp8(y+(cbG[cb]+crG[cr])>>16)
			yl = 255 - clamp8(y+cbB[cb])
		}
		// PIL inverts all four channels; its 255-k is then k again.
		c, m, yl = 255-c, 255-m, 255-yl
		nk := int32(k[x])
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0] = clamp8(nk - mulDiv255(int32(c), nk))
		o[1] = clamp8(nk - mulDiv255(int32(m), nk))
		o[2] = clamp8(nk - mulDiv255(int32(yl), nk))
	}
}

// mulDiv255 is PIL's rounded a*b/255.
func mulDiv255(a, b int32) int32 {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}
