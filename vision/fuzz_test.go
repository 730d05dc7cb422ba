package vision

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgrec/imgrec"
)

// FuzzDecode checks that no input panics, every error is an *imgrec.Error
// and every decoded image is consistent with its header.
func FuzzDecode(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.jpg"))
	pngs, _ := filepath.Glob(filepath.Join("testdata", "png-*.png"))
	for _, p := range append(names, pngs...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:len(data)-2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small limit keeps each run fast; the limit is checked before
		// any pixel buffer exists.
		img, err := Decode(data, Limits{MaxPixels: 1 << 20})
		if err != nil {
			var e *imgrec.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *imgrec.Error", err, err)
			}
			return
		}
		if len(img.Pix) != img.Width*img.Height*3 {
			t.Fatalf("%dx%d image with %d bytes", img.Width, img.Height, len(img.Pix))
		}
		_, w, h, err := Config(data)
		if err != nil || w != img.Width || h != img.Height {
			t.Fatalf("Config = %dx%d, %v; Decode gave %dx%d", w, h, err, img.Width, img.Height)
		}
	})
}
