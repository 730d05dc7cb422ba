package nn

import "fmt"

// PackFormat names the layout NewConv2D packs weights into. Files that store
// packed weights (resnet's packed models) record it and are rejected when it
// changes; bump it with any change to packWeights or packBias.
const PackFormat = 1

// Packed returns the layer's weights and bias in the packed layout, for
// saving. The slices are the layer's own: do not modify them.
func (c *Conv2D) Packed() (weight, bias []float32) { return c.w, c.bias }

// NewConv2DPacked makes a layer from weights that NewConv2D packed earlier
// (see Packed), without copying them: they may be memory-mapped read-only.
func NewConv2DPacked(weight, bias []float32, cout, cin, kh, kw, stride, pad int) (*Conv2D, error) {
	panels := (cout + panelWidth - 1) / panelWidth
	if cout < 1 || cin < 1 || kh < 1 || kw < 1 || stride < 1 || pad < 0 ||
		len(weight) != panels*kh*kw*cin*panelWidth || len(bias) != panels*panelWidth {
		return nil, fmt.Errorf("nn: packed conv with %d weights, %d biases does not fit cout=%d cin=%d kh=%d kw=%d stride=%d pad=%d",
			len(weight), len(bias), cout, cin, kh, kw, stride, pad)
	}
	rowRuns := cin < 16 && kw > 1
	run := cin
	if rowRuns {
		run = kw * cin
	}
	return &Conv2D{
		cout: cout, cin: cin, kh: kh, kw: kw, stride: stride, pad: pad,
		w: weight, bias: bias,
		zero:    make([]float32, run),
		rowRuns: rowRuns,
	}, nil
}

// Packed returns the layer's packed weights and bias (see Conv2D.Packed).
func (l *Linear) Packed() (weight, bias []float32) { return l.conv.Packed() }

// NewLinearPacked makes a layer from Linear.Packed's output without copying.
func NewLinearPacked(weight, bias []float32, out, in int) (*Linear, error) {
	c, err := NewConv2DPacked(weight, bias, out, in, 1, 1, 1, 0)
	if err != nil {
		return nil, err
	}
	return &Linear{conv: c, out: out, in: in}, nil
}
