//go:build !purego

package nn

import "golang.org/x/sys/cpu"

//go:noescape
func maxStridedAVX512(dst, src *float32, c, n, ds, ss int)

// maxStrided sets dst[i*ds+j] = max(dst[i*ds+j], src[i*ss+j]) for i < n, j < c.
func maxStrided(dst, src []float32, c, n, ds, ss int) {
	if !cpu.X86.HasAVX512F {
		maxStridedGo(dst, src, c, n, ds, ss)
		return
	}
	maxStridedAsm(dst, src, c, n, ds, ss)
}

// maxStridedAsm is maxStrided in AVX-512 assembly; the CPU must have AVX-512F.
func maxStridedAsm(dst, src []float32, c, n, ds, ss int) {
	if n == 0 {
		return
	}
	// The assembly indexes without bounds checks: check the last row here.
	_, _ = dst[(n-1)*ds+c-1], src[(n-1)*ss+c-1]
	maxStridedAVX512(&dst[0], &src[0], c, n, ds, ss)
}
