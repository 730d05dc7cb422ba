package worker

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// largePNG is a 1200×1200 gradient: small to store, a second or more of work.
func largePNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1200, 1200))
	for y := range 1200 {
		for x := range 1200 {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(x), byte(y), byte(x+y), 255
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
