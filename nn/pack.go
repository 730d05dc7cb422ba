package nn

// panelWidth is how many output channels one packed weight panel holds: the
// micro-kernels' tile width (two zmm registers of float32).
const panelWidth = 32

// packWeights reorders torch's [cout][cin][kh][kw] weights into panels of
// panelWidth output channels, each [kh][kw][cin][panelWidth]: the order in
// which the micro-kernels walk K, so that one tile reads its panel
// sequentially. Columns past cout are zero.
func packWeights(w []float32, cout, cin, kh, kw int) []float32 {
	k := kh * kw * cin
	panels := (cout + panelWidth - 1) / panelWidth
	out := make([]float32, panels*k*panelWidth)
	for o := range cout {
		panel := out[o/panelWidth*k*panelWidth:]
		j := o % panelWidth
		for ci := range cin {
			for ky := range kh {
				for kx := range kw {
					kk := (ky*kw+kx)*cin + ci
					panel[kk*panelWidth+j] = w[((o*cin+ci)*kh+ky)*kw+kx]
				}
			}
		}
	}
	return out
}

// packBias pads bias to whole panels.
func packBias(bias []float32, cout int) []float32 {
	panels := (cout + panelWidth - 1) / panelWidth
	out := make([]float32, panels*panelWidth)
	copy(out, bias[:cout])
	return out
}
