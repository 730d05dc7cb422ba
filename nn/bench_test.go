package nn

import (
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
