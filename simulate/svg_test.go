package simulate

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

// TestPlotsAreValidSVG draws a busy hour and checks each file is one
// well-formed SVG document with a line and a legend entry per policy, and
// that decimation keeps it small.
func TestPlotsAreValidSVG(t *testing.T) {
	w, _ := ParseWorkload("poisson:5,1h", 1)
	cfg := Config{Workload: w, Instances: InstancePresets["ec2"], Service: Exponential{300 * time.Millisecond}, Seed: 1}
	results, err := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 20, MinBilled: autoscale.EC2MinBilled})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := WritePlots(t.TempDir()+"/plots", `poisson <5/s> & "1h"`, results)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("wrote %v, want 3 plots", paths)
	}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Stat()
		if info.Size() > 400<<10 {
			t.Errorf("%s: %d bytes; decimation should keep a plot small", path, info.Size())
		}
		dec := xml.NewDecoder(f)
		var root string
		lines, legend := 0, 0
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed XML: %v", path, err)
			}
			switch el := tok.(type) {
			case xml.StartElement:
				if root == "" {
					root = el.Name.Space + " " + el.Name.Local
				}
				if el.Name.Local == "polyline" {
					lines++
				}
			case xml.CharData:
				if strings.HasPrefix(string(el), "policy ") {
					legend++
				}
			}
		}
		f.Close()
		if root != "http://www.w3.org/2000/svg svg" {
			t.Errorf("%s: root element %q, want svg in the SVG namespace", path, root)
		}
		if lines != len(results) || legend != 2*len(results) { // legend text + line title
			t.Errorf("%s: %d lines and %d labels for %d policies", path, lines, legend, len(results))
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
