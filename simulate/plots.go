package simulate

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Plot files WritePlots writes.
const (
	InstancesPlot = "instances.svg"
	DepthPlot     = "depth.svg"
	LatencyPlot   = "latency-cdf.svg"
	CostPlot      = "cost-latency.svg"
)

// PlotOptions shapes the plots of WritePlots.
type PlotOptions struct {
	// XMax ends the time axis of the instance and depth plots, so that the
	// seconds that matter are not squeezed by a long tail (KEDA's 300 s
	// cooldown); 0 shows the whole run.
	XMax time.Duration
	// Measured lines are drawn on the latency CDF beside the policies':
	// the same workload run against a real server (imgrec loadgen --out).
	Measured []LatencyLine
}

// LatencyLine is one line of a latency CDF.
type LatencyLine struct {
	Name      string
	Latencies []time.Duration
	// Requests is what the fractions are of: at least len(Latencies);
	// requests never answered keep the line below 1. 0 means
	// len(Latencies).
	Requests int
}

// WritePlots draws the results into dir, which it creates: instances
// (pending + running) and queue depth over time and the latency CDF, one
// line per policy, and billed instance-seconds against p95 latency, one
// point per policy. title describes the world and workload. It returns the
// files' paths.
func WritePlots(dir, title string, results []*Result, opt PlotOptions) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	var end time.Duration
	for _, r := range results {
		if n := len(r.Timeline); n > 0 {
			end = max(end, r.Timeline[n-1].At)
		}
	}
	lines := make([]LatencyLine, 0, len(results)+len(opt.Measured))
	for _, r := range results {
		lines = append(lines, LatencyLine{Name: "policy " + r.Policy, Latencies: r.Latencies, Requests: r.Requests})
	}
	lines = append(lines, opt.Measured...)
	charts := []struct {
		name  string
		chart interface{ render(*bufio.Writer) }
	}{
		{InstancesPlot, timeline("Instances pending or running", title, "instances", end, opt.XMax, results, Sample.Active)},
		{DepthPlot, timeline("Queue depth (waiting + in flight)", title, "requests", end, opt.XMax, results, func(s Sample) int { return s.Depth })},
		{LatencyPlot, latencyCDF("Latency CDF", title, lines)},
		{CostPlot, costLatency(title, results)},
	}
	var paths []string
	for _, c := range charts {
		path := filepath.Join(dir, c.name)
		if err := writeSVG(path, c.chart.render); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// WriteLatencyCDF draws the latency CDF of lines into the SVG file path;
// subtitle says what was measured.
func WriteLatencyCDF(path, subtitle string, lines []LatencyLine) error {
	return writeSVG(path, latencyCDF("Latency CDF", subtitle, lines).render)
}

func writeSVG(path string, render func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	w := bufio.NewWriter(f)
	render(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	return nil
}

// timeline is value over time per policy, cut at xMax if that is set and
// shorter than the run.
func timeline(title, subtitle, yLabel string, end, xMax time.Duration, results []*Result, value func(Sample) int) lineChart {
	c := lineChart{title: title, subtitle: subtitle, xLabel: "time (s)", yLabel: yLabel, xMax: end.Seconds(), yCounts: true}
	if xMax > 0 && xMax < end {
		c.xMax = xMax.Seconds()
		c.xLabel = fmt.Sprintf("time (s): the first %s of %s", seconds(xMax), seconds(end))
	}
	for _, r := range results {
		s := series{name: "policy " + r.Policy}
		for _, x := range r.Timeline {
			s.points = append(s.points, point{x.At.Seconds(), float64(value(x))})
		}
		if n := len(s.points); n > 0 {
			s.points = append(s.points, point{end.Seconds(), s.points[n-1].y}) // the last state holds to the end
		}
		c.series = append(c.series, s)
	}
	for i := range c.series {
		c.series[i].points = cut(c.series[i].points, c.xMax)
		for _, p := range c.series[i].points {
			c.yMax = max(c.yMax, p.y)
		}
	}
	c.markSame() // over what is shown
	return c
}

// cut ends a step function at x: what holds at x holds to it.
func cut(pts []point, x float64) []point {
	i := 0
	for i < len(pts) && pts[i].x <= x {
		i++
	}
	if i == len(pts) || i == 0 {
		return pts[:i]
	}
	return append(pts[:i:i], point{x, pts[i-1].y})
}

func latencyCDF(title, subtitle string, lines []LatencyLine) lineChart {
	c := lineChart{title: title, subtitle: subtitle, xLabel: "latency (s)", yLabel: "fraction of requests answered", yMax: 1}
	// Below a second, in milliseconds: 0.0015 s reads worse than 1.5 ms.
	var longest time.Duration
	for _, l := range lines {
		for _, d := range l.Latencies {
			longest = max(longest, d)
		}
	}
	unit := time.Second
	if longest < time.Second {
		unit, c.xLabel = time.Millisecond, "latency (ms)"
	}
	for _, l := range lines {
		sorted := slices.Sorted(slices.Values(l.Latencies))
		n := float64(max(l.Requests, len(sorted), 1))
		s := series{name: l.Name, points: []point{{0, 0}}}
		for i, d := range sorted {
			x := float64(d) / float64(unit)
			s.points = append(s.points, point{x, float64(i+1) / n})
			c.xMax = max(c.xMax, x)
		}
		c.series = append(c.series, s)
	}
	for i := range c.series {
		pts := c.series[i].points
		c.series[i].points = append(pts, point{c.xMax, pts[len(pts)-1].y})
	}
	c.markSame()
	return c
}

func costLatency(subtitle string, results []*Result) scatterChart {
	c := scatterChart{
		title: "Billed instance-seconds against p95 latency", subtitle: subtitle,
		xLabel: "p95 latency (s); lower left is cheaper and faster", yLabel: "billed instance-seconds",
	}
	for _, r := range results {
		c.points = append(c.points, scatterPoint{
			name: r.Policy, x: r.P95.Seconds(), y: r.BilledSeconds,
			legend: fmt.Sprintf("policy %s: p95 %s, %.0f s billed", r.Policy, seconds(r.P95), r.BilledSeconds),
		})
	}
	return c
}

// markSame names, in the legend, a line drawn exactly over an earlier one,
// which would otherwise hide it.
func (c *lineChart) markSame() {
	for i := range c.series {
		for j := range i {
			if slices.Equal(c.series[i].points, c.series[j].points) {
				c.series[i].same = strings.TrimPrefix(c.series[j].name, "policy ")
				break
			}
		}
	}
}
