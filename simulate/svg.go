package simulate

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Plot files WritePlots writes.
const (
	InstancesPlot = "instances.svg"
	DepthPlot     = "depth.svg"
	LatencyPlot   = "latency-cdf.svg"
)

// WritePlots draws the results into dir, which it creates: instances
// (pending + running) and queue depth over time, and the latency CDF, one
// line per policy. It returns the files' paths.
func WritePlots(dir, title string, results []*Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	var end time.Duration
	for _, r := range results {
		if n := len(r.Timeline); n > 0 {
			end = max(end, r.Timeline[n-1].At)
		}
	}
	plots := map[string]plot{
		InstancesPlot: timeline("Instances pending or running — "+title, "instances", end, results, Sample.Active),
		DepthPlot:     timeline("Queue depth (waiting + in flight) — "+title, "requests", end, results, func(s Sample) int { return s.Depth }),
		LatencyPlot:   latencyCDF("Latency CDF — "+title, results),
	}
	var paths []string
	for _, name := range []string{InstancesPlot, DepthPlot, LatencyPlot} {
		path := filepath.Join(dir, name)
		if err := writeFile(path, plots[name]); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeFile(path string, p plot) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	w := bufio.NewWriter(f)
	p.render(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	return nil
}

type point struct{ x, y float64 }

type series struct {
	name   string
	points []point // a step function: y holds from x to the next point's x
}

type plot struct {
	title, xLabel, yLabel string
	xMax, yMax            float64
	series                []series
}

func timeline(title, yLabel string, end time.Duration, results []*Result, value func(Sample) int) plot {
	p := plot{title: title, xLabel: "time (s)", yLabel: yLabel, xMax: end.Seconds()}
	for _, r := range results {
		s := series{name: r.Policy}
		for _, x := range r.Timeline {
			y := float64(value(x))
			s.points = append(s.points, point{x.At.Seconds(), y})
			p.yMax = max(p.yMax, y)
		}
		if n := len(s.points); n > 0 {
			s.points = append(s.points, point{p.xMax, s.points[n-1].y}) // the last state holds to the end
		}
		p.series = append(p.series, s)
	}
	return p
}

func latencyCDF(title string, results []*Result) plot {
	p := plot{title: title, xLabel: "latency (s)", yLabel: "fraction of requests answered", yMax: 1}
	for _, r := range results {
		s := series{name: r.Policy, points: []point{{0, 0}}}
		n := float64(r.Requests)
		for i, l := range r.Latencies {
			s.points = append(s.points, point{l.Seconds(), float64(i+1) / n})
			p.xMax = max(p.xMax, l.Seconds())
		}
		p.series = append(p.series, s)
	}
	for i := range p.series {
		pts := p.series[i].points
		p.series[i].points = append(pts, point{p.xMax, pts[len(pts)-1].y})
	}
	return p
}

// Colours that stay apart for colour-blind readers (Okabe–Ito).
var palette = []string{"#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#000000", "#F0E442"}

const (
	width, height                      = 760, 420
	marginL, marginR, marginT, marginB = 64, 110, 44, 52
	plotW, plotH                       = width - marginL - marginR, height - marginT - marginB
)

// render writes p as a self-contained SVG document.
func (p plot) render(w io.Writer) {
	xMax, xStep := niceAxis(p.xMax)
	yMax, yStep := niceAxis(p.yMax)
	px := func(x float64) float64 { return marginL + x/xMax*plotW }
	py := func(y float64) float64 { return marginT + plotH - y/yMax*plotH }

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(w, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, escape(p.title))

	// Grid and tick labels.
	for x := 0.0; x <= xMax+xStep/2; x += xStep {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", px(x), marginT, px(x), marginT+plotH)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), marginT+plotH+16, tickLabel(x, xStep))
	}
	for y := 0.0; y <= yMax+yStep/2; y += yStep {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, py(y), marginL+plotW, py(y))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, py(y)+4, tickLabel(y, yStep))
	}
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", marginL, marginT, plotW, plotH)
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", marginL+plotW/2, height-12, escape(p.xLabel))
	fmt.Fprintf(w, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginT+plotH/2, escape(p.yLabel))

	for i, s := range p.series {
		colour := palette[i%len(palette)]
		var b strings.Builder
		for j, pt := range decimate(s.points, xMax/plotW) {
			if j > 0 {
				b.WriteString(" ")
			}
			b.WriteString(strconv.FormatFloat(px(pt.x), 'f', 1, 64) + "," + strconv.FormatFloat(py(pt.y), 'f', 1, 64))
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-opacity="0.85" stroke-linejoin="round" points="%s"><title>%s</title></polyline>`+"\n",
			colour, b.String(), escape("policy "+s.name))
		ly := marginT + 14 + 20*i
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", marginL+plotW+12, ly-4, marginL+plotW+36, ly-4, colour)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", marginL+plotW+42, ly, escape("policy "+s.name))
	}
	fmt.Fprintln(w, "</svg>")
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

func tickLabel(v, step float64) string {
	decimals := max(0, int(math.Ceil(-math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
