package main

import (
	"context"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
)

// BenchmarkServeBurst sends the course burst (100 images, 100 in flight) to a
// cold `imgrec serve` (0 workers) and, in the same run, times the engine alone
// on the same images, so the pipeline's cost is a ratio to its peer:
//
//	go test -run '^$' -bench ServeBurst -benchtime 3x ./cmd/imgrec
func BenchmarkServeBurst(b *testing.B) {
	imgs := loadCourseImages(b)
	expected := standinExpected(b)

	// The engine alone: decode + classify, one image at a time, as a worker does.
	m, err := resnet.Load(standinModel)
	if err != nil {
		b.Fatal(err)
	}
	c := &resnet.Classifier{Model: m, Profile: vision.ProfileReference, MaxBatch: 1}
	start := time.Now()
	for _, im := range imgs {
		img, err := vision.Decode(im.Data, vision.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Classify(context.Background(), []*imgrec.Image{img}, 1); err != nil {
			b.Fatal(err)
		}
	}
	engineRate := float64(len(imgs)) / time.Since(start).Seconds()

	var wall time.Duration
	for b.Loop() {
		b.StopTimer()
		s := startServe(b, "--scale-in-after", "500ms")
		b.StartTimer()
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: s.url, Images: imgs, Requests: 100, Concurrency: 100, Expected: expected, Timeout: time.Minute,
		})
		if err != nil || sum.OK != 100 {
			b.Fatalf("burst: %v, %d ok", err, sum.OK)
		}
		wall += sum.Wall
		b.StopTimer()
		s.stop(b)
		b.StartTimer()
	}
	perBurst := wall.Seconds() / float64(b.N)
	b.ReportMetric(perBurst, "s/burst")
	b.ReportMetric(100/perBurst, "img/s")
	b.ReportMetric(engineRate, "engine-img/s")
	b.ReportMetric(100/perBurst/engineRate, "ratio")
}
