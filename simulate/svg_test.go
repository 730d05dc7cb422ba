package simulate

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

// svgElements parses an SVG file and returns its root's name and, per
// data-series name, the elements that carry it (legend entries by their
// class "legend").
func svgElements(t *testing.T, path string) (root string, series, legend map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	series, legend = map[string][]string{}, map[string][]string{}
	dec := xml.NewDecoder(f)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return root, series, legend
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", path, err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = el.Name.Space + " " + el.Name.Local
		}
		var name, class string
		for _, a := range el.Attr {
			switch a.Name.Local {
			case "data-series":
				name = a.Value
			case "class":
				class = a.Value
			}
		}
		switch {
		case name == "":
		case class == "legend":
			legend[name] = append(legend[name], el.Name.Local)
		default:
			series[name] = append(series[name], el.Name.Local)
		}
	}
}

// TestPlotsAreValidSVG draws a busy hour and checks each file is one
// well-formed SVG document with a line (or point) and a legend entry per
// policy, and that decimation keeps it small.
func TestPlotsAreValidSVG(t *testing.T) {
	w, _ := ParseWorkload("poisson:5,1h", 1)
	cfg := Config{Workload: w, Instances: InstancePresets["ec2"], Service: Exponential{300 * time.Millisecond}, Seed: 1}
	results, err := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 20, MinBilled: autoscale.EC2MinBilled})
	if err != nil {
		t.Fatal(err)
	}
	measured := LatencyLine{Name: "measured", Latencies: []time.Duration{time.Second, 3 * time.Second}, Requests: 3}
	paths, err := WritePlots(t.TempDir()+"/plots", `poisson <5/s> & "1h"`, results, PlotOptions{Measured: []LatencyLine{measured}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{InstancesPlot, DepthPlot, LatencyPlot, CostPlot}; len(paths) != len(want) {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 400<<10 {
			t.Errorf("%s: %d bytes; decimation should keep a plot small", path, info.Size())
		}
		root, series, legend := svgElements(t, path)
		if root != "http://www.w3.org/2000/svg svg" {
			t.Errorf("%s: root element %q, want svg in the SVG namespace", path, root)
		}
		var want []string
		for _, r := range results {
			want = append(want, "policy "+r.Policy)
		}
		shape := "polyline"
		switch filepath.Base(path) {
		case LatencyPlot:
			want = append(want, "measured")
		case CostPlot:
			want, shape = nil, ""
			for _, r := range results {
				want = append(want, r.Policy)
			}
		}
		for _, name := range want {
			if len(series[name]) == 0 || len(legend[name]) != 1 || (shape != "" && series[name][0] != shape) {
				t.Errorf("%s: series %q drawn as %v with %d legend entries", path, name, series[name], len(legend[name]))
			}
		}
		if len(legend) != len(want) {
			t.Errorf("%s: legend %v, want one entry each for %v", path, legend, want)
		}
	}
}

func TestNiceAxis(t *testing.T) {
	for _, c := range []struct{ max, top, step float64 }{
		{20, 20, 5}, {33.7, 40, 10}, {1, 1, 0.2}, {0, 1, 0.2}, {416, 500, 100}, {0.07, 0.08, 0.02},
	} {
		if top, step := niceAxis(c.max); top != c.top || step != c.step {
			t.Errorf("niceAxis(%v) = %v, %v; want %v, %v", c.max, top, step, c.top, c.step)
		}
	}
}

func TestTickLabels(t *testing.T) {
	for _, c := range []struct {
		v, step float64
		want    string
	}{{5, 1, "5"}, {20, 5, "20"}, {0.4, 0.2, "0.4"}, {0.3, 0.1, "0.3"}, {0.06, 0.02, "0.06"}, {300, 100, "300"}} {
		if got := tickLabel(c.v, c.step); got != c.want {
			t.Errorf("tickLabel(%v, %v) = %q, want %q", c.v, c.step, got, c.want)
		}
	}
	// Counts tick in whole numbers.
	if f := newFrame("", "", "", "", 10, 2, true, nil, 0); f.yMax != 2 || f.yStep != 1 {
		t.Errorf("counts up to 2: axis to %v by %v", f.yMax, f.yStep)
	}
}

// TestLatencyUnit: latencies under a second plot in milliseconds.
func TestLatencyUnit(t *testing.T) {
	ms := latencyCDF("t", "", []LatencyLine{{Name: "x", Latencies: []time.Duration{1500 * time.Microsecond, 250 * time.Microsecond}}})
	if ms.xLabel != "latency (ms)" || ms.xMax != 1.5 || !reflect.DeepEqual(ms.series[0].points, []point{{0, 0}, {0.25, 0.5}, {1.5, 1}, {1.5, 1}}) {
		t.Errorf("sub-second: %q to %v, %v", ms.xLabel, ms.xMax, ms.series[0].points)
	}
	s := latencyCDF("t", "", []LatencyLine{{Name: "x", Latencies: []time.Duration{2 * time.Second}, Requests: 2}})
	if s.xLabel != "latency (s)" || s.xMax != 2 || !reflect.DeepEqual(s.series[0].points, []point{{0, 0}, {2, 0.5}, {2, 0.5}}) {
		t.Errorf("seconds, one of two unanswered: %q to %v, %v", s.xLabel, s.xMax, s.series[0].points)
	}
}

func TestCutEndsTheStepAtX(t *testing.T) {
	pts := []point{{0, 1}, {10, 3}, {70, 0}, {300, 0}}
	if got, want := cut(pts, 60), []point{{0, 1}, {10, 3}, {60, 3}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cut at 60: %v, want %v", got, want)
	}
	if got := cut(pts, 300); !reflect.DeepEqual(got, pts) {
		t.Errorf("cut at the end: %v", got)
	}
	if len(pts) != 4 || pts[2] != (point{70, 0}) {
		t.Errorf("cut changed its input: %v", pts)
	}
}

// TestXMaxCutsTheTimeAxis: --xmax shows the first seconds of the instance
// and depth plots, and says so on the axis.
func TestXMaxCutsTheTimeAxis(t *testing.T) {
	results := []*Result{
		{Policy: "a", Timeline: []Sample{{At: 0, Pending: 2}, {At: 30 * time.Second, Running: 2}, {At: 400 * time.Second}}},
		{Policy: "b", Timeline: []Sample{{At: 0, Pending: 2}, {At: 30 * time.Second, Running: 2}, {At: 90 * time.Second}}},
	}
	c := timeline("Instances", "", "instances", 400*time.Second, 60*time.Second, results, Sample.Active)
	if c.xMax != 60 || c.xLabel != "time (s): the first 60.0s of 400.0s" {
		t.Errorf("x axis to %v, labelled %q", c.xMax, c.xLabel)
	}
	for _, s := range c.series {
		if last := s.points[len(s.points)-1]; last != (point{60, 2}) {
			t.Errorf("%s ends at %v, want (60, 2)", s.name, last)
		}
	}
	// Within the first 60 s, a and b coincide, and the legend says so.
	if c.series[0].same != "" || c.series[1].same != "a" || c.legend()[1] != "policy b (same line as a)" {
		t.Errorf("legend %q", c.legend())
	}
	if c = timeline("Instances", "", "instances", 400*time.Second, 0, results, Sample.Active); c.xMax != 400 || c.series[1].same != "" {
		t.Errorf("whole run: x to %v, b same as %q", c.xMax, c.series[1].same)
	}
}

// TestFrameFitsItsText: a long title widens the figure instead of running
// off it, and long legend entries widen the legend.
func TestFrameFitsItsText(t *testing.T) {
	short := newFrame("Latency CDF", "", "latency (s)", "fraction", 10, 1, false, []string{"policy a"}, sampleW)
	title := strings.Repeat("burst:100, boot ec2, service 200ms, ", 3)
	long := newFrame(title, "", "latency (s)", "fraction", 10, 1, false, []string{"policy a"}, sampleW)
	if long.width < textWidth(title, titleSize, true)+2*pad || long.width <= short.width {
		t.Errorf("width %v for a title %v wide (short title: %v)", long.width, textWidth(title, titleSize, true), short.width)
	}
	entry := "policy b (same line as a), and a good deal more"
	wide := newFrame("Latency CDF", "", "latency (s)", "fraction", 10, 1, false, []string{entry}, sampleW)
	if wide.legendX+sampleW+8+textWidth(entry, fontSize, false) > wide.width {
		t.Errorf("legend entry runs off: legend at %v, figure %v wide", wide.legendX, wide.width)
	}
	// DejaVu Sans: "policy a" is 3876 thousandths of an em (p 635, o 612,
	// l 278, i 278, c 550, y 592, space 318, a 613), 46.512 px at 12 px.
	if got := textWidth("policy a", 12, false); got < 46.5119 || got > 46.5121 {
		t.Errorf("textWidth(policy a) = %v", got)
	}
}

// TestScatterLabelsDoNotOverlap: points on top of each other share a
// label; labels near each other move apart.
func TestScatterLabelsDoNotOverlap(t *testing.T) {
	pts := []scatterPoint{{name: "a", x: 31.4, y: 1200}, {name: "b", x: 31.4, y: 1200}, {name: "c", x: 33.1, y: 1200}, {name: "d", x: 48.8, y: 2767}, {name: "e", x: 31.3, y: 420}}
	f := newFrame("t", "", "x", "y", 48.8*1.08, 2767*1.08, false, nil, 20)
	labels := placeLabels(f, pts)
	var texts []string
	var boxes []box
	for _, l := range labels {
		texts = append(texts, l.text)
		w := textWidth(l.text, fontSize, false)
		x0 := l.x
		switch l.anchor {
		case "end":
			x0 -= w
		case "middle":
			x0 -= w / 2
		}
		b := box{x0, l.y - 10, x0 + w, l.y + 3}
		for _, o := range boxes {
			if b.overlaps(o) {
				t.Errorf("label %q at %+v overlaps another", l.text, b)
			}
		}
		boxes = append(boxes, b)
		if b.x0 < f.left || b.x1 > f.left+f.plotW || b.y0 < f.top || b.y1 > f.top+f.plotH {
			t.Errorf("label %q at %+v leaves the plot area", l.text, b)
		}
	}
	if want := []string{"a, b", "c", "d", "e"}; !reflect.DeepEqual(texts, want) {
		t.Errorf("labels %q, want %q", texts, want)
	}
}
