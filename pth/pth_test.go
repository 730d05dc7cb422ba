package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const standin = "../../shared/models/resnet18-standin.pth"

func TestLoadStandin(t *testing.T) {
	sd, err := Load(standin)
	if err != nil {
		t.Fatal(err)
	}
	// ResNet-18: conv1 + bn1 (5) + 8 blocks × (2 conv + 2 bn) + 3 downsamples (conv + bn) + fc.
	if len(sd) != 122 {
		t.Errorf("got %d entries, want 122", len(sd))
	}
	w := sd["conv1.weight"]
	if w == nil || w.DType != "float32" || !slices.Equal(w.Shape, []int{64, 3, 7, 7}) || len(w.F32) != 9408 {
		t.Fatalf("conv1.weight = %+v", w)
	}
	// Cross-check against the raw storage read independently from the zip.
	zr, err := zip.OpenReader(standin)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	raw, err := readAll(findFile(t, &zr.Reader, "archive/data/0"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 9408; i += 997 {
		if want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); w.F32[i] != want {
			t.Fatalf("conv1.weight[%d] = %v, want %v", i, w.F32[i], want)
		}
	}
	n := sd["bn1.num_batches_tracked"]
	if n == nil || n.DType != "int64" || len(n.Shape) != 0 || len(n.I64) != 1 {
		t.Errorf("bn1.num_batches_tracked = %+v", n)
	}
	if fc := sd["fc.weight"]; fc == nil || !slices.Equal(fc.Shape, []int{1000, 512}) {
		t.Errorf("fc.weight = %v", fc.Shape)
	}
}

func findFile(t *testing.T, zr *zip.Reader, name string) *zip.File {
	for _, f := range zr.File {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("%s not in archive", name)
	return nil
}

// pk builds protocol-2 pickles by hand for the malformed-input tests.
type pk struct{ bytes.Buffer }

func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) int(v int) *pk {
	p.WriteByte('J')
	binary.Write(&p.Buffer, binary.LittleEndian, int32(v))
	return p
}
func (p *pk) op(ops ...byte) *pk { p.Write(ops); return p }
func (p *pk) global(mod, name string) *pk {
	p.WriteString("c" + mod + "\n" + name + "\n")
	return p
}

// tensorPickle is a state_dict {"w": tensor(storage "0" of numel floats, offset, shape, strides)}.
func tensorPickle(numel, offset int, shape, strides []int) []byte {
	p := &pk{}
	p.op(0x80, 2).global("collections", "OrderedDict").op(')', 'R')
	p.str("w").global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(numel).op('t', 'Q')
	p.int(offset).op('(')
	for _, d := range shape {
		p.int(d)
	}
	p.op('t', '(')
	for _, s := range strides {
		p.int(s)
	}
	p.op('t', 0x89).global("collections", "OrderedDict").op(')', 'R', 't', 'R', 's', '.')
	return p.Bytes()
}

func writeZip(t *testing.T, files map[string][]byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "m.pth")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for n, b := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return name
}

func floats(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestStridedViewAndPrefix(t *testing.T) {
	// A transposed 2×3 view of a 3×2 storage, under a prefix other than "archive".
	name := writeZip(t, map[string][]byte{
		"mymodel/data.pkl": tensorPickle(6, 0, []int{2, 3}, []int{1, 2}),
		"mymodel/data/0":   floats(0, 1, 2, 3, 4, 5),
	})
	sd, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	got := sd["w"].F32
	want := []float32{0, 2, 4, 1, 3, 5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestRejects(t *testing.T) {
	evil := (&pk{}).op(0x80, 2).global("os", "system").str("echo pwned").op(0x85, 'R', '.').Bytes()
	cases := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"no pickle", map[string][]byte{"x/other": {1}}, "no data.pkl"},
		{"code execution", map[string][]byte{"a/data.pkl": evil}, "refusing pickle global os.system"},
		{"truncated pickle", map[string][]byte{"a/data.pkl": tensorPickle(6, 0, []int{6}, []int{1})[:40], "a/data/0": floats(0, 1, 2, 3, 4, 5)}, "truncated"},
		{"missing storage", map[string][]byte{"a/data.pkl": tensorPickle(6, 0, []int{6}, []int{1})}, "storage 0 missing"},
		{"short storage", map[string][]byte{"a/data.pkl": tensorPickle(6, 0, []int{6}, []int{1}), "a/data/0": floats(1, 2)}, "has 8 bytes"},
		{"view out of range", map[string][]byte{"a/data.pkl": tensorPickle(6, 2, []int{6}, []int{1}), "a/data/0": floats(0, 1, 2, 3, 4, 5)}, "exceeds storage"},
		{"huge shape", map[string][]byte{"a/data.pkl": tensorPickle(6, 0, []int{1 << 30, 1 << 30}, []int{0, 0}), "a/data/0": floats(0, 1, 2, 3, 4, 5)}, "too large"},
		{"big endian", map[string][]byte{"a/data.pkl": tensorPickle(1, 0, []int{1}, []int{1}), "a/data/0": floats(1), "a/byteorder": []byte("big")}, "big"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeZip(t, c.files))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	notZip := filepath.Join(t.TempDir(), "legacy.pth")
	os.WriteFile(notZip, []byte{0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc}, 0o644)
	if _, err := Load(notZip); err == nil || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("legacy file: err = %v", err)
	}
}

// FuzzUnpickle checks that arbitrary bytes never panic the unpickler.
func FuzzUnpickle(f *testing.F) {
	f.Add(tensorPickle(6, 0, []int{2, 3}, []int{3, 1}))
	if sd, err := os.ReadFile(standin); err == nil {
		zr, _ := zip.NewReader(bytes.NewReader(sd), int64(len(sd)))
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "data.pkl") {
				b, _ := readAll(zf, 1<<20)
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		unpickle(b)
	})
}
