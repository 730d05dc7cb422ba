package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range runnableKernels(t) {
		for _, cc := range []struct{ n, out, in int }{{1, 1000, 512}, {8, 1000, 512}, {3, 10, 7}, {2, 33, 65}, {5, 1, 1}} {
			t.Run(fmt.Sprintf("%s/%+v", k.name, cc), func(t *testing.T) {
				w, b := randSlice(rng, cc.out*cc.in), randSlice(rng, cc.out)
				x := randSlice(rng, cc.n*cc.in)
				l := NewLinear(w, b, cc.out, cc.in)
				buf := make([]float32, cc.n*cc.out)
				got := l.forward(k, buf, x, cc.n)
				if len(got) != cc.n*cc.out || &got[0] != &buf[0] {
					t.Fatalf("len %d, reused %v", len(got), &got[0] == &buf[0])
				}
				want, mag := make([]float64, len(got)), make([]float64, len(got))
				for n := range cc.n {
					for o := range cc.out {
						s, m := float64(b[o]), math.Abs(float64(b[o]))
						for i := range cc.in {
							p := float64(w[o*cc.in+i]) * float64(x[n*cc.in+i])
							s, m = s+p, m+math.Abs(p)
						}
						want[n*cc.out+o], mag[n*cc.out+o] = s, m
					}
				}
				checkClose(t, got, want, mag)
			})
		}
	}
}
