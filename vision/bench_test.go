package vision

import (
	"bytes"
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
// stdlib sub-benchmark runs Go's image/jpeg on the same files as the peer.
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
			if _, err := jpeg.Decode(bytes.NewReader(files[i%len(files)])); err != nil {
				b.Fatal(err)
			}
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
				if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
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
