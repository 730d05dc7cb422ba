package simulate

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden runs every policy on two small worlds and compares the table
// and policy e's timeline with testdata/*.golden; `go test ./simulate
// -run Golden -update` rewrites them after an intended change.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		name, workload, boot string
		service              Dist
	}{
		{"burst30-ec2", "burst:30", "ec2", Constant(200 * time.Millisecond)},
		{"periodic-warm", "periodic:12,40s,3", "warm", Exponential{500 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := ParseWorkload(c.workload, 3)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Workload: w, Instances: InstancePresets[c.boot], Service: c.service, Seed: 3}
			results, err := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 8, MinBilled: autoscale.EC2MinBilled})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			fmt.Fprintf(&got, "%s, boot %s, service %s, max 8, seed 3\n\n", c.workload, c.boot, c.service)
			WriteTable(&got, results)
			fmt.Fprintf(&got, "\npolicy e: time, pending, running, stopping, depth\n")
			for _, s := range results[len(results)-1].Timeline {
				fmt.Fprintf(&got, "%8.3f %2d %2d %2d %3d\n", s.At.Seconds(), s.Pending, s.Running, s.Stopping, s.Depth)
			}
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("simulation differs from %s (-update rewrites it):\n--- got\n%s\n--- want\n%s", path, got.Bytes(), want)
			}
		})
	}
}
