package resnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/imgrec/imgrec/nn"
)

// A packed model file holds the network exactly as it runs: BatchNorm folded,
// weights in the kernels' layout. Worker processes map it into memory instead
// of parsing and packing the .pth, so they start in milliseconds and share
// one copy of the weights through the page cache.
//
// Layout (little-endian): magic, nn.PackFormat (u32), array count (u32),
// then per array its offset and length in float32s (u64 each), then the
// arrays, each starting on a 64-byte boundary.
var packedMagic = [16]byte{'i', 'm', 'g', 'r', 'e', 'c', '-', 'r', '1', '8', '-', 'p', 'a', 'c', 'k', 0}

const packedAlign = 64

// IsPacked reports whether the file at path is a packed model.
func IsPacked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [16]byte
	_, err = io.ReadFull(f, m[:])
	return err == nil && m == packedMagic
}

// arrays lists the model's packed arrays in file order.
func (m *Model) arrays() [][]float32 {
	var out [][]float32
	add := func(w, b []float32) { out = append(out, w, b) }
	add(m.stem.Packed())
	for _, blk := range m.blocks {
		add(blk.conv1.Packed())
		add(blk.conv2.Packed())
		if blk.down != nil {
			add(blk.down.Packed())
		}
	}
	add(m.fc.Packed())
	return out
}

// SavePacked writes the model as a packed file, atomically.
func (m *Model) SavePacked(path string) error {
	arrays := m.arrays()
	var head bytes.Buffer
	head.Write(packedMagic[:])
	binary.Write(&head, binary.LittleEndian, uint32(nn.PackFormat))
	binary.Write(&head, binary.LittleEndian, uint32(len(arrays)))
	off := align(int64(head.Len() + 16*len(arrays)))
	for _, a := range arrays {
		binary.Write(&head, binary.LittleEndian, uint64(off))
		binary.Write(&head, binary.LittleEndian, uint64(len(a)))
		off = align(off + int64(4*len(a)))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := tmp.Write(head.Bytes()); err != nil {
		return err
	}
	pos := int64(head.Len())
	for _, a := range arrays {
		if pad := align(pos) - pos; pad > 0 {
			tmp.Write(make([]byte, pad))
			pos += pad
		}
		if err := binary.Write(tmp, binary.LittleEndian, a); err != nil {
			return err
		}
		pos += int64(4 * len(a))
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func align(n int64) int64 { return (n + packedAlign - 1) / packedAlign * packedAlign }

// loadPacked maps a packed file and builds the network on the mapped arrays.
func loadPacked(path string) (*Model, error) {
	if !littleEndianHost {
		return nil, errors.New("packed models need a little-endian machine")
	}
	data, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: corrupt packed model: %s", path, fmt.Sprintf(format, args...))
	}
	if len(data) < 24 || !bytes.Equal(data[:16], packedMagic[:]) {
		return nil, bad("no header")
	}
	if v := binary.LittleEndian.Uint32(data[16:]); v != nn.PackFormat {
		return nil, fmt.Errorf("%s: packed for weight layout %d, this imgrec uses %d: repack it from the .pth", path, v, nn.PackFormat)
	}
	n := int(binary.LittleEndian.Uint32(data[20:]))
	if n > 1000 || len(data) < 24+16*n {
		return nil, bad("%d arrays", n)
	}
	arrays := make([][]float32, n)
	for i := range arrays {
		off := binary.LittleEndian.Uint64(data[24+16*i:])
		count := binary.LittleEndian.Uint64(data[32+16*i:])
		if off%packedAlign != 0 || off > uint64(len(data)) || count > (uint64(len(data))-off)/4 {
			return nil, bad("array %d at %d of %d floats", i, off, count)
		}
		if count > 0 {
			arrays[i] = unsafe.Slice((*float32)(unsafe.Pointer(&data[off])), count)
		}
	}
	m := &Model{}
	next := func() ([]float32, []float32, error) {
		if len(arrays) < 2 {
			return nil, nil, bad("too few arrays")
		}
		w, b := arrays[0], arrays[1]
		arrays = arrays[2:]
		return w, b, nil
	}
	conv := func(cout, cin, k, stride, pad int) (*nn.Conv2D, error) {
		w, b, err := next()
		if err != nil {
			return nil, err
		}
		return nn.NewConv2DPacked(w, b, cout, cin, k, k, stride, pad)
	}
	if m.stem, err = conv(64, 3, 7, 2, 3); err != nil {
		return nil, err
	}
	in := 64
	for layer := 1; layer <= 4; layer++ {
		c := 64 << (layer - 1)
		for b := 0; b < 2; b++ {
			stride := 1
			if in != c {
				stride = 2
			}
			var blk basicBlock
			if blk.conv1, err = conv(c, in, 3, stride, 1); err != nil {
				return nil, err
			}
			if blk.conv2, err = conv(c, c, 3, 1, 1); err != nil {
				return nil, err
			}
			if in != c {
				if blk.down, err = conv(c, in, 1, 2, 0); err != nil {
					return nil, err
				}
			}
			m.blocks = append(m.blocks, blk)
			in = c
		}
	}
	w, b, err := next()
	if err != nil {
		return nil, err
	}
	if m.fc, err = nn.NewLinearPacked(w, b, NumClasses, 512); err != nil {
		return nil, err
	}
	if len(arrays) != 0 {
		return nil, bad("%d arrays left over", len(arrays))
	}
	return m, nil
}

// Prepare returns a packed copy of the .pth at src, made once in dir and
// reused while the source is unchanged (the name carries its SHA-256).
func Prepare(src, dir string) (string, error) {
	if IsPacked(src) {
		return src, nil
	}
	sum, err := fileSHA256(src)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, fmt.Sprintf("resnet18-%s.v%d.packed", sum[:16], nn.PackFormat))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	m, err := Load(src)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dst, m.SavePacked(dst)
}

var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
