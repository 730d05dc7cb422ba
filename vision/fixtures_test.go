package vision

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgrec/imgrec"
)

// fixtures lists the images in testdata that have a PIL reference.
func fixtures(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, pat := range []string{"*.jpg", "png-*.png"} {
		m, err := filepath.Glob(filepath.Join("testdata", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			n := filepath.Base(p)
			if !strings.HasPrefix(n, "err-") && !strings.HasSuffix(n, ".rgb.png") {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	return names
}

// readRGB reads an RGB PNG written by gen.py into interleaved bytes.
func readRGB(t testing.TB, path string) *imgrec.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rgba, ok := m.(*image.RGBA)
	if !ok {
		t.Fatalf("%s: %T, want an 8-bit RGB PNG", path, m)
	}
	w, h := rgba.Rect.Dx(), rgba.Rect.Dy()
	img := &imgrec.Image{Width: w, Height: h, Pix: make([]byte, 3*w*h)}
	for y := 0; y < h; y++ {
		rgbaRow(rgba.Pix[y*rgba.Stride:y*rgba.Stride+4*w], img.Pix[3*w*y:])
	}
	return img
}

// reference returns PIL's decoding of fixture name.
func reference(t testing.TB, name string) *imgrec.Image {
	t.Helper()
	ref := filepath.Join("testdata", name+".rgb.png")
	if same, err := os.ReadFile(filepath.Join("testdata", name+".same")); err == nil {
		ref = filepath.Join("testdata", strings.TrimSpace(string(same)))
	}
	return readRGB(t, ref)
}

func TestFixtures(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			want := reference(t, name)
			got, err := Decode(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Width != want.Width || got.Height != want.Height {
				t.Fatalf("got %dx%d, want %dx%d", got.Width, got.Height, want.Width, want.Height)
			}
			n, first := 0, -1
			for i := range want.Pix {
				if got.Pix[i] != want.Pix[i] {
					if first < 0 {
						first = i
					}
					n++
				}
			}
			if n > 0 {
				p := first / 3
				t.Errorf("%d of %d bytes differ from PIL; first at x=%d y=%d channel %d: got %d, want %d",
					n, len(want.Pix), p%want.Width, p/want.Width, first%3, got.Pix[first], want.Pix[first])
			}
			wantFormat := "png"
			if strings.HasSuffix(name, ".jpg") {
				wantFormat = "jpeg"
			}
			format, w, h, err := Config(data)
			if err != nil || w != want.Width || h != want.Height || format != wantFormat {
				t.Errorf("Config = %q %dx%d %v", format, w, h, err)
			}
		})
	}
}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *imgrec.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *imgrec.Error", err, err)
	}
	if e.Code != code || !strings.Contains(e.Error(), msg) {
		t.Fatalf("error %q code %s, want code %s containing %q", e.Error(), e.Code, code, msg)
	}
}
