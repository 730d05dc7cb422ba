package nn

// goKernel is the portable micro-kernel, used when no assembly one fits
// the CPU (or with the purego build tag).
var goKernel = &kernel{name: "go", rows: goRows, tile: tileGo}

// goRows is the Go kernel's tile height: four accumulator rows stay in cache.
const goRows = 4

func tileGo(t *tile) {
	var acc [goRows][panelWidth]float32
	for tap := 0; tap < t.taps; tap++ {
		b := t.b[tap*t.run*panelWidth : (tap+1)*t.run*panelWidth]
		for r := 0; r < t.mr; r++ {
			run := t.runs[tap*goRows+r]
			if run == nil {
				continue // zero padding adds nothing
			}
			acc := &acc[r]
			for k, a := range run[:t.run] {
				bk := (*[panelWidth]float32)(b[k*panelWidth:])
				for j := range acc {
					acc[j] += a * bk[j]
				}
			}
		}
	}
	for r := 0; r < t.mr; r++ {
		c := t.c[r*t.ldc : r*t.ldc+t.nr]
		for j := range c {
			v := acc[r][j] + t.bias[j]
			if t.res != nil {
				v += t.res[r*t.ldc+j]
			}
			if t.relu && v < 0 {
				v = 0
			}
			c[j] = v
		}
	}
}
