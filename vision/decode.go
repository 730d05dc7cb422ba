package vision

import (
	"bytes"
	"fmt"

	"github.com/imgrec/imgrec"
)

// DefaultMaxPixels is the default limit on width*height (40 megapixels).
const DefaultMaxPixels = 40_000_000

// Limits bounds what Decode accepts; zero value means defaults.
type Limits struct{ MaxPixels int64 }

func (l Limits) maxPixels() int64 {
	if l.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return l.MaxPixels
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Decode decodes a JPEG (baseline or progressive, Huffman, 8-bit; grayscale,
// YCbCr, RGB, CMYK or YCCK; any integral sampling; with or without restart
// markers) or PNG and converts it to RGB exactly as PIL's
// Image.open(...).convert("RGB") does. The pixel count is checked against the
// limit from the header, before any pixel data is decoded or large buffers
// allocated.
func Decode(data []byte, lim Limits) (*imgrec.Image, error) {
	switch {
	case isJPEG(data):
		return decodeJPEG(data, lim.maxPixels())
	case bytes.HasPrefix(data, pngMagic):
		return decodePNG(data, lim.maxPixels())
	}
	return nil, imgrec.Errorf(imgrec.EINVALID, "not a JPEG or PNG image")
}

// Check reads only the header and refuses what Decode would refuse before
// decoding: anything but a JPEG or PNG header, no pixels, too many pixels
// (ETOOLARGE). A file it accepts may still be corrupt further on.
func Check(data []byte, lim Limits) error {
	_, w, h, err := Config(data)
	if err != nil {
		return err
	}
	return checkSize(w, h, lim.maxPixels())
}

// Config reads only the header: format ("jpeg" or "png"), width, height.
func Config(data []byte) (format string, width, height int, err error) {
	switch {
	case isJPEG(data):
		d := jpegDecoder{data: data}
		if err := d.readHeader(); err != nil {
			return "", 0, 0, err
		}
		return "jpeg", d.width, d.height, nil
	case bytes.HasPrefix(data, pngMagic):
		w, h, err := pngConfig(data)
		if err != nil {
			return "", 0, 0, err
		}
		return "png", w, h, nil
	}
	return "", 0, 0, imgrec.Errorf(imgrec.EINVALID, "not a JPEG or PNG image")
}

func isJPEG(data []byte) bool {
	return len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
}

// checkSize rejects empty images and images over the pixel limit.
func checkSize(w, h int, max int64) error {
	if w <= 0 || h <= 0 {
		return imgrec.Errorf(imgrec.EINVALID, "image has no pixels (%dx%d)", w, h)
	}
	if n := int64(w) * int64(h); n > max {
		return imgrec.Errorf(imgrec.ETOOLARGE, "image is %dx%d = %s Mpx, limit is %s Mpx",
			w, h, mpx(n), mpx(max))
	}
	return nil
}

func mpx(n int64) string { return fmt.Sprintf("%.1f", float64(n)/1e6) }
