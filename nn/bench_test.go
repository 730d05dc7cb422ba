package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Compare with the onnxruntime peer run in the same session:
// bash ../shared/bench/ort-peer.sh ../shared/models/resnet18-standin.onnx 64,224 1,8 2 3

// convShapes are ResNet-18's layer kinds at batch 1 (input size in the name).
var convShapes = []struct {
	name                  string
	h, cin, cout, k, s, p int
}{
	{"224/stem7x7s2", 224, 3, 64, 7, 2, 3},
	{"224/layer1_3x3", 56, 64, 64, 3, 1, 1},
	{"224/layer2_3x3s2", 56, 64, 128, 3, 2, 1},
	{"224/layer2_down1x1s2", 56, 64, 128, 1, 2, 0},
	{"224/layer2_3x3", 28, 128, 128, 3, 1, 1},
	{"224/layer3_3x3", 14, 256, 256, 3, 1, 1},
	{"224/layer4_3x3", 7, 512, 512, 3, 1, 1},
	{"64/stem7x7s2", 64, 3, 64, 7, 2, 3},
	{"64/layer1_3x3", 16, 64, 64, 3, 1, 1},
	{"64/layer3_3x3", 4, 256, 256, 3, 1, 1},
	{"64/layer4_3x3", 2, 512, 512, 3, 1, 1},
}

func BenchmarkConv(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, k := range kernels() {
		for _, cs := range convShapes {
			b.Run(k.name+"/"+cs.name, func(b *testing.B) {
				conv := NewConv2D(randSlice(rng, cs.cout*cs.cin*cs.k*cs.k), randSlice(rng, cs.cout),
					cs.cout, cs.cin, cs.k, cs.k, cs.s, cs.p)
				x := randTensor(rng, 1, cs.h, cs.h, cs.cin)
				var dst Tensor
				conv.forward(k, &dst, x, nil, true)
				flops := 2 * float64(len(dst.Data)) * float64(cs.cin*cs.k*cs.k)
				for b.Loop() {
					conv.forward(k, &dst, x, nil, true)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// resnet18 is ResNet-18's layer sequence with random weights.
type resnet18 struct {
	stem   *Conv2D
	blocks []struct{ conv1, conv2, down *Conv2D }
	fc     *Linear
}

func newResNet18(rng *rand.Rand) *resnet18 {
	conv := func(cin, cout, k, s, p int) *Conv2D {
		// He-like scale keeps activations in range through the 20 layers.
		w := randSlice(rng, cout*cin*k*k)
		for i := range w {
			w[i] *= 1.5 / float32(k*k*cin)
		}
		return NewConv2D(w, randSlice(rng, cout), cout, cin, k, k, s, p)
	}
	m := &resnet18{stem: conv(3, 64, 7, 2, 3)}
	cin := 64
	for _, cout := range []int{64, 128, 256, 512} {
		for i := range 2 {
			s := 1
			if cout != 64 && i == 0 {
				s = 2
			}
			var blk struct{ conv1, conv2, down *Conv2D }
			blk.conv1 = conv(cin, cout, 3, s, 1)
			blk.conv2 = conv(cout, cout, 3, 1, 1)
			if s == 2 {
				blk.down = conv(cin, cout, 1, 2, 0)
			}
			m.blocks = append(m.blocks, blk)
			cin = cout
		}
	}
	m.fc = NewLinear(randSlice(rng, 1000*512), randSlice(rng, 1000), 1000, 512)
	return m
}

// forward runs the network as package resnet does, on the activations in act.
func (m *resnet18) forward(x *Tensor, act *[4]Tensor, feats, logits []float32) []float32 {
	cur, tmp, out, sc := &act[0], &act[1], &act[2], &act[3]
	m.stem.Forward(tmp, x, nil, true)
	MaxPool2D(cur, tmp, 3, 2, 1)
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
	feats = GlobalAvgPool(feats, cur)
	return m.fc.Forward(logits, feats, x.N)
}

func BenchmarkResNet18Layers(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := newResNet18(rng)
	for _, size := range []int{64, 224} {
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) {
				x := randTensor(rng, batch, size, size, 3)
				var act [4]Tensor
				var feats, logits []float32
				logits = m.forward(x, &act, feats, logits)
				for b.Loop() {
					logits = m.forward(x, &act, feats, logits)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N*batch), "ms/img")
			})
		}
	}
}
