package vision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgrec/imgrec"
)

// TestCheck: the header alone refuses non-images and oversized images, and
// lets a file that is only broken further on through to the decoder.
func TestCheck(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(shared, "data/imagenet-100/test_0.JPEG"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		lim  Limits
		code string
	}{
		{"course image", good, Limits{}, ""},
		{"not an image", []byte("hello"), Limits{}, imgrec.EINVALID},
		{"over the pixel limit", good, Limits{MaxPixels: 64*64 - 1}, imgrec.ETOOLARGE},
		{"truncated after the header", good[:len(good)/2], Limits{}, ""},
	}
	for _, c := range cases {
		if err := Check(c.data, c.lim); imgrec.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want code %q", c.name, err, c.code)
		}
	}
	if _, err := Decode(good[:len(good)/2], Limits{}); err == nil {
		t.Error("Decode accepted the truncated image Check let through")
	}
}
