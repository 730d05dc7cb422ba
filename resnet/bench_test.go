package resnet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/imgrec/imgrec/nn"
)

// BenchmarkForward times the whole network per image on $IMGREC_THREADS
// threads (default: one per core, GOMAXPROCS), as `imgrec worker --threads`
// sets them. Compare with the onnxruntime peer given the same thread count
// in the same session: `make bench THREADS=N` runs both.
func BenchmarkForward(b *testing.B) {
	threads := benchThreads(b)
	m := standin(b)
	for _, size := range []int{64, 224} {
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%d/batch=%d/threads=%d", size, batch, threads), func(b *testing.B) {
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

// benchThreads sets the engine's threads from $IMGREC_THREADS, until b ends,
// and returns how many it uses.
func benchThreads(b *testing.B) int {
	v := os.Getenv("IMGREC_THREADS")
	if v == "" {
		return runtime.GOMAXPROCS(0)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("IMGREC_THREADS=%q: want a number of threads, 1 or more", v)
	}
	nn.SetThreads(n)
	b.Cleanup(func() { nn.SetThreads(0) })
	return n
}
