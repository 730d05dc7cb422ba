package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMaxPool2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, cc := range []struct{ n, h, w, c, k, s, p int }{
		{1, 8, 8, 64, 3, 2, 1}, // ResNet's, even size
		{3, 7, 5, 3, 3, 2, 1},  // odd sizes: the last window hangs over the border
		{1, 1, 1, 5, 3, 2, 1},  // a single pixel, all border
		{2, 6, 6, 17, 2, 2, 0}, // no padding
		{1, 9, 9, 8, 3, 1, 1},  // stride 1
	} {
		t.Run(fmt.Sprintf("%+v", cc), func(t *testing.T) {
			x := randTensor(rng, cc.n, cc.h, cc.w, cc.c)
			for i := range x.Data {
				x.Data[i] -= 2 // all negative: zero padding would win, -inf must not
			}
			var dst Tensor
			MaxPool2D(&dst, x, cc.k, cc.s, cc.p)
			oh, ow := (cc.h+2*cc.p-cc.k)/cc.s+1, (cc.w+2*cc.p-cc.k)/cc.s+1
			if dst.N != cc.n || dst.H != oh || dst.W != ow || dst.C != cc.c {
				t.Fatalf("shape %d×%d×%d×%d, want %d×%d×%d×%d", dst.N, dst.H, dst.W, dst.C, cc.n, oh, ow, cc.c)
			}
			for n := range cc.n {
				for oy := range oh {
					for ox := range ow {
						for c := range cc.c {
							want := float32(math.Inf(-1))
							for ky := range cc.k {
								for kx := range cc.k {
									y, xx := oy*cc.s-cc.p+ky, ox*cc.s-cc.p+kx
									if y >= 0 && y < cc.h && xx >= 0 && xx < cc.w {
										want = max(want, x.Data[((n*cc.h+y)*cc.w+xx)*cc.c+c])
									}
								}
							}
							if got := dst.Data[((n*oh+oy)*ow+ox)*cc.c+c]; got != want {
								t.Fatalf("[%d,%d,%d,%d] = %v, want %v", n, oy, ox, c, got, want)
							}
						}
					}
				}
			}
		})
	}
}

func TestGlobalAvgPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, cc := range []struct{ n, h, w, c int }{{1, 7, 7, 512}, {3, 2, 2, 512}, {2, 5, 3, 7}, {1, 1, 1, 9}} {
		x := randTensor(rng, cc.n, cc.h, cc.w, cc.c)
		buf := make([]float32, cc.n*cc.c+5)
		got := GlobalAvgPool(buf, x)
		if len(got) != cc.n*cc.c || &got[0] != &buf[0] {
			t.Fatalf("%+v: len %d, reused %v", cc, len(got), &got[0] == &buf[0])
		}
		want, mag := make([]float64, len(got)), make([]float64, len(got))
		for n := range cc.n {
			for p := range cc.h * cc.w {
				for c := range cc.c {
					v := float64(x.Data[(n*cc.h*cc.w+p)*cc.c+c])
					want[n*cc.c+c] += v / float64(cc.h*cc.w)
					mag[n*cc.c+c] += math.Abs(v) / float64(cc.h*cc.w)
				}
			}
		}
		checkClose(t, got, want, mag)
	}
}

// maxKernel is one implementation of maxStrided, named for test output.
type maxKernel struct {
	name string
	f    func(dst, src []float32, c, n, ds, ss int)
}

// maxStridedRef is maxStrided written out plainly: the reference the kernels
// are checked against.
func maxStridedRef(dst, src []float32, c, n, ds, ss int) {
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			if v := src[i*ss+j]; v > dst[i*ds+j] {
				dst[i*ds+j] = v
			}
		}
	}
}

// TestMaxStrided checks every max kernel this build and CPU can run (the Go
// one, the assembly one where the CPU has it, and maxStrided, which picks
// between them for MaxPool2D) against maxStridedRef on odd lengths and
// strides.
func TestMaxStrided(t *testing.T) {
	asm := asmMaxKernels()
	if len(asm) == 0 {
		t.Log("no assembly max kernel in this build or on this CPU: maxStrided is the Go one")
	}
	impls := append([]maxKernel{{"go", maxStridedGo}, {"maxStrided", maxStrided}}, asm...)
	for _, im := range impls {
		t.Logf("checking %s", im.name)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, cc := range []struct{ c, n, ds, ss int }{
		{64, 7, 64, 128}, {5, 3, 9, 5}, {100, 1, 0, 0}, {17, 4, 20, 33}, {16, 2, 16, 16}, {48, 3, 50, 48}, {1000, 2, 1003, 1000},
	} {
		src := randSlice(rng, (cc.n-1)*cc.ss+cc.c)
		dst := randSlice(rng, (cc.n-1)*cc.ds+cc.c+3)
		want := slices.Clone(dst)
		maxStridedRef(want, src, cc.c, cc.n, cc.ds, cc.ss)
		for _, im := range impls {
			got := slices.Clone(dst)
			im.f(got, src, cc.c, cc.n, cc.ds, cc.ss)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s %+v: dst[%d] = %v, want %v", im.name, cc, i, got[i], want[i])
					break
				}
			}
		}
	}
}
