// Package pth reads PyTorch state_dict files as torch.save writes them since
// torch 1.6: a zip archive holding a pickle (<prefix>/data.pkl) whose tensors
// point at raw little-endian storages (<prefix>/data/<key>).
//
// The unpickler is deliberately strict: it knows only the opcodes and globals
// a plain state_dict uses, so a crafted file cannot run code or smuggle in
// anything but tensors.
package pth

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"unsafe"
)

// Tensor is a dense tensor read from a state_dict. Float tensors fill F32,
// integer ones I64; Shape is in torch order.
type Tensor struct {
	Shape []int
	DType string // "float32" or "int64"
	F32   []float32
	I64   []int64
}

// Numel is the number of elements.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// maxStorageBytes bounds a single storage so a corrupt header cannot make us
// allocate without limit (ResNet-18's largest is 9.4 MB).
const maxStorageBytes = 1 << 30

// Load reads the state_dict in the zip file at name.
func Load(name string) (map[string]*Tensor, error) {
	zr, err := zip.OpenReader(name)
	if err != nil {
		if strings.Contains(err.Error(), "not a valid zip file") {
			return nil, fmt.Errorf("%s: not a torch.save zip archive (legacy pre-1.6 torch files are not supported; re-save with a recent torch)", name)
		}
		return nil, err
	}
	defer zr.Close()
	sd, err := Read(&zr.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return sd, nil
}

// Read reads a state_dict from an opened zip archive.
func Read(zr *zip.Reader) (map[string]*Tensor, error) {
	files := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		files[f.Name] = f
		if path.Base(f.Name) == "data.pkl" {
			if pkl != nil {
				return nil, fmt.Errorf("archive holds more than one data.pkl")
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("archive holds no data.pkl: not a torch.save file")
	}
	prefix := path.Dir(pkl.Name)
	if f := files[prefix+"/byteorder"]; f != nil {
		b, err := readAll(f, 16)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("storages are %q-endian; only little-endian files are supported", s)
		}
	}
	src, err := readAll(pkl, 64<<20)
	if err != nil {
		return nil, err
	}
	root, err := unpickle(src)
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	dict, ok := root.(*ordered)
	if !ok {
		return nil, fmt.Errorf("data.pkl holds a %T, not a state_dict", root)
	}
	out := make(map[string]*Tensor, len(dict.keys))
	storages := map[string][]byte{}
	for _, k := range dict.keys {
		ref, ok := dict.vals[k].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("entry %q is a %T, not a tensor", k, dict.vals[k])
		}
		raw, seen := storages[ref.key]
		if !seen {
			f := files[prefix+"/data/"+ref.key]
			if f == nil {
				return nil, fmt.Errorf("entry %q: storage %s missing from archive", k, ref.key)
			}
			if raw, err = readAll(f, maxStorageBytes); err != nil {
				return nil, err
			}
			storages[ref.key] = raw
		}
		t, err := ref.materialise(raw)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", k, err)
		}
		out[k] = t
	}
	return out, nil
}

func readAll(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%s: %d bytes exceeds limit of %d", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	// Exactly the declared size: no growth copies for 10 MB storages. The
	// zip reader checks the CRC (and so the size) when it reaches the end.
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return nil, fmt.Errorf("%s: corrupt entry (size or checksum mismatch: %v)", f.Name, err)
	}
	return b, nil
}

// tensorRef is what torch._utils._rebuild_tensor_v2 describes: a strided view
// into a storage.
type tensorRef struct {
	key            string // storage file name
	dtype          string
	elemSize       int
	numel          int // storage length in elements
	offset         int
	shape, strides []int
}

func (r *tensorRef) materialise(raw []byte) (*Tensor, error) {
	if len(raw) != r.numel*r.elemSize {
		return nil, fmt.Errorf("storage %s has %d bytes, header says %d elements of %d bytes", r.key, len(raw), r.numel, r.elemSize)
	}
	if len(r.shape) != len(r.strides) {
		return nil, fmt.Errorf("shape %v and strides %v differ in rank", r.shape, r.strides)
	}
	n, last := 1, r.offset // last = highest element index the view touches
	for i, d := range r.shape {
		if d < 0 || r.strides[i] < 0 {
			return nil, fmt.Errorf("negative size or stride in %v/%v", r.shape, r.strides)
		}
		if d == 0 {
			n = 0
			break
		}
		if d > maxStorageBytes || r.strides[i] > maxStorageBytes || n > maxStorageBytes/r.elemSize/d {
			return nil, fmt.Errorf("shape %v too large", r.shape)
		}
		n *= d
		last += (d - 1) * r.strides[i]
	}
	if n > 0 && (r.offset < 0 || last >= r.numel) {
		return nil, fmt.Errorf("view (offset %d, shape %v, strides %v) exceeds storage of %d elements", r.offset, r.shape, r.strides, r.numel)
	}
	t := &Tensor{Shape: r.shape, DType: r.dtype}
	if f := aliasFloats(raw, r, n); f != nil {
		t.F32 = f
		return t, nil
	}
	if r.dtype == "float32" {
		t.F32 = make([]float32, n)
	} else {
		t.I64 = make([]int64, n)
	}
	idx := make([]int, len(r.shape))
	pos := r.offset
	// Walk the view in row-major order, so any stride layout reads correctly.
	for i := 0; i < n; i++ {
		switch r.dtype {
		case "float32":
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[pos*4:]))
		case "int64":
			t.I64[i] = int64(binary.LittleEndian.Uint64(raw[pos*8:]))
		}
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			pos += r.strides[d]
			if idx[d] < r.shape[d] {
				break
			}
			pos -= idx[d] * r.strides[d]
			idx[d] = 0
		}
	}
	return t, nil
}

// aliasFloats returns the tensor's floats as a view of the storage bytes when
// the tensor is a contiguous float32 block and the host is little-endian, as
// torch's files are: the weights are then held once, not twice.
func aliasFloats(raw []byte, r *tensorRef, n int) []float32 {
	if r.dtype != "float32" || n == 0 || !littleEndianHost {
		return nil
	}
	stride := 1
	for i := len(r.shape) - 1; i >= 0; i-- {
		if r.shape[i] != 1 && r.strides[i] != stride {
			return nil
		}
		stride *= r.shape[i]
	}
	p := unsafe.Pointer(&raw[r.offset*4])
	if uintptr(p)%unsafe.Alignof(float32(0)) != 0 {
		return nil
	}
	return unsafe.Slice((*float32)(p), n)
}

var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
