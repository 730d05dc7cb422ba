package main

import (
	"context"
	"fmt"
	"slices"
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

	engineRate := engineImagesPerSecond(b, imgs, 1)

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

// engineImagesPerSecond times decode + classify of the images in this
// process on every core, batch images per call: the pipeline's peer. With
// batch 1 it answers one request at a time, as the course's app tier does;
// with batch 8 it is the engine at its best, as `imgrec classify` runs it.
// It is the median of rounds over the images for two seconds, so one
// disturbed round (this machine shares its host) does not set the peer.
func engineImagesPerSecond(b *testing.B, imgs []loadgen.Image, batch int) float64 {
	m, err := resnet.Load(standinModel)
	if err != nil {
		b.Fatal(err)
	}
	c := &resnet.Classifier{Model: m, Profile: vision.ProfileReference, MaxBatch: batch}
	var rates []float64
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		round := time.Now()
		for i := 0; i < len(imgs); i += batch {
			var decoded []*imgrec.Image
			for _, im := range imgs[i:min(i+batch, len(imgs))] {
				img, err := vision.Decode(im.Data, vision.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				decoded = append(decoded, img)
			}
			if _, err := c.Classify(context.Background(), decoded, 1); err != nil {
				b.Fatal(err)
			}
		}
		rates = append(rates, float64(len(imgs))/time.Since(round).Seconds())
	}
	slices.Sort(rates)
	return rates[len(rates)/2]
}

// BenchmarkServeThroughput measures sustained throughput (2000 requests, 32
// in flight, after a warm-up) with two warm workers (--min-instances)
// against the engine alone in the same run. "course" cycles through the 100
// images under their own names, as the course's generator does, so inputs
// and results are mostly stored already; "fresh" gives every request a new
// name, so every input and every result is written and flushed.
func BenchmarkServeThroughput(b *testing.B) {
	for _, c := range []struct {
		name  string
		fresh bool
		args  []string
	}{
		{"images=course", false, nil},
		{"images=fresh", true, nil},
		{"images=fresh,fsync=false", true, []string{"--fsync=false"}},
	} {
		b.Run(c.name, func(b *testing.B) { benchThroughput(b, c.fresh, c.args...) })
	}
}

func benchThroughput(b *testing.B, fresh bool, args ...string) {
	imgs := loadCourseImages(b)
	engineRate := engineImagesPerSecond(b, imgs, 1)
	engineBest := engineImagesPerSecond(b, imgs, 8)
	s := startServe(b, append([]string{"--min-instances", "2", "--max-instances", "2"}, args...)...)
	waitFor(b, "2 running workers", func() bool { return s.status(b).Counts["running"] == 2 })
	runs := 0
	run := func(requests int) loadgen.Summary {
		runs++
		send := imgs
		if fresh {
			send = make([]loadgen.Image, requests)
			for i := range send {
				im := imgs[i%len(imgs)]
				send[i] = loadgen.Image{Name: fmt.Sprintf("r%d-%d-%s", runs, i, im.Name), Data: im.Data}
			}
		}
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: s.url, Images: send, Requests: requests, Concurrency: 32, Timeout: time.Minute,
		})
		if err != nil || sum.OK != requests {
			b.Fatalf("run: %v, %d of %d ok", err, sum.OK, requests)
		}
		return sum
	}
	run(200)              // warm-up: first connections, page cache, the workers' first batches
	const requests = 2000 // long enough that the ramp at either end is noise
	var n int
	var wall time.Duration
	for b.Loop() {
		wall += run(requests).Wall
		n += requests
	}
	rate := float64(n) / wall.Seconds()
	b.ReportMetric(rate, "img/s")
	b.ReportMetric(engineRate, "engine-img/s")
	b.ReportMetric(rate/engineRate, "ratio")
	b.ReportMetric(engineBest, "engine-b8-img/s")
	b.ReportMetric(rate/engineBest, "ratio-b8")
}
