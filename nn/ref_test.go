package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randSlice returns n uniform values in [-1, 1).
func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

func randTensor(rng *rand.Rand, n, h, w, c int) *Tensor {
	return &Tensor{N: n, H: h, W: w, C: c, Data: randSlice(rng, n*h*w*c)}
}

// refConv is the textbook convolution in float64. It returns the outputs and,
// per output, the sum of the magnitudes of every term that went into it: the
// scale that float32 rounding errors are relative to.
func refConv(x *Tensor, w, bias []float32, cout, kh, kw, stride, pad int, res *Tensor, relu bool) (out, mag []float64) {
	oh, ow := (x.H+2*pad-kh)/stride+1, (x.W+2*pad-kw)/stride+1
	out = make([]float64, x.N*oh*ow*cout)
	mag = make([]float64, len(out))
	for n := range x.N {
		for oy := range oh {
			for ox := range ow {
				for o := range cout {
					i := ((n*oh+oy)*ow+ox)*cout + o
					s, m := float64(bias[o]), math.Abs(float64(bias[o]))
					for ci := range x.C {
						for ky := range kh {
							for kx := range kw {
								iy, ix := oy*stride-pad+ky, ox*stride-pad+kx
								if iy < 0 || iy >= x.H || ix < 0 || ix >= x.W {
									continue
								}
								t := float64(w[((o*x.C+ci)*kh+ky)*kw+kx]) * float64(x.Data[((n*x.H+iy)*x.W+ix)*x.C+ci])
								s += t
								m += math.Abs(t)
							}
						}
					}
					if res != nil {
						s += float64(res.Data[i])
						m += math.Abs(float64(res.Data[i]))
					}
					if relu {
						s = max(s, 0)
					}
					out[i], mag[i] = s, m
				}
			}
		}
	}
	return out, mag
}

// tolerance bounds |got-want| / (1 + Σ|terms|): float32 has a 6e-8 unit
// roundoff, and a sum of K terms accumulates about √K of them (K ≤ 4608 here).
const tolerance = 2e-5

// checkClose fails t unless got matches want within tolerance of mag.
func checkClose(t *testing.T, got []float32, want, mag []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("len %d, want %d", len(got), len(want))
	}
	worst, at := 0.0, 0
	for i := range want {
		e := math.Abs(float64(got[i])-want[i]) / (1 + mag[i])
		if e > worst || math.IsNaN(e) {
			worst, at = e, i
		}
	}
	if worst > tolerance || math.IsNaN(worst) {
		t.Fatalf("element %d = %v, want %v (relative error %.2g > %.2g)", at, got[at], want[at], worst, tolerance)
	}
}

// runnableKernels returns the GEMM micro-kernels this CPU runs, each to be
// checked against the references above, and logs which of this build's
// kernels are checked and which the CPU cannot run.
func runnableKernels(t *testing.T) []*kernel {
	t.Helper()
	ks := kernels()
	for _, k := range builtKernels() {
		if slices.Contains(ks, k) {
			t.Logf("checking kernel %s", k.name)
		} else {
			t.Logf("not checking kernel %s: this CPU cannot run it", k.name)
		}
	}
	return ks
}
