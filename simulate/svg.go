package simulate

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The charts are plain SVG written by hand: a line chart (step functions
// over time, CDFs) and a scatter chart. Both lay themselves out from the
// widths of their text (textwidth.go), and tell their series apart by
// colour, dash pattern or marker shape, and a legend. Series elements and
// their legend entries carry data-series="NAME", so tests can match them.

type point struct{ x, y float64 }

type series struct {
	name   string  // legend text, e.g. "policy a"
	same   string  // an earlier series this one coincides with, named in the legend
	points []point // a step function: y holds from x to the next point's x
}

type lineChart struct {
	title, subtitle string
	xLabel, yLabel  string
	xMax, yMax      float64 // the data's extent; the axes round up from it
	yCounts         bool    // y is a count: whole ticks only
	series          []series
}

type scatterPoint struct {
	name   string // the label beside the marker
	legend string
	x, y   float64
}

type scatterChart struct {
	title, subtitle string
	xLabel, yLabel  string
	points          []scatterPoint
}

// Colours that stay apart for colour-blind readers (Okabe–Ito, with grey
// for its yellow, which is unreadable on white).
var palette = [...]string{"#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#000000", "#999999"}

// dashes tell lines apart where colours cannot: lines drawn over each
// other, grey print, colour-blind readers.
var dashes = [...]string{"", "9 4", "2 3", "12 4 3 4", "6 2 2 2 2 2", "4 4", "16 4", "1 5"}

type marker int

const (
	circle marker = iota
	square
	triangle
	diamond
	triangleDown
	plus
	cross
	asterisk
	numMarkers
)

const (
	fontSize    = 12.0
	titleSize   = 15.0
	chartHeight = 440.0
	pad         = 12.0  // around the figure
	minPlotW    = 520.0 // the plot area, unless the title asks for more
	sampleW     = 30.0  // a legend's line sample
	legendRow   = 20.0
	inset       = 6.0 // between the plot area's frame and its data, so lines at 0 or the top stay clear of it
)

// frame is a chart's layout: where the plot area and legend go, and the
// axes' scales.
type frame struct {
	width, height      float64
	left, top          float64 // of the plot area
	plotW, plotH       float64
	legendX            float64
	xMax, xStep        float64
	yMax, yStep        float64
	title, subtitle    string
	xLabel, yLabel     string
	legendW, legendGap float64
}

// newFrame lays out a chart around the widths of its text: the y tick
// labels set the left margin, the longest legend entry the legend's
// width, and the title and subtitle the least width of the figure.
func newFrame(title, subtitle, xLabel, yLabel string, xMax, yMax float64, yCounts bool, legend []string, legendLead float64) frame {
	f := frame{height: chartHeight, title: title, subtitle: subtitle, xLabel: xLabel, yLabel: yLabel}
	f.xMax, f.xStep = niceAxis(xMax)
	f.yMax, f.yStep = niceAxis(yMax)
	if yCounts && f.yStep < 1 {
		f.yMax, f.yStep = math.Ceil(f.yMax), 1
	}
	yTicks := 0.0
	for _, y := range ticks(f.yMax, f.yStep) {
		yTicks = max(yTicks, textWidth(tickLabel(y, f.yStep), fontSize, false))
	}
	f.top = 40
	if subtitle != "" {
		f.top = 58
	}
	f.left = pad + fontSize + 10 + yTicks + 8 // the rotated y label, a gap, the ticks, a gap
	f.plotH = f.height - f.top - 56           // x ticks and the x label below
	lastTick := textWidth(tickLabel(f.xMax, f.xStep), fontSize, false)
	f.legendGap = max(18, lastTick/2+10)
	for _, l := range legend {
		f.legendW = max(f.legendW, textWidth(l, fontSize, false))
	}
	f.legendW += legendLead + 8 + pad
	f.plotW = max(minPlotW, textWidth(xLabel, fontSize, false)+2*pad)
	need := max(textWidth(title, titleSize, true), textWidth(subtitle, fontSize, false)) + 2*pad
	if w := f.left + f.plotW + f.legendGap + f.legendW; w < need {
		f.plotW += need - w
	}
	f.width = math.Ceil(f.left + f.plotW + f.legendGap + f.legendW)
	f.legendX = f.left + f.plotW + f.legendGap
	return f
}

func (f frame) px(x float64) float64 { return f.left + inset + x/f.xMax*(f.plotW-2*inset) }
func (f frame) py(y float64) float64 { return f.top + f.plotH - inset - y/f.yMax*(f.plotH-2*inset) }

// open writes the document's start: background, titles, grid, axes.
func (f frame) open(w *bufio.Writer) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="%s" font-size="%g">`+"\n",
		f.width, f.height, f.width, f.height, fontFamily, fontSize)
	fmt.Fprintf(w, `<rect width="%g" height="%g" fill="white"/>`+"\n", f.width, f.height)
	fmt.Fprintf(w, `<text x="%g" y="24" font-size="%g" font-weight="bold">%s</text>`+"\n", pad, titleSize, escape(f.title))
	if f.subtitle != "" {
		fmt.Fprintf(w, `<text x="%g" y="43" fill="#444">%s</text>`+"\n", pad, escape(f.subtitle))
	}
	for _, x := range ticks(f.xMax, f.xStep) {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", f.px(x), f.top, f.px(x), f.top+f.plotH)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", f.px(x), f.top+f.plotH+16, tickLabel(x, f.xStep))
	}
	for _, y := range ticks(f.yMax, f.yStep) {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", f.left, f.py(y), f.left+f.plotW, f.py(y))
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", f.left-8, f.py(y)+4, tickLabel(y, f.yStep))
	}
	fmt.Fprintf(w, `<rect class="plot-area" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", f.left, f.top, f.plotW, f.plotH)
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", f.left+f.plotW/2, f.height-14, escape(f.xLabel))
	fmt.Fprintf(w, `<text transform="translate(%g %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n",
		pad+fontSize-2, f.top+f.plotH/2, escape(f.yLabel))
	// Lines are clipped to the plot area, so a cut time axis ends them
	// at its edge.
	fmt.Fprintf(w, `<defs><clipPath id="plot-area"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath></defs>`+"\n",
		f.left, f.top, f.plotW, f.plotH)
}

func (c lineChart) legend() []string {
	var out []string
	for _, s := range c.series {
		l := s.name
		if s.same != "" {
			l += " (same line as " + s.same + ")"
		}
		out = append(out, l)
	}
	return out
}

// render writes c as a self-contained SVG document.
func (c lineChart) render(w *bufio.Writer) {
	legend := c.legend()
	f := newFrame(c.title, c.subtitle, c.xLabel, c.yLabel, c.xMax, c.yMax, c.yCounts, legend, sampleW)
	f.open(w)
	fmt.Fprintln(w, `<g clip-path="url(#plot-area)">`)
	for i, s := range c.series {
		var b strings.Builder
		for j, pt := range decimate(s.points, f.xMax/(f.plotW-2*inset)) {
			if j > 0 {
				b.WriteString(" ")
			}
			b.WriteString(strconv.FormatFloat(f.px(pt.x), 'f', 1, 64) + "," + strconv.FormatFloat(f.py(pt.y), 'f', 1, 64))
		}
		fmt.Fprintf(w, `<polyline data-series="%s" fill="none" stroke="%s" stroke-width="2.5"%s stroke-linejoin="round" points="%s"><title>%s</title></polyline>`+"\n",
			escape(s.name), palette[i%len(palette)], dashAttr(i), b.String(), escape(legend[i]))
	}
	fmt.Fprintln(w, `</g>`)
	for i, s := range c.series {
		y := f.top + 14 + legendRow*float64(i)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"%s/>`+"\n",
			f.legendX, y-4, f.legendX+sampleW, y-4, palette[i%len(palette)], dashAttr(i))
		fmt.Fprintf(w, `<text class="legend" data-series="%s" x="%.1f" y="%.1f">%s</text>`+"\n", escape(s.name), f.legendX+sampleW+8, y, escape(legend[i]))
	}
	fmt.Fprintln(w, "</svg>")
}

func dashAttr(i int) string {
	if d := dashes[i%len(dashes)]; d != "" {
		return ` stroke-dasharray="` + d + `"`
	}
	return ""
}

// render writes c as a self-contained SVG document: hollow markers, so
// that points drawn over each other all show, each labelled with its name
// (or the names of all the points it coincides with), and a legend with
// each point's values.
func (c scatterChart) render(w *bufio.Writer) {
	var legend []string
	xMax, yMax := 0.0, 0.0
	for _, p := range c.points {
		legend = append(legend, p.legend)
		xMax, yMax = max(xMax, p.x), max(yMax, p.y)
	}
	// Room beyond the farthest point for its marker and label.
	f := newFrame(c.title, c.subtitle, c.xLabel, c.yLabel, xMax*1.08, yMax*1.08, false, legend, 2*sampleW/3)
	f.open(w)
	for i, p := range c.points {
		drawMarker(w, marker(i%int(numMarkers)), f.px(p.x), f.py(p.y), palette[i%len(palette)], p.name)
	}
	for _, l := range placeLabels(f, c.points) {
		fmt.Fprintf(w, `<text class="point-label" data-series="%s" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`+"\n",
			escape(l.series), l.x, l.y, l.anchor, escape(l.text))
	}
	for i, p := range c.points {
		y := f.top + 14 + legendRow*float64(i)
		drawMarker(w, marker(i%int(numMarkers)), f.legendX+sampleW/3, y-4, palette[i%len(palette)], "")
		fmt.Fprintf(w, `<text class="legend" data-series="%s" x="%.1f" y="%.1f">%s</text>`+"\n", escape(p.name), f.legendX+2*sampleW/3+8, y, escape(legend[i]))
	}
	fmt.Fprintln(w, "</svg>")
}

func drawMarker(w *bufio.Writer, m marker, x, y float64, colour, name string) {
	attrs := fmt.Sprintf(`fill="none" stroke="%s" stroke-width="2"`, colour)
	if name != "" {
		attrs = `data-series="` + escape(name) + `" ` + attrs
	}
	poly := func(pts ...float64) {
		var b strings.Builder
		for i := 0; i < len(pts); i += 2 {
			fmt.Fprintf(&b, "%.1f,%.1f ", x+pts[i], y+pts[i+1])
		}
		fmt.Fprintf(w, `<polygon %s points="%s"/>`+"\n", attrs, strings.TrimSpace(b.String()))
	}
	path := func(d string) {
		fmt.Fprintf(w, `<path %s d="%s"/>`+"\n", attrs, d)
	}
	switch m {
	case circle:
		fmt.Fprintf(w, `<circle %s cx="%.1f" cy="%.1f" r="5"/>`+"\n", attrs, x, y)
	case square:
		fmt.Fprintf(w, `<rect %s x="%.1f" y="%.1f" width="9" height="9"/>`+"\n", attrs, x-4.5, y-4.5)
	case triangle:
		poly(0, -6, 5.5, 4, -5.5, 4)
	case diamond:
		poly(0, -6.5, 6.5, 0, 0, 6.5, -6.5, 0)
	case triangleDown:
		poly(0, 6, 5.5, -4, -5.5, -4)
	case plus:
		path(fmt.Sprintf("M%.1f %.1fH%.1fM%.1f %.1fV%.1f", x-6, y, x+6, x, y-6, y+6))
	case cross:
		path(fmt.Sprintf("M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f", x-5, y-5, x+5, y+5, x-5, y+5, x+5, y-5))
	default:
		path(fmt.Sprintf("M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f",
			x-6, y, x+6, x, y-6, y+6, x-4, y-4, x+4, y+4, x-4, y+4, x+4, y-4))
	}
}

type label struct {
	series, text string
	x, y         float64
	anchor       string
}

type box struct{ x0, y0, x1, y1 float64 }

func (a box) overlaps(b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }

// placeLabels labels the points: points whose markers overlap share one
// label naming them all, and each label goes right, left, above or below
// its point, whichever first stays inside the plot area and clear of the
// markers and the labels placed before it.
func placeLabels(f frame, pts []scatterPoint) []label {
	const r = 7 // a marker's half-size, with its stroke
	type group struct {
		x, y  float64
		names []string
	}
	var groups []group
	var markers []box
	for _, p := range pts {
		x, y := f.px(p.x), f.py(p.y)
		markers = append(markers, box{x - r, y - r, x + r, y + r})
		i := 0
		for i < len(groups) && (math.Abs(groups[i].x-x) > r || math.Abs(groups[i].y-y) > r) {
			i++
		}
		if i == len(groups) {
			groups = append(groups, group{x: x, y: y})
		}
		groups[i].names = append(groups[i].names, p.name)
	}
	area := box{f.left, f.top, f.left + f.plotW, f.top + f.plotH}
	var placed []box
	var out []label
	for _, g := range groups {
		text := strings.Join(g.names, ", ")
		tw := textWidth(text, fontSize, false)
		type spot struct {
			x, y   float64 // the text's anchor point and baseline
			anchor string
			b      box
		}
		spots := []spot{
			{g.x + r + 3, g.y + 4, "start", box{g.x + r + 3, g.y - 8, g.x + r + 3 + tw, g.y + 6}},
			{g.x - r - 3, g.y + 4, "end", box{g.x - r - 3 - tw, g.y - 8, g.x - r - 3, g.y + 6}},
			{g.x, g.y - r - 5, "middle", box{g.x - tw/2, g.y - r - 17, g.x + tw/2, g.y - r - 3}},
			{g.x, g.y + r + 14, "middle", box{g.x - tw/2, g.y + r + 2, g.x + tw/2, g.y + r + 16}},
		}
		best := spots[0]
	search:
		for _, s := range spots {
			if s.b.x0 < area.x0 || s.b.y0 < area.y0 || s.b.x1 > area.x1 || s.b.y1 > area.y1 {
				continue
			}
			for _, o := range append(placed, markers...) {
				if s.b.overlaps(o) {
					continue search
				}
			}
			best = s
			break
		}
		placed = append(placed, best.b)
		out = append(out, label{g.names[0], text, best.x, best.y, best.anchor})
	}
	return out
}

// decimate turns a step function into the corners of its line, keeping
// within each span of dx only the first, lowest, highest and last values,
// so a day of arrivals still draws in a few thousand points.
func decimate(pts []point, dx float64) []point {
	var out []point
	emit := func(x, y float64) {
		if n := len(out); n > 0 && out[n-1].y != y {
			out = append(out, point{x, out[n-1].y}) // the step's horizontal run
		}
		if n := len(out); n == 0 || out[n-1] != (point{x, y}) {
			out = append(out, point{x, y})
		}
	}
	for i := 0; i < len(pts); {
		start := pts[i]
		lo, hi := start.y, start.y
		j := i + 1
		for ; j < len(pts) && pts[j].x < start.x+dx; j++ {
			lo, hi = min(lo, pts[j].y), max(hi, pts[j].y)
		}
		last := pts[j-1].y
		emit(start.x, start.y)
		if j-i > 1 {
			// The span's extremes, drawn as one vertical stroke.
			emit(start.x, lo)
			emit(start.x, hi)
			emit(start.x, last)
		}
		i = j
	}
	return out
}

// niceAxis rounds max up to a multiple of a 1-2-5 step giving 4 to 10 ticks.
func niceAxis(max float64) (top, step float64) {
	if max <= 0 || math.IsNaN(max) {
		return 1, 0.2
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(max/step-1e-9) * step, step
}

// ticks are the multiples of step from 0 to top.
func ticks(top, step float64) []float64 {
	var out []float64
	for i := 0; float64(i)*step <= top+step/2; i++ {
		out = append(out, float64(i)*step)
	}
	return out
}

func tickLabel(v, step float64) string {
	decimals := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
