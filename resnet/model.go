// Package resnet is the ResNet-18 inference engine: it loads torchvision's
// state_dict, folds BatchNorm into the convolutions and runs the network on
// the nn kernels.
package resnet

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/imgrec/imgrec/nn"
	"github.com/imgrec/imgrec/pth"
)

// NumClasses is the size of the ImageNet output layer.
const NumClasses = 1000

// bnEps is torchvision's BatchNorm2d default epsilon.
const bnEps = 1e-5

// Model is ResNet-18 with every BatchNorm folded into the preceding convolution.
type Model struct {
	stem    *nn.Conv2D
	blocks  []basicBlock
	fc      *nn.Linear
	scratch sync.Pool // *activations, reused across calls to save allocations
}

// basicBlock is torchvision's BasicBlock: relu(conv2(relu(conv1(x))) + shortcut(x)).
type basicBlock struct {
	conv1, conv2 *nn.Conv2D
	down         *nn.Conv2D // 1×1 stride-2 projection; nil for the identity shortcut
}

type activations struct{ a, b, c, d nn.Tensor }

// Load reads a torchvision ResNet-18 state_dict file, or a packed model
// made from one (see Prepare).
func Load(path string) (*Model, error) {
	if IsPacked(path) {
		return loadPacked(path)
	}
	sd, err := pth.Load(path)
	if err != nil {
		return nil, err
	}
	m, err := New(sd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// New builds the network from a state_dict, which must be exactly ResNet-18's.
func New(sd map[string]*pth.Tensor) (*Model, error) {
	if err := checkKeys(sd); err != nil {
		return nil, err
	}
	m := &Model{}
	var err error
	if m.stem, err = foldConv(sd, "conv1", "bn1", 2, 3); err != nil {
		return nil, err
	}
	for layer := 1; layer <= 4; layer++ {
		for b := 0; b < 2; b++ {
			p := fmt.Sprintf("layer%d.%d.", layer, b)
			stride := 1
			if layer > 1 && b == 0 {
				stride = 2
			}
			var blk basicBlock
			if blk.conv1, err = foldConv(sd, p+"conv1", p+"bn1", stride, 1); err != nil {
				return nil, err
			}
			if blk.conv2, err = foldConv(sd, p+"conv2", p+"bn2", 1, 1); err != nil {
				return nil, err
			}
			if stride == 2 {
				if blk.down, err = foldConv(sd, p+"downsample.0", p+"downsample.1", 2, 0); err != nil {
					return nil, err
				}
			}
			m.blocks = append(m.blocks, blk)
		}
	}
	m.fc = nn.NewLinear(sd["fc.weight"].F32, sd["fc.bias"].F32, NumClasses, 512)
	return m, nil
}

// expectedShapes lists every tensor of torchvision's resnet18().state_dict().
func expectedShapes() map[string][]int {
	s := map[string][]int{}
	bn := func(p string, c int) {
		for _, k := range []string{"weight", "bias", "running_mean", "running_var"} {
			s[p+"."+k] = []int{c}
		}
		s[p+".num_batches_tracked"] = []int{}
	}
	s["conv1.weight"] = []int{64, 3, 7, 7}
	bn("bn1", 64)
	in := 64
	for layer := 1; layer <= 4; layer++ {
		c := 64 << (layer - 1)
		for b := 0; b < 2; b++ {
			p := fmt.Sprintf("layer%d.%d.", layer, b)
			s[p+"conv1.weight"] = []int{c, in, 3, 3}
			bn(p+"bn1", c)
			s[p+"conv2.weight"] = []int{c, c, 3, 3}
			bn(p+"bn2", c)
			if in != c {
				s[p+"downsample.0.weight"] = []int{c, in, 1, 1}
				bn(p+"downsample.1", c)
			}
			in = c
		}
	}
	s["fc.weight"] = []int{NumClasses, 512}
	s["fc.bias"] = []int{NumClasses}
	return s
}

// checkKeys rejects anything that is not a ResNet-18 state_dict, naming what
// differs. num_batches_tracked is optional: files saved by old torch lack it.
func checkKeys(sd map[string]*pth.Tensor) error {
	want := expectedShapes()
	var missing, unexpected, wrong []string
	for k, shape := range want {
		t, ok := sd[k]
		switch {
		case !ok && !strings.HasSuffix(k, "num_batches_tracked"):
			missing = append(missing, k)
		case ok && !slices.Equal(t.Shape, shape):
			wrong = append(wrong, fmt.Sprintf("%s is %v, want %v", k, t.Shape, shape))
		case ok && t.DType != "float32" && !strings.HasSuffix(k, "num_batches_tracked"):
			wrong = append(wrong, fmt.Sprintf("%s is %s, want float32", k, t.DType))
		}
	}
	for k := range sd {
		if _, ok := want[k]; !ok {
			unexpected = append(unexpected, k)
		}
	}
	if len(missing)+len(unexpected)+len(wrong) == 0 {
		return nil
	}
	var parts []string
	for _, l := range []struct {
		what string
		keys []string
	}{{"missing", missing}, {"unexpected", unexpected}, {"wrong shape", wrong}} {
		if len(l.keys) > 0 {
			sort.Strings(l.keys)
			if len(l.keys) > 5 {
				l.keys = append(l.keys[:5], fmt.Sprintf("and %d more", len(l.keys)-5))
			}
			parts = append(parts, l.what+": "+strings.Join(l.keys, ", "))
		}
	}
	return fmt.Errorf("not a ResNet-18 state_dict (%s)", strings.Join(parts, "; "))
}

// foldConv folds BatchNorm (eval mode) into the bias-free convolution before it:
// w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε), computed in float64 so folding adds
// no error beyond the final rounding.
func foldConv(sd map[string]*pth.Tensor, conv, bn string, stride, pad int) (*nn.Conv2D, error) {
	w := sd[conv+".weight"]
	cout, cin, k := w.Shape[0], w.Shape[1], w.Shape[2]
	gamma, beta := sd[bn+".weight"].F32, sd[bn+".bias"].F32
	mean, variance := sd[bn+".running_mean"].F32, sd[bn+".running_var"].F32
	per := cin * k * k
	folded := make([]float32, len(w.F32))
	bias := make([]float32, cout)
	for o := 0; o < cout; o++ {
		if variance[o] < 0 || math.IsNaN(float64(variance[o])) {
			return nil, fmt.Errorf("%s.running_var[%d] = %v is not a variance", bn, o, variance[o])
		}
		scale := float64(gamma[o]) / math.Sqrt(float64(variance[o])+bnEps)
		for i := o * per; i < (o+1)*per; i++ {
			folded[i] = float32(float64(w.F32[i]) * scale)
		}
		bias[o] = float32(float64(beta[o]) - float64(mean[o])*scale)
	}
	return nn.NewConv2D(folded, bias, cout, cin, k, k, stride, pad), nil
}

// Forward runs the network on a batch (NHWC, 3 channels, any size ≥ 32×32
// so that the last stage keeps at least one pixel) and returns the logits, N×1000.
func (m *Model) Forward(x *nn.Tensor) []float32 {
	act, _ := m.scratch.Get().(*activations)
	if act == nil {
		act = &activations{}
	}
	defer m.scratch.Put(act)

	cur, tmp, out, sc := &act.a, &act.b, &act.c, &act.d
	m.stem.Forward(tmp, x, nil, true)
	nn.MaxPool2D(cur, tmp, 3, 2, 1)
	for _, blk := range m.blocks {
		blk.conv1.Forward(tmp, cur, nil, true)
		shortcut := cur
		if blk.down != nil {
			blk.down.Forward(sc, cur, nil, false)
			shortcut = sc
		}
		blk.conv2.Forward(out, tmp, shortcut, true)
		cur, out = out, cur
	}
	feats := nn.GlobalAvgPool(nil, cur)
	return m.fc.Forward(nil, feats, x.N)
}
