package pth

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ordered is a pickled dict or OrderedDict; keys keep their insertion order.
type ordered struct {
	keys []string
	vals map[string]any
}

func (d *ordered) set(k, v any) error {
	ks, ok := k.(string)
	if !ok {
		return fmt.Errorf("dict key of type %T", k)
	}
	if _, dup := d.vals[ks]; !dup {
		d.keys = append(d.keys, ks)
	}
	d.vals[ks] = v
	return nil
}

type global string // "module.name"

type mark struct{}

type storageRef struct {
	key      string
	dtype    string
	elemSize int
	numel    int
}

// storageTypes are the storage classes a ResNet state_dict uses.
var storageTypes = map[global]struct {
	dtype string
	size  int
}{
	"torch.FloatStorage": {"float32", 4},
	"torch.LongStorage":  {"int64", 8},
}

// argBytes is the width of the little-endian unsigned argument of the
// opcodes that have one.
var argBytes = map[byte]int{
	'q': 1, 'r': 4, // BINPUT, LONG_BINPUT
	'h': 1, 'j': 4, // BINGET, LONG_BINGET
	'K': 1, 'M': 2, // BININT1, BININT2
	'X': 4, 0x8c: 1, 0x8d: 8, // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
}

var allowedGlobals = map[global]bool{
	"collections.OrderedDict":         true,
	"torch._utils._rebuild_tensor_v2": true,
	"torch._utils._rebuild_parameter": true,
	"torch.FloatStorage":              true,
	"torch.LongStorage":               true,
}

// unpickle runs the subset of the pickle machine (protocols 2-5) that
// torch.save uses for a state_dict.
func unpickle(src []byte) (any, error) {
	var (
		stack []any
		marks []int
		memo  = map[int]any{}
		pos   int
	)
	need := func(n int) ([]byte, error) {
		if n < 0 || pos+n > len(src) {
			return nil, fmt.Errorf("truncated pickle at byte %d", pos)
		}
		b := src[pos : pos+n]
		pos += n
		return b, nil
	}
	// uint reads an n-byte little-endian unsigned integer argument.
	readUint := func(n int) (int, error) {
		b, err := need(n)
		if err != nil {
			return 0, err
		}
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if v > uint64(len(src)) && n > 2 { // lengths and memo indices never exceed the pickle
			return 0, fmt.Errorf("argument %d too large at byte %d", v, pos)
		}
		return int(v), nil
	}
	pop := func() (any, error) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) == marks[len(marks)-1]) {
			return nil, fmt.Errorf("stack underflow at byte %d", pos)
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, nil
	}
	popMark := func() ([]any, error) {
		if len(marks) == 0 {
			return nil, fmt.Errorf("no mark at byte %d", pos)
		}
		m := marks[len(marks)-1]
		marks = marks[:len(marks)-1]
		items := append([]any(nil), stack[m:]...)
		stack = stack[:m]
		return items, nil
	}
	top := func() (any, error) {
		if len(stack) == 0 {
			return nil, fmt.Errorf("empty stack at byte %d", pos)
		}
		return stack[len(stack)-1], nil
	}
	for {
		b, err := need(1)
		if err != nil {
			return nil, err
		}
		op := b[0]
		switch op {
		case 0x80: // PROTO
			if _, err := need(1); err != nil {
				return nil, err
			}
		case 0x95: // FRAME: a length hint only
			if _, err := need(8); err != nil {
				return nil, err
			}
		case '.': // STOP
			if len(stack) != 1 {
				return nil, fmt.Errorf("stack holds %d items at STOP", len(stack))
			}
			return stack[0], nil
		case '(': // MARK
			marks = append(marks, len(stack))
		case 'c': // GLOBAL "module\nname\n"
			mod, err := readLine(src, &pos)
			if err != nil {
				return nil, err
			}
			name, err := readLine(src, &pos)
			if err != nil {
				return nil, err
			}
			g, err := checkGlobal(mod, name)
			if err != nil {
				return nil, err
			}
			stack = append(stack, g)
		case 0x93: // STACK_GLOBAL
			name, err := pop()
			if err != nil {
				return nil, err
			}
			mod, err := pop()
			if err != nil {
				return nil, err
			}
			ms, ok1 := mod.(string)
			ns, ok2 := name.(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("STACK_GLOBAL of non-strings")
			}
			g, err := checkGlobal(ms, ns)
			if err != nil {
				return nil, err
			}
			stack = append(stack, g)
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			idx := len(memo)
			if op != 0x94 {
				if idx, err = readUint(argBytes[op]); err != nil {
					return nil, err
				}
			}
			v, err := top()
			if err != nil {
				return nil, err
			}
			memo[idx] = v
		case 'h', 'j': // BINGET, LONG_BINGET
			idx, err := readUint(argBytes[op])
			if err != nil {
				return nil, err
			}
			v, ok := memo[idx]
			if !ok {
				return nil, fmt.Errorf("memo %d not set", idx)
			}
			stack = append(stack, v)
		case ')': // EMPTY_TUPLE
			stack = append(stack, []any{})
		case 't': // TUPLE
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			stack = append(stack, items)
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			items := make([]any, n)
			for i := n - 1; i >= 0; i-- {
				if items[i], err = pop(); err != nil {
					return nil, err
				}
			}
			stack = append(stack, items)
		case '}': // EMPTY_DICT
			stack = append(stack, &ordered{vals: map[string]any{}})
		case 's', 'u': // SETITEM (one pair), SETITEMS (pairs since the mark)
			var items []any
			if op == 's' {
				v, err := pop()
				if err != nil {
					return nil, err
				}
				k, err := pop()
				if err != nil {
					return nil, err
				}
				items = []any{k, v}
			} else if items, err = popMark(); err != nil {
				return nil, err
			}
			d, err := top()
			if err != nil {
				return nil, err
			}
			od, ok := d.(*ordered)
			if !ok || len(items)%2 != 0 {
				return nil, fmt.Errorf("setting items on %T with %d items", d, len(items))
			}
			for i := 0; i < len(items); i += 2 {
				if err := od.set(items[i], items[i+1]); err != nil {
					return nil, err
				}
			}
		case 'K', 'M': // BININT1, BININT2
			v, err := readUint(argBytes[op])
			if err != nil {
				return nil, err
			}
			stack = append(stack, v)
		case 'J': // BININT
			b, err := need(4)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int(int32(binary.LittleEndian.Uint32(b))))
		case 0x8a: // LONG1
			b, err := need(1)
			if err != nil {
				return nil, err
			}
			n := int(b[0])
			if n > 8 {
				return nil, fmt.Errorf("integer of %d bytes", n)
			}
			if b, err = need(n); err != nil {
				return nil, err
			}
			var v int64
			for i := n - 1; i >= 0; i-- {
				v = v<<8 | int64(b[i])
			}
			if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend
				v -= 1 << (8 * n)
			}
			stack = append(stack, int(v))
		case 'G': // BINFLOAT, big-endian
			b, err := need(8)
			if err != nil {
				return nil, err
			}
			stack = append(stack, math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			n, err := readUint(argBytes[op])
			if err != nil {
				return nil, err
			}
			b, err := need(n)
			if err != nil {
				return nil, err
			}
			stack = append(stack, string(b))
		case 0x88: // NEWTRUE
			stack = append(stack, true)
		case 0x89: // NEWFALSE
			stack = append(stack, false)
		case 'N': // NONE
			stack = append(stack, nil)
		case 'Q': // BINPERSID
			pid, err := pop()
			if err != nil {
				return nil, err
			}
			s, err := persistentLoad(pid)
			if err != nil {
				return nil, err
			}
			stack = append(stack, s)
		case 'R': // REDUCE
			args, err := pop()
			if err != nil {
				return nil, err
			}
			fn, err := pop()
			if err != nil {
				return nil, err
			}
			v, err := reduce(fn, args)
			if err != nil {
				return nil, err
			}
			stack = append(stack, v)
		case 'b': // BUILD: only OrderedDict._metadata, which we do not need
			if _, err := pop(); err != nil {
				return nil, err
			}
			if d, err := top(); err != nil {
				return nil, err
			} else if _, ok := d.(*ordered); !ok {
				return nil, fmt.Errorf("BUILD on %T", d)
			}
		default:
			return nil, fmt.Errorf("unsupported pickle opcode 0x%02x at byte %d (not a plain state_dict)", op, pos-1)
		}
	}
}

func readLine(src []byte, pos *int) (string, error) {
	for i := *pos; i < len(src); i++ {
		if src[i] == '\n' {
			s := string(src[*pos:i])
			*pos = i + 1
			return s, nil
		}
	}
	return "", fmt.Errorf("truncated pickle in GLOBAL")
}

func checkGlobal(mod, name string) (global, error) {
	g := global(mod + "." + name)
	if !allowedGlobals[g] {
		return "", fmt.Errorf("refusing pickle global %s: only tensors of a plain state_dict are allowed", g)
	}
	return g, nil
}

// persistentLoad resolves torch's ('storage', type, key, location, numel).
func persistentLoad(pid any) (*storageRef, error) {
	t, ok := pid.([]any)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("unexpected persistent id %v", pid)
	}
	g, _ := t[1].(global)
	st, ok := storageTypes[g]
	if !ok {
		return nil, fmt.Errorf("unsupported storage type %v (only float32 and int64)", t[1])
	}
	key, ok1 := t[2].(string)
	numel, ok2 := t[4].(int)
	if !ok1 || !ok2 || numel < 0 || int64(numel)*int64(st.size) > maxStorageBytes {
		return nil, fmt.Errorf("bad storage reference %v", pid)
	}
	return &storageRef{key: key, dtype: st.dtype, elemSize: st.size, numel: numel}, nil
}

func reduce(fn, args any) (any, error) {
	a, ok := args.([]any)
	if !ok {
		return nil, fmt.Errorf("REDUCE arguments are a %T", args)
	}
	switch fn {
	case global("collections.OrderedDict"):
		if len(a) != 0 {
			return nil, fmt.Errorf("OrderedDict with arguments")
		}
		return &ordered{vals: map[string]any{}}, nil
	case global("torch._utils._rebuild_parameter"):
		if len(a) < 1 {
			return nil, fmt.Errorf("_rebuild_parameter without data")
		}
		if _, ok := a[0].(*tensorRef); !ok {
			return nil, fmt.Errorf("_rebuild_parameter of %T", a[0])
		}
		return a[0], nil
	case global("torch._utils._rebuild_tensor_v2"):
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(a) < 4 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(a))
		}
		s, ok := a[0].(*storageRef)
		off, ok2 := a[1].(int)
		shape, ok3 := ints(a[2])
		strides, ok4 := ints(a[3])
		if !ok || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("malformed _rebuild_tensor_v2 arguments")
		}
		return &tensorRef{key: s.key, dtype: s.dtype, elemSize: s.elemSize, numel: s.numel,
			offset: off, shape: shape, strides: strides}, nil
	}
	return nil, fmt.Errorf("cannot call %v", fn)
}

func ints(v any) ([]int, bool) {
	t, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]int, len(t))
	for i, x := range t {
		if out[i], ok = x.(int); !ok {
			return nil, false
		}
	}
	return out, true
}
