package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPlotsInBrowser looks at the SVGs of `imgrec simulate --out` (with and
// without --xmax, a measured line from loadgen, a long title) and of
// `imgrec loadgen --cdf` as a reader would: each opens in headless Chromium as an SVG document, every series
// has its legend entry, and every piece of text, measured where Chromium
// set it (getBoundingClientRect, which counts rotation), lies inside the
// view box and clear of every other; legends lie right of the plot area,
// point labels inside it. Each is also rendered to PNG in the test's
// artifact directory (go test -run PlotsInBrowser -artifacts -outputdir DIR)
// for a person to look at.
func TestPlotsInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	dir := t.TempDir()
	replay := filepath.Join(dir, "arrivals-measured-on-a-long-named-run-of-the-course-burst.csv")
	measured := filepath.Join(dir, "measured.csv")
	os.WriteFile(replay, []byte("seconds\n0\n0.5\n1\n1.5\n2\n30\n30.5\n31\n"), 0o644)
	os.WriteFile(measured, []byte("sent_seconds,name,status,latency_seconds,label,error,outcome\n"+
		"0.000000,test_0.JPEG,200,31.000000,x,,ok\n0.000000,test_1.JPEG,200,33.000000,x,,ok\n"+
		"0.000000,test_2.JPEG,200,35.500000,x,,ok\n0.000000,test_3.JPEG,,0.000000,,not sent,dropped\n"), 0o644)
	runs := []struct {
		name string
		args []string
	}{
		{"burst100", []string{"--workload", "burst:100", "--max", "20", "--measured", measured}},
		{"burst100-xmax60", []string{"--workload", "burst:100", "--max", "20", "--xmax", "60s"}},
		{"poisson", []string{"--workload", "poisson:2,10m", "--max", "20"}},
		{"long-title", []string{"--workload", "replay:" + replay, "--boot", "uniform:26s,40s", "--restart", "exp:5s", "--service", "exp:0.2s"}},
	}
	for _, r := range runs {
		out := filepath.Join(dir, r.name)
		if code, _, errs := runImgrec(t, append([]string{"simulate", "--out", out}, r.args...)...); code != 0 {
			t.Fatalf("simulate %v: exit %d: %s", r.args, code, errs)
		}
	}
	// loadgen's CDF, of an open-loop run against the stand-in web tier.
	srv := newCourseServer(t, nil)
	os.Mkdir(filepath.Join(dir, "loadgen"), 0o755)
	if code, _, errs := runCmd(t.Context(), "--url", srv.URL, "--image-folder", courseImages, "--workload", "poisson:50,1s",
		"--cdf", filepath.Join(dir, "loadgen", "latency-cdf.svg")); code != 0 {
		t.Fatalf("loadgen: exit %d: %s", code, errs)
	}
	svgs, err := filepath.Glob(filepath.Join(dir, "*", "*.svg"))
	if err != nil || len(svgs) != 4*len(runs)+1 {
		t.Fatalf("%d plots (%v), want %d", len(svgs), err, 4*len(runs)+1)
	}
	// The checks can fail: a plot with each fault is caught.
	bad := filepath.Join(dir, "bad.svg")
	os.WriteFile(bad, []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100">
<text x="10" y="20">a title much too long for two hundred pixels</text>
<text x="10" y="90">tick</text><text x="14" y="92">tock</text>
<rect class="plot-area" x="20" y="30" width="150" height="50"/>
<polyline data-series="policy a" points="20,30 170,80"/>
<text class="legend" data-series="policy b" x="100" y="50">policy b</text>
</svg>`), 0o644)
	r := measurePlot(t, ctx, bad)
	for _, want := range []string{`text "a title much too long for two hundred pixels"`, `"tick"`, `overlaps "tock"`,
		`legend entry "policy b" reaches into the plot area`, `polyline of series "policy a" has no legend entry`} {
		if !slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("the check of a faulty plot misses %s: %q", want, r.Problems)
		}
	}

	for _, path := range svgs {
		name := filepath.Base(filepath.Dir(path)) + "-" + strings.TrimSuffix(filepath.Base(path), ".svg")
		t.Run(name, func(t *testing.T) {
			checkPlot(t, ctx, path, filepath.Join(t.ArtifactDir(), name+".png"))
		})
	}
}

// plotReport is what plotCheckJS finds.
type plotReport struct {
	Root          string
	Width, Height float64
	Texts         int
	Problems      []string
}

// measurePlot opens an SVG file in the browser and checks it.
func measurePlot(t *testing.T, ctx context.Context, path string) plotReport {
	t.Helper()
	if err := xmlWellFormed(path); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	act(t, ctx, chromedp.Navigate("file://"+abs))
	return eval[plotReport](t, ctx, plotCheckJS)
}

// checkPlot checks an SVG file in the browser and renders it to png.
func checkPlot(t *testing.T, ctx context.Context, path, png string) {
	t.Helper()
	r := measurePlot(t, ctx, path)
	if r.Root != "svg" || r.Texts == 0 {
		t.Fatalf("%s opens as %q with %d texts: %v", path, r.Root, r.Texts, r.Problems)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
	w, h := int64(math.Ceil(r.Width)), int64(math.Ceil(r.Height))
	act(t, ctx, chromedp.EmulateViewport(w, h))
	writeScreenshot(t, ctx, png, chromedp.CaptureScreenshot())
	act(t, ctx, chromedp.ResetViewport())
}

func xmlWellFormed(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: not well-formed XML: %w", path, err)
		}
	}
}

// plotCheckJS measures the open SVG document and returns what is wrong
// with it. Boxes are compared with half a pixel of slack for rounding.
const plotCheckJS = `(() => {
	const svg = document.documentElement;
	const out = {Root: svg.localName, Width: 0, Height: 0, Texts: 0, Problems: []};
	if (svg.localName !== "svg" || document.getElementsByTagName("parsererror").length) {
		out.Problems.push("not an SVG document");
		return out;
	}
	const vb = svg.viewBox.baseVal;
	out.Width = vb.width; out.Height = vb.height;
	const box = el => { const r = el.getBoundingClientRect(); return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; };
	const fmt = b => "[" + [b.x0, b.y0, b.x1, b.y1].map(v => v.toFixed(1)).join(", ") + "]";
	const overlap = (a, b) => a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
	const inside = (a, b) => a.x0 >= b.x0 - 0.5 && a.y0 >= b.y0 - 0.5 && a.x1 <= b.x1 + 0.5 && a.y1 <= b.y1 + 0.5;
	const view = {x0: vb.x, y0: vb.y, x1: vb.x + vb.width, y1: vb.y + vb.height};
	const texts = [...svg.querySelectorAll("text")].map(el => ({el, text: el.textContent, b: box(el)}));
	out.Texts = texts.length;
	for (const t of texts) {
		if (t.b.x1 - t.b.x0 <= 0) out.Problems.push("text " + JSON.stringify(t.text) + " has no width");
		if (!inside(t.b, view)) out.Problems.push("text " + JSON.stringify(t.text) + " " + fmt(t.b) + " leaves the view box " + fmt(view));
	}
	for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
		if (overlap(texts[i].b, texts[j].b)) out.Problems.push("text " + JSON.stringify(texts[i].text) + " " + fmt(texts[i].b) +
			" overlaps " + JSON.stringify(texts[j].text) + " " + fmt(texts[j].b));
	}
	const area = svg.querySelector(".plot-area");
	if (!area) { out.Problems.push("no plot area"); return out; }
	const plot = box(area);
	const legend = new Set();
	for (const el of svg.querySelectorAll(".legend")) {
		legend.add(el.getAttribute("data-series"));
		if (box(el).x0 < plot.x1) out.Problems.push("legend entry " + JSON.stringify(el.textContent) + " reaches into the plot area");
	}
	for (const el of svg.querySelectorAll("[data-series]:not(.legend)")) {
		const name = el.getAttribute("data-series");
		if (!legend.has(name)) out.Problems.push(el.localName + " of series " + JSON.stringify(name) + " has no legend entry");
	}
	for (const el of svg.querySelectorAll(".point-label")) {
		if (!inside(box(el), plot)) out.Problems.push("point label " + JSON.stringify(el.textContent) + " leaves the plot area");
	}
	return out;
})()`
