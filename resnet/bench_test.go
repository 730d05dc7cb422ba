package resnet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/imgrec/imgrec/nn"
)

// BenchmarkForward times the whole network per image. Compare with the
// onnxruntime peer run in the same session: ../shared/bench/ort-peer.sh.
func BenchmarkForward(b *testing.B) {
	m := standin(b)
	for _, size := range []int{64, 224} {
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) {
				x := nn.Tensor{N: batch, H: size, W: size, C: 3, Data: make([]float32, batch*size*size*3)}
				for i := range x.Data {
					x.Data[i] = rand.Float32()
				}
				m.Forward(&x)
				b.ResetTimer()
				for b.Loop() {
					m.Forward(&x)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N*batch), "ms/img")
			})
		}
	}
}
