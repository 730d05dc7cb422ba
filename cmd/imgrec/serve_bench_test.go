package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
)

// The pipeline benchmarks set `imgrec serve` beside its peer, the engine
// alone in the test process (decode + classify of the same images on every
// core), and report:
//
//	img/s               ours: images answered over the wall time they took
//	engine_b8_img/s     the peer, 8 images per call, as workers run (worker --batch 8)
//	ratio_vs_engine_b8  img/s over engine_b8_img/s: the headline
//	engine_b1_img/s     the peer, 1 image per call, as the course's app tier ran
//	ratio_vs_engine_b1  img/s over engine_b1_img/s
//
// Each iteration is a round of ours and then one of each peer on as many
// images, so a slow spell of a shared machine tends to reach both sides;
// each side's figure is its images over its wall time, both summed over the
// rounds, by the same code (rate).

// rate is images over the wall time they took, summed over rounds: the one
// statistic both ours and the peer report.
type rate struct {
	images int
	wall   time.Duration
}

func (r *rate) add(images int, wall time.Duration) {
	r.images += images
	r.wall += wall
}

func (r rate) perSecond() float64 { return float64(r.images) / r.wall.Seconds() }

// reportVsEngine reports ours beside the engine at batch 8 and batch 1.
func reportVsEngine(b *testing.B, ours, b8, b1 rate) {
	b.ReportMetric(ours.perSecond(), "img/s")
	b.ReportMetric(b8.perSecond(), "engine_b8_img/s")
	b.ReportMetric(ours.perSecond()/b8.perSecond(), "ratio_vs_engine_b8")
	b.ReportMetric(b1.perSecond(), "engine_b1_img/s")
	b.ReportMetric(ours.perSecond()/b1.perSecond(), "ratio_vs_engine_b1")
}

// engine is the pipeline's peer: decode + classify in this process on every
// core, batch images per call.
type engine struct {
	c    *resnet.Classifier
	imgs []loadgen.Image
}

// newEngine loads the model and warms the engine up with one pass over imgs.
func newEngine(b *testing.B, imgs []loadgen.Image, batch int) *engine {
	m, err := resnet.Load(standinModel)
	if err != nil {
		b.Fatal(err)
	}
	e := &engine{c: &resnet.Classifier{Model: m, Profile: vision.ProfileReference, MaxBatch: batch}, imgs: imgs}
	e.run(b, len(imgs))
	return e
}

// run decodes and classifies n images, cycling through e.imgs, and returns
// the wall time it took.
func (e *engine) run(b *testing.B, n int) time.Duration {
	start := time.Now()
	for done := 0; done < n; done += e.c.MaxBatch {
		var decoded []*imgrec.Image
		for i := done; i < min(done+e.c.MaxBatch, n); i++ {
			img, err := vision.Decode(e.imgs[i%len(e.imgs)].Data, vision.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			decoded = append(decoded, img)
		}
		if _, err := e.c.Classify(context.Background(), decoded, 1); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// BenchmarkServeBurst sends the course burst (100 images, 100 in flight) to a
// cold `imgrec serve` (0 workers); s/burst is its wall time. The engine runs
// the same 100 images after each burst:
//
//	go test -run '^$' -bench ServeBurst -benchtime 3x ./cmd/imgrec
func BenchmarkServeBurst(b *testing.B) {
	imgs := loadCourseImages(b)
	expected := standinExpected(b)
	e8, e1 := newEngine(b, imgs, 8), newEngine(b, imgs, 1)
	const requests = 100
	var ours, b8, b1 rate
	for b.Loop() {
		b.StopTimer()
		s := startServe(b, "--scale-in-after", "500ms")
		b.StartTimer()
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: s.url, Images: imgs, Requests: requests, Concurrency: requests, Expected: expected, Timeout: time.Minute,
		})
		if err != nil || sum.OK != requests {
			b.Fatalf("burst: %v, %d ok", err, sum.OK)
		}
		ours.add(requests, sum.Wall)
		b.StopTimer()
		s.stop(b)
		b8.add(requests, e8.run(b, requests))
		b1.add(requests, e1.run(b, requests))
		b.StartTimer()
	}
	b.ReportMetric(ours.wall.Seconds()/float64(b.N), "s/burst")
	reportVsEngine(b, ours, b8, b1)
}

// BenchmarkServeThroughput measures sustained throughput (rounds of 2000
// requests, 32 in flight, after a warm-up) with two warm workers
// (--min-instances), the engine running 2000 images after each round.
// "course" cycles through the 100 images under their own names, as the
// course's generator does, so inputs and results are mostly stored already;
// "fresh" gives every request a new name, so every input and every result is
// written and flushed.
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
	e8, e1 := newEngine(b, imgs, 8), newEngine(b, imgs, 1)
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
	var ours, b8, b1 rate
	for b.Loop() {
		ours.add(requests, run(requests).Wall)
		b.StopTimer()
		b8.add(requests, e8.run(b, requests))
		b1.add(requests, e1.run(b, requests))
		b.StartTimer()
	}
	reportVsEngine(b, ours, b8, b1)
}
