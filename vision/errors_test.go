package vision

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/imgrec/imgrec"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sofAt returns the offset of the first SOFn marker.
func sofAt(t *testing.T, data []byte) int {
	t.Helper()
	for i := 2; i+1 < len(data); i++ {
		if data[i] == 0xFF && data[i+1] >= 0xC0 && data[i+1] <= 0xC2 {
			return i
		}
	}
	t.Fatal("no SOF marker")
	return 0
}

func TestRejects(t *testing.T) {
	jpg := readFixture(t, "odd-2x2.jpg")
	sof := sofAt(t, jpg)
	patch := func(off int, b byte) []byte {
		d := bytes.Clone(jpg)
		d[off] = b
		return d
	}
	for _, tc := range []struct {
		name string
		data []byte
		code string
		msg  string
	}{
		{"empty", nil, imgrec.EINVALID, "not a JPEG or PNG image"},
		{"gif", []byte("GIF89a......"), imgrec.EINVALID, "not a JPEG or PNG image"},
		{"arithmetic", readFixture(t, "err-arithmetic.jpg"), imgrec.EINVALID, "unsupported JPEG: arithmetic coding"},
		{"12-bit", patch(sof+4, 12), imgrec.EINVALID, "unsupported JPEG: 12-bit samples"},
		{"lossless", patch(sof+1, 0xC3), imgrec.EINVALID, "unsupported JPEG: lossless"},
		{"two components", patch(sof+9, 2), imgrec.EINVALID, "unsupported JPEG: 2 components"},
		{"missing EOI", jpg[:len(jpg)-2], imgrec.EINVALID, "truncated JPEG"},
		{"half", jpg[:len(jpg)/2], imgrec.EINVALID, "truncated JPEG"},
		{"header only", jpg[:sof+5], imgrec.EINVALID, "truncated JPEG"},
		{"png truncated", readFixture(t, "png-rgb.png")[:100], imgrec.EINVALID, "truncated PNG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, Limits{})
			wantCode(t, err, tc.code, tc.msg)
		})
	}
}

func TestLimit(t *testing.T) {
	for _, name := range []string{"big-420.jpg", "png-rgb.png"} {
		data := readFixture(t, name)
		_, w, h, err := Config(data)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(data, Limits{MaxPixels: int64(w*h) - 1})
		wantCode(t, err, imgrec.ETOOLARGE, "limit is")
		if _, err := Decode(data, Limits{MaxPixels: int64(w * h)}); err != nil {
			t.Errorf("%s at exactly the limit: %v", name, err)
		}
	}
	// A 9000x9000 header must be refused before anything is allocated.
	data := bytes.Clone(readFixture(t, "odd-2x2.jpg"))
	sof := sofAt(t, data)
	copy(data[sof+5:], []byte{0x23, 0x28, 0x23, 0x28})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(data, Limits{})
	runtime.ReadMemStats(&after)
	wantCode(t, err, imgrec.ETOOLARGE, "image is 9000x9000 = 81.0 Mpx, limit is 40.0 Mpx")
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("%d bytes allocated to reject an oversized header", n)
	}
}

// TestTruncations cuts every fixture at many lengths: each cut must fail
// with an *imgrec.Error (never panic), as PIL fails on truncated files.
func TestTruncations(t *testing.T) {
	for _, name := range fixtures(t) {
		data := readFixture(t, name)
		step := max(1, len(data)/97)
		for n := 0; n < len(data)-1; n += step {
			_, err := Decode(data[:n], Limits{})
			if err == nil {
				// PNG may legitimately end after IEND's data; JPEG needs EOI.
				if filepath.Ext(name) == ".jpg" || n < len(data)-12 {
					t.Errorf("%s cut at %d of %d: no error", name, n, len(data))
				}
				continue
			}
			if imgrec.ErrorCode(err) != imgrec.EINVALID {
				t.Errorf("%s cut at %d: %v (code %q)", name, n, err, imgrec.ErrorCode(err))
			}
		}
	}
}

// TestRestartCorruption swaps a restart marker's number: libjpeg would
// resynchronise with a warning; we refuse corrupt data.
func TestRestartCorruption(t *testing.T) {
	data := bytes.Clone(readFixture(t, "mid-rst3b.jpg"))
	i := bytes.Index(data, []byte{0xFF, 0xD1})
	if i < 0 {
		t.Fatal("no RST1 marker")
	}
	data[i+1] = 0xD5
	_, err := Decode(data, Limits{})
	wantCode(t, err, imgrec.EINVALID, "restart marker")
}
