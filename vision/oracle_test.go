package vision

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const shared = "../../shared"

type manifest struct {
	Images []struct {
		File          string `json:"file"`
		Width, Height int
		RGBOffset     int `json:"rgb_offset"`
		RGBLen        int `json:"rgb_len"`
	} `json:"images"`
}

func loadManifest(t testing.TB) (manifest, []byte) {
	t.Helper()
	var m manifest
	b, err := os.ReadFile(filepath.Join(shared, "models/manifest.json"))
	if err != nil {
		t.Fatalf("PIL's decoded pixels, the decoder oracle (../shared beside the project): %v", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	rgb, err := os.ReadFile(filepath.Join(shared, "models/pil-rgb.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return m, rgb
}

// TestOracle compares every course image with PIL's decoded bytes.
func TestOracle(t *testing.T) {
	m, rgb := loadManifest(t)
	if len(m.Images) != 100 {
		t.Fatalf("manifest lists %d images, want 100", len(m.Images))
	}
	total, differ := 0, 0
	for _, im := range m.Images {
		data, err := os.ReadFile(filepath.Join(shared, "data/imagenet-100", im.File))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data, Limits{})
		if err != nil {
			t.Errorf("%s: %v", im.File, err)
			continue
		}
		want := rgb[im.RGBOffset : im.RGBOffset+im.RGBLen]
		if got.Width != im.Width || got.Height != im.Height || len(got.Pix) != len(want) {
			t.Errorf("%s: got %dx%d, want %dx%d", im.File, got.Width, got.Height, im.Width, im.Height)
			continue
		}
		n := 0
		for i := range want {
			if got.Pix[i] != want[i] {
				n++
			}
		}
		total += len(want)
		differ += n
		if n > 0 {
			t.Errorf("%s: %d of %d bytes differ from PIL", im.File, n, len(want))
		}
	}
	t.Logf("%d of %d bytes differ from PIL over %d images", differ, total, len(m.Images))
}
