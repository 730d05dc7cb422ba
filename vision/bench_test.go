package vision

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

func courseImages(b *testing.B) [][]byte {
	m, _ := loadManifest(b)
	var files [][]byte
	for _, im := range m.Images {
		data, err := os.ReadFile(filepath.Join(shared, "data/imagenet-100", im.File))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
	}
	return files
}

// BenchmarkDecode decodes the 100 course images; ns/op is per image. The
// image-jpeg sub-benchmark is the peer: Go's image/jpeg on the same files,
// then converted to packed RGB as Decode returns it (image/jpeg stops at
// planar YCbCr), so both do the same work.
func BenchmarkDecode(b *testing.B) {
	files := courseImages(b)
	b.Run("vision", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := Decode(files[i%len(files)], Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			stdlibDecode(b, files[i%len(files)])
		}
	})
}

// BenchmarkDecodeLarge decodes the 250x150 fixtures (baseline, progressive).
func BenchmarkDecodeLarge(b *testing.B) {
	for _, name := range []string{"big-420.jpg", "big-prog-420.jpg"} {
		data := readFixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(data, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/image-jpeg", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				stdlibDecode(b, data)
			}
		})
	}
}

// stdlibDecode is the peer of Decode: image/jpeg, then packed RGB.
func stdlibDecode(b *testing.B, data []byte) []byte {
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return packedRGB(m)
}

// packedRGB converts what image/jpeg returns to RGB, 3 bytes a pixel, row
// after row, with the standard library's own conversion. image/jpeg's
// images start at (0, 0).
func packedRGB(m image.Image) []byte {
	w, h := m.Bounds().Dx(), m.Bounds().Dy()
	pix := make([]byte, w*h*3)
	out := pix
	switch m := m.(type) {
	case *image.YCbCr:
		hs, vs := chromaShift(m.SubsampleRatio)
		for y := range h {
			c := (y >> vs) * m.CStride
			cb, cr := m.Cb[c:], m.Cr[c:]
			for x, l := range m.Y[y*m.YStride:][:w] {
				out[0], out[1], out[2] = color.YCbCrToRGB(l, cb[x>>hs], cr[x>>hs])
				out = out[3:]
			}
		}
	case *image.Gray:
		for y := range h {
			for _, v := range m.Pix[y*m.Stride:][:w] {
				out[0], out[1], out[2] = v, v, v
				out = out[3:]
			}
		}
	default: // CMYK: rare enough to take the slow, general way
		for y := range h {
			for x := range w {
				c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
				out[0], out[1], out[2] = c.R, c.G, c.B
				out = out[3:]
			}
		}
	}
	return pix
}

// TestPackedRGB: the peer's conversion gives every pixel the standard
// library's RGB for it, whatever the chroma subsampling.
func TestPackedRGB(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jpg")
	ratios := map[image.YCbCrSubsampleRatio]bool{}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		m, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			continue // image/jpeg refuses some of the fixtures (arithmetic coding, odd sampling)
		}
		pix := packedRGB(m)
		if yc, ok := m.(*image.YCbCr); ok {
			ratios[yc.SubsampleRatio] = true
		}
		w := m.Bounds().Dx()
		for y := range m.Bounds().Dy() {
			for x := range w {
				var want [3]byte
				switch m := m.(type) {
				case *image.YCbCr:
					c := m.YCbCrAt(x, y)
					want[0], want[1], want[2] = color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				default:
					c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
					want = [3]byte{c.R, c.G, c.B}
				}
				if got := [3]byte(pix[(y*w+x)*3:]); got != want {
					t.Fatalf("%s (%T): pixel (%d,%d) = %v, want %v", f, m, x, y, got, want)
				}
			}
		}
	}
	if len(ratios) < 6 {
		t.Fatalf("only subsample ratios %v among the fixtures; the test wants all six image/jpeg produces", ratios)
	}
}

// chromaShift is how far a subsample ratio shifts x and y to find the
// chroma sample of a pixel.
func chromaShift(r image.YCbCrSubsampleRatio) (hs, vs int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 1, 0
	case image.YCbCrSubsampleRatio420:
		return 1, 1
	case image.YCbCrSubsampleRatio440:
		return 0, 1
	case image.YCbCrSubsampleRatio411:
		return 2, 0
	case image.YCbCrSubsampleRatio410:
		return 2, 1
	}
	return 0, 0
}

func BenchmarkImageNetTensor(b *testing.B) {
	files := courseImages(b)
	img, err := Decode(files[0], Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ProfileImageNet.Tensor(img)
	}
}
