package simulate

import (
	"testing"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

// BenchmarkHour simulates an hour of Poisson traffic (5 requests a second,
// EC2-like instances) under policy e: virtual time should make it take a
// small fraction of a second.
//
//	go test -run '^$' -bench Hour ./simulate
func BenchmarkHour(b *testing.B) {
	w, _ := ParseWorkload("poisson:5,1h", 1)
	cfg := Config{Workload: w, Instances: InstancePresets["ec2"], Service: Exponential{300 * time.Millisecond}, Seed: 1}
	for b.Loop() {
		if _, err := Run(cfg, autoscale.NewBootAware(autoscale.Config{MinBilled: autoscale.EC2MinBilled})); err != nil {
			b.Fatal(err)
		}
	}
}
