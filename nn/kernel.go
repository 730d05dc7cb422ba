package nn

// kernel is a GEMM micro-kernel: it computes one tile of at most rows output
// pixels × panelWidth output channels.
type kernel struct {
	name     string
	rows     int
	usesPtrs bool // reads tile.ptrs rather than tile.src and tile.offs
	tile     func(t *tile)
}

// tile is one micro-kernel call. Its A operand is indirect: for each tap
// (a contiguous run of K) and each row, where that row's run starts in the
// input, so the convolution needs no im2col buffer.
type tile struct {
	src  []float32  // the input the runs live in
	offs []int      // [tap*rows+r]: start of the run in src, or -1 for zero padding; rows ≥ mr unset
	ptrs []*float32 // instead of offs, for assembly: pointers, rows ≥ mr repeat a valid one
	taps int
	run  int       // floats per tap
	b    []float32 // packed weight panel, taps*run*panelWidth
	bias []float32 // panelWidth
	c    []float32 // output, from the tile's first element
	res  []float32 // residual laid out like c, or nil
	ldc  int       // floats between output rows (in c and res)
	mr   int       // valid rows
	nr   int       // valid columns
	relu bool
}

// kernels lists the micro-kernels this CPU can run, best first.
func kernels() []*kernel {
	return append(asmKernels(), goKernel)
}

// selected is the kernel Forward uses.
var selected = kernels()[0]
