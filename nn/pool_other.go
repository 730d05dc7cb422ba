//go:build purego || !amd64

package nn

// maxStrided sets dst[i*ds+j] = max(dst[i*ds+j], src[i*ss+j]) for i < n, j < c.
func maxStrided(dst, src []float32, c, n, ds, ss int) {
	maxStridedGo(dst, src, c, n, ds, ss)
}
