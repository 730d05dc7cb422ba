package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/imgrec/imgrec"
)

func pngConfig(data []byte) (w, h int, err error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, pngError(data, err)
	}
	return cfg.Width, cfg.Height, nil
}

func pngError(data []byte, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Contains(data, []byte("IEND")) {
		return imgrec.WrapError(imgrec.EINVALID, err, "truncated PNG")
	}
	return imgrec.WrapError(imgrec.EINVALID, err, "bad PNG")
}

// decodePNG decodes with image/png and converts to RGB as PIL's
// convert("RGB") does for the mode PIL opens each PNG kind in.
func decodePNG(data []byte, maxPixels int64) (*imgrec.Image, error) {
	w, h, err := pngConfig(data)
	if err != nil {
		return nil, err
	}
	if err := checkSize(w, h, maxPixels); err != nil {
		return nil, err
	}
	m, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, pngError(data, err)
	}
	img := &imgrec.Image{Width: w, Height: h, Pix: make([]byte, w*h*3)}
	out := img.Pix
	// 16-bit grayscale opens in PIL as mode "I", whose conversion clips the
	// value to 0..255; every other 16-bit kind keeps the high byte.
	gray16 := data[24] == 16 && data[25] == 0
	var pal [256][3]byte
	if p, ok := m.(*image.Paletted); ok {
		pal = paletteRGB(p.Palette, plteEntries(data))
	}
	for y := 0; y < h; y++ {
		o := out[y*w*3 : (y+1)*w*3]
		switch m := m.(type) {
		case *image.Gray:
			grayRow(m.Pix[y*m.Stride:y*m.Stride+w], o)
		case *image.RGBA:
			rgbaRow(m.Pix[y*m.Stride:y*m.Stride+4*w], o)
		case *image.NRGBA:
			rgbaRow(m.Pix[y*m.Stride:y*m.Stride+4*w], o)
		case *image.Gray16:
			row16(m.Pix[y*m.Stride:y*m.Stride+2*w], 2, gray16, o)
		case *image.RGBA64:
			row16(m.Pix[y*m.Stride:y*m.Stride+8*w], 8, gray16, o)
		case *image.NRGBA64:
			row16(m.Pix[y*m.Stride:y*m.Stride+8*w], 8, gray16, o)
		case *image.Paletted:
			palettedRow(m.Pix[y*m.Stride:y*m.Stride+w], &pal, o)
		default:
			return nil, imgrec.Errorf(imgrec.EINTERNAL, "unexpected PNG image type %T", m)
		}
	}
	return img, nil
}

func rgbaRow(in, out []byte) {
	for x := 0; x < len(in)/4; x++ {
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0], o[1], o[2] = in[4*x], in[4*x+1], in[4*x+2]
	}
}

// row16 converts big-endian 16-bit samples, step bytes per pixel, with the
// gray (first) channel replicated when the pixel has a single channel.
func row16(in []byte, step int, clip bool, out []byte) {
	for x := 0; x < len(in)/step; x++ {
		p := in[x*step:]
		o := out[3*x : 3*x+3 : 3*x+3]
		if clip {
			v := byte(min(binary.BigEndian.Uint16(p), 255))
			o[0], o[1], o[2] = v, v, v
			continue
		}
		if step == 2 {
			o[0], o[1], o[2] = p[0], p[0], p[0]
			continue
		}
		o[0], o[1], o[2] = p[0], p[2], p[4]
	}
}

// paletteRGB returns the RGB of each palette index. PIL maps indices the
// PLTE chunk does not define to its default grey ramp (i, i, i).
func paletteRGB(p color.Palette, defined int) (rgb [256][3]byte) {
	for i := range rgb {
		if i >= defined || i >= len(p) {
			rgb[i] = [3]byte{byte(i), byte(i), byte(i)}
			continue
		}
		c := color.NRGBAModel.Convert(p[i]).(color.NRGBA)
		rgb[i] = [3]byte{c.R, c.G, c.B}
	}
	return rgb
}

func palettedRow(in []byte, pal *[256][3]byte, out []byte) {
	for x, idx := range in {
		copy(out[3*x:3*x+3], pal[idx][:])
	}
}

// plteEntries returns the number of colours in the PLTE chunk.
func plteEntries(data []byte) int {
	for p := 8; p+8 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		if typ == "PLTE" {
			return n / 3
		}
		if typ == "IDAT" || n < 0 || n > len(data) {
			break
		}
		p += 12 + n
	}
	return 0
}
