package vision

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgrec/imgrec"
)

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]Profile{"": ProfileReference, "reference": ProfileReference, "imagenet": ProfileImageNet} {
		if got, err := ParseProfile(in); err != nil || got != want {
			t.Errorf("ParseProfile(%q) = %q, %v", in, got, err)
		}
	}
	_, err := ParseProfile("ImageNet")
	wantCode(t, err, imgrec.EINVALID, "valid: reference, imagenet")
}

func TestReferenceTensor(t *testing.T) {
	img := &imgrec.Image{Width: 86, Height: 1, Pix: make([]byte, 258)}
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	data, h, w := ProfileReference.Tensor(img)
	if h != 1 || w != 86 || len(data) != 258 {
		t.Fatalf("got %dx%d, %d values", w, h, len(data))
	}
	for i, v := range data {
		if want := float32(img.Pix[i]) / 255; v != want {
			t.Fatalf("value %d = %v, want %v", i, v, want)
		}
	}
}

// syntheticImage is the pattern gen.py's synthetic() draws.
func syntheticImage(w, h int) *imgrec.Image {
	img := &imgrec.Image{Width: w, Height: h, Pix: make([]byte, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := img.Pix[(y*w+x)*3:]
			p[0] = byte(x * 255 / (w - 1))
			p[1] = byte(y * 255 / (h - 1))
			p[2] = byte((x/7+y/5)%2*200 + (x+y)%50)
		}
	}
	return img
}

// TestImageNetProfile compares Resize(256)+CenterCrop(224) with PIL's bytes
// (upscaling a JPEG fixture, downscaling with antialiasing a synthetic
// image) and the normalised values with a float64 evaluation.
func TestImageNetProfile(t *testing.T) {
	odd, err := os.ReadFile(filepath.Join("testdata", "odd-2x2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	oddImg, err := Decode(odd, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref string
		img *imgrec.Image
	}{
		{"profile-odd-2x2.png", oddImg},
		{"profile-synthetic-701x300.png", syntheticImage(701, 300)},
	} {
		want := readRGB(t, filepath.Join("testdata", tc.ref))
		crop := imagenetCrop(tc.img)
		n := 0
		for i := range want.Pix {
			if crop.Pix[i] != want.Pix[i] {
				n++
			}
		}
		if n > 0 {
			t.Errorf("%s: %d of %d resized bytes differ from PIL", tc.ref, n, len(want.Pix))
		}
		data, h, w := ProfileImageNet.Tensor(tc.img)
		if h != 224 || w != 224 || len(data) != 224*224*3 {
			t.Fatalf("%s: got %dx%d, %d values", tc.ref, w, h, len(data))
		}
		mean := []float64{0.485, 0.456, 0.406}
		std := []float64{0.229, 0.224, 0.225}
		maxErr := 0.0
		for i, v := range data {
			c := i % 3
			exact := (float64(want.Pix[i])/255 - mean[c]) / std[c]
			maxErr = max(maxErr, math.Abs(float64(v)-exact))
		}
		if maxErr > 1e-6 {
			t.Errorf("%s: max error %g against float64 normalisation", tc.ref, maxErr)
		}
	}
}

func TestResizeIdentity(t *testing.T) {
	img := syntheticImage(256, 300)
	crop := imagenetCrop(img)
	for y := 0; y < 224; y++ {
		for x := 0; x < 224*3; x++ {
			if crop.Pix[y*224*3+x] != img.Pix[((y+38)*256+16)*3+x] {
				t.Fatalf("crop of an image already 256 wide is not a plain crop at y=%d", y)
			}
		}
	}
}
