package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

type convCase struct {
	n, h, w, cin, cout, k, stride, pad int
}

var convCases = []convCase{
	{1, 5, 7, 16, 40, 1, 1, 0},     // 1×1 stride 1, cout not a panel multiple
	{3, 8, 8, 64, 128, 1, 2, 0},    // downsample projection
	{1, 5, 7, 64, 64, 3, 1, 1},     // layer1-like, odd spatial
	{3, 9, 9, 20, 33, 3, 2, 1},     // 3×3 stride 2, odd channels
	{1, 13, 11, 3, 64, 7, 2, 3},    // stem
	{3, 10, 9, 3, 70, 7, 2, 3},     // stem, batch 3, edge panel
	{2, 6, 6, 5, 9, 3, 1, 0},       // small cin without padding
	{1, 7, 5, 17, 100, 3, 1, 1},    // K not a multiple of anything
	{1, 2, 2, 512, 512, 3, 1, 1},   // layer4 at 64×64: M = 4
	{1, 2, 2, 256, 512, 3, 2, 1},   // to a single pixel
	{3, 4, 4, 128, 256, 3, 2, 1},   // batch 3 stride 2
	{2, 3, 3, 1, 1, 3, 1, 1},       // 1 channel in and out
	{1, 1, 13, 32, 96, 1, 1, 0},    // M = 13 rows
	{1, 14, 14, 64, 64, 3, 1, 1},   // many row tiles
	{1, 5, 5, 1000, 31, 1, 1, 0},   // wide K, narrow N
	{1, 11, 11, 8, 32, 5, 3, 2},    // 5×5 stride 3
	{2, 4, 6, 3, 16, 3, 1, 1},      // small cin, 3×3
	{1, 2, 3, 3, 8, 7, 2, 3},       // stem window wider than the input
	{1, 9, 40, 3, 64, 7, 2, 3},     // stem with full tiles inside the input
	{1, 4, 26, 32, 64, 1, 2, 0},    // 1×1 stride 2, full tiles in a row
	{1, 3, 3, 40, 48, 3, 2, 0},     // stride 2 no pad
	{1, 1, 1, 512, 1000, 1, 1, 0},  // fc as conv
	{8, 1, 1, 512, 1000, 1, 1, 0},  // fc batch 8
	{1, 28, 28, 128, 128, 3, 1, 1}, // layer2 at 224 / 2
}

func TestConvKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range runnableKernels(t) {
		for _, cc := range convCases {
			for _, variant := range []struct{ res, relu bool }{{false, false}, {false, true}, {true, true}, {true, false}} {
				name := fmt.Sprintf("%s/%+v/res=%v/relu=%v", k.name, cc, variant.res, variant.relu)
				t.Run(name, func(t *testing.T) {
					w := randSlice(rng, cc.cout*cc.cin*cc.k*cc.k)
					bias := randSlice(rng, cc.cout)
					x := randTensor(rng, cc.n, cc.h, cc.w, cc.cin)
					conv := NewConv2D(w, bias, cc.cout, cc.cin, cc.k, cc.k, cc.stride, cc.pad)
					oh, ow := conv.OutSize(cc.h, cc.w)
					var res *Tensor
					if variant.res {
						res = randTensor(rng, cc.n, oh, ow, cc.cout)
					}
					xCopy := slices.Clone(x.Data)
					var dst Tensor
					conv.forward(k, &dst, x, res, variant.relu)
					if dst.N != cc.n || dst.H != oh || dst.W != ow || dst.C != cc.cout {
						t.Fatalf("dst shape %d×%d×%d×%d", dst.N, dst.H, dst.W, dst.C)
					}
					if !slices.Equal(x.Data, xCopy) {
						t.Fatal("x was modified")
					}
					want, mag := refConv(x, w, bias, cc.cout, cc.k, cc.k, cc.stride, cc.pad, res, variant.relu)
					checkClose(t, dst.Data, want, mag)
				})
			}
		}
	}
}

func TestConvReusesDst(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w, bias := randSlice(rng, 32*16*9), randSlice(rng, 32)
	conv := NewConv2D(w, bias, 32, 16, 3, 3, 1, 1)
	x := randTensor(rng, 1, 6, 6, 16)
	buf := make([]float32, 10000)
	for i := range buf {
		buf[i] = 1e30 // garbage that must be overwritten
	}
	dst := Tensor{Data: buf}
	conv.Forward(&dst, x, nil, false)
	if &dst.Data[0] != &buf[0] || len(dst.Data) != 6*6*32 {
		t.Fatalf("dst not reused: len %d", len(dst.Data))
	}
	want, mag := refConv(x, w, bias, 32, 3, 3, 1, 1, nil, false)
	checkClose(t, dst.Data, want, mag)
}

func TestConvConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w, bias := randSlice(rng, 64*64*9), randSlice(rng, 64)
	conv := NewConv2D(w, bias, 64, 64, 3, 3, 1, 1)
	x := randTensor(rng, 2, 9, 9, 64)
	want, mag := refConv(x, w, bias, 64, 3, 3, 1, 1, nil, true)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range errs {
		wg.Go(func() {
			var dst Tensor
			for range 20 {
				conv.Forward(&dst, x, nil, true)
			}
			for i := range want {
				if d := float64(dst.Data[i]) - want[i]; d*d > tolerance*tolerance*(1+mag[i])*(1+mag[i]) {
					errs[g] = fmt.Errorf("goroutine %d: element %d = %v, want %v", g, i, dst.Data[i], want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewConv2DRejectsBadSizes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for 7×7 weights declared as 2×2")
		}
	}()
	NewConv2D(make([]float32, 64*3*7*7), make([]float32, 64), 64, 3, 2, 2, 1, 3)
}

// TestPackedRoundTrip checks that a layer rebuilt from its packed weights
// (as resnet's packed models do) computes what the original does, and what
// the reference convolution of the unpacked weights gives.
func TestPackedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	cw, cb := randSlice(rng, 40*3*49), randSlice(rng, 40)
	conv := NewConv2D(cw, cb, 40, 3, 7, 7, 2, 3)
	w, b := conv.Packed()
	again, err := NewConv2DPacked(w, b, 40, 3, 7, 7, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(rng, 2, 17, 15, 3)
	var want, got Tensor
	conv.Forward(&want, x, nil, true)
	again.Forward(&got, x, nil, true)
	if !slices.Equal(got.Data, want.Data) {
		t.Fatal("packed round trip changed the output")
	}
	ref, mag := refConv(x, cw, cb, 40, 7, 7, 2, 3, nil, true)
	checkClose(t, got.Data, ref, mag)
	if _, err := NewConv2DPacked(w[1:], b, 40, 3, 7, 7, 2, 3); err == nil {
		t.Fatal("short packed weights accepted")
	}

	linW, linB := randSlice(rng, 10*7), randSlice(rng, 10)
	lin := NewLinear(linW, linB, 10, 7)
	lw, lb := lin.Packed()
	lin2, err := NewLinearPacked(lw, lb, 10, 7)
	if err != nil {
		t.Fatal(err)
	}
	in := randSlice(rng, 3*7)
	out := lin2.Forward(nil, in, 3)
	if !slices.Equal(lin.Forward(nil, in, 3), out) {
		t.Fatal("packed Linear round trip changed the output")
	}
	ref, mag = refConv(&Tensor{N: 3, H: 1, W: 1, C: 7, Data: in}, linW, linB, 10, 1, 1, 1, 0, nil, false)
	checkClose(t, out, ref, mag)
}

// TestSetThreads: one thread gives the same result as one per core (and the
// reference's), and workers() follows the setting.
func TestSetThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w, bias := randSlice(rng, 64*32*9), randSlice(rng, 64)
	conv := NewConv2D(w, bias, 64, 32, 3, 3, 1, 1)
	x := randTensor(rng, 2, 14, 14, 32)
	var all, one Tensor
	conv.Forward(&all, x, nil, true)
	SetThreads(1)
	defer SetThreads(0)
	if workers() != 1 {
		t.Fatalf("workers() = %d after SetThreads(1)", workers())
	}
	conv.Forward(&one, x, nil, true)
	if !slices.Equal(all.Data, one.Data) {
		t.Fatal("one thread and all threads disagree")
	}
	want, mag := refConv(x, w, bias, 64, 3, 3, 1, 1, nil, true)
	checkClose(t, one.Data, want, mag)
}
