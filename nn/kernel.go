package nn

// kernel is a GEMM micro-kernel: it computes one tile of at most rows output
// pixels × panelWidth output channels.
type kernel struct {
	name     string
	rows     int
	usesPtrs bool // reads tile.ptrs rather than tile.runs
	tile     func(t *tile)
}

// tile is one micro-kernel call. Its A operand is indirect: for each tap
// (a contiguous run of K) and each row, where that row's run is in the
// input, so the convolution needs no im2col buffer.
type tile struct {
	runs [][]float32 // [tap*rows+r]: the run, or nil for zero padding; rows ≥ mr unset
	ptrs []*float32  // instead of runs, for assembly: their starts; rows ≥ mr repeat a valid one
	// rowStride > 0: ptrs has only row 0's starts, [tap], and row r's run
	// is r*rowStride floats further on (a full tile inside the input).
	rowStride int
	taps      int
	run       int       // floats per tap
	b         []float32 // packed weight panel, taps*run*panelWidth
	bias      []float32 // panelWidth
	c         []float32 // output, from the tile's first element
	res       []float32 // residual laid out like c, or nil
	ldc       int       // floats between output rows (in c and res)
	mr        int       // valid rows
	nr        int       // valid columns
	relu      bool
}

// kernels lists the micro-kernels this CPU can run, best first.
func kernels() []*kernel {
	return append(asmKernels(), goKernel)
}

// selected is the kernel Forward uses.
var selected = kernels()[0]
