package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imgrec/imgrec/loadgen"
)

// BenchmarkCacheHitVsMiss compares, through loadgen against `imgrec serve`
// with two warm workers, an upload answered by a worker (a miss: bytes never
// seen) with the same upload answered from the result cache (a hit: the
// same bytes again, under the same names). Each round sends 100 new images,
// then the same 100 again, one at a time (inflight=1: each request's own
// latency) or all at once (inflight=100: the course's burst):
//
//	go test -run '^$' -bench CacheHitVsMiss -benchtime 3x ./cmd/imgrec
func BenchmarkCacheHitVsMiss(b *testing.B) {
	for _, inflight := range []int{1, 100} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchHitVsMiss(b, inflight) })
	}
}

func benchHitVsMiss(b *testing.B, inflight int) {
	s := startServe(b, "--cache=true", "--min-instances", "2", "--max-instances", "2")
	waitFor(b, "2 running workers", func() bool { return s.status(b).Counts["running"] == 2 })
	round := 0
	run := func(imgs []loadgen.Image, expected map[string]string) loadgen.Summary {
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: s.url, Images: imgs, Requests: len(imgs), Concurrency: inflight, Expected: expected, Timeout: time.Minute,
		})
		if err != nil || sum.OK != len(imgs) {
			b.Fatalf("round %d: %v, %d of %d ok: %+v", round, err, sum.OK, len(imgs), sum.Failures)
		}
		return sum
	}
	warm, warmWant := distinctImages(b, "warm", 20)
	run(warm, warmWant) // connections, page cache, the workers' first batches
	var miss, hit struct{ mean, p50, p99, wall time.Duration }
	for b.Loop() {
		round++
		imgs, want := distinctImages(b, fmt.Sprintf("r%d", round), 100)
		m := run(imgs, want)
		h := run(imgs, want)
		miss.mean, miss.p50, miss.p99, miss.wall = miss.mean+m.Latency.Mean, miss.p50+m.Latency.P50, miss.p99+m.Latency.P99, miss.wall+m.Wall
		hit.mean, hit.p50, hit.p99, hit.wall = hit.mean+h.Latency.Mean, hit.p50+h.Latency.P50, hit.p99+h.Latency.P99, hit.wall+h.Wall
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / n }
	b.ReportMetric(ms(miss.mean), "miss_mean_ms")
	b.ReportMetric(ms(miss.p50), "miss_p50_ms")
	b.ReportMetric(ms(miss.p99), "miss_p99_ms")
	b.ReportMetric(ms(hit.mean), "hit_mean_ms")
	b.ReportMetric(ms(hit.p50), "hit_p50_ms")
	b.ReportMetric(ms(hit.p99), "hit_p99_ms")
	b.ReportMetric(100*n/miss.wall.Seconds(), "miss_img/s")
	b.ReportMetric(100*n/hit.wall.Seconds(), "hit_img/s")
}

// BenchmarkCourseRounds is the course generator's habit: the same 100
// images, 100 at once, round after round, against `imgrec serve` on its
// defaults (the cache on, workers from 0). The first round goes to the
// workers; the later ones are answered from the cache, and no worker starts.
//
//	go test -run '^$' -bench CourseRounds -benchtime 3x ./cmd/imgrec
func BenchmarkCourseRounds(b *testing.B) {
	const rounds = 3
	var mean, p99, wall [rounds]time.Duration
	var peak [rounds]int
	for b.Loop() {
		b.StopTimer()
		s := startServe(b, "--cache=true")
		b.StartTimer()
		for i := range rounds {
			r := gradeBurst(b, s)
			mean[i] += r.sum.Latency.Mean
			p99[i] += r.sum.Latency.P99
			wall[i] += r.sum.Wall
			peak[i] = max(peak[i], r.peak)
		}
		b.StopTimer()
		s.stop(b)
		b.StartTimer()
	}
	n := float64(b.N)
	for i := range rounds {
		b.ReportMetric(mean[i].Seconds()/n, fmt.Sprintf("round%d_mean_s", i+1))
		b.ReportMetric(p99[i].Seconds()/n, fmt.Sprintf("round%d_p99_s", i+1))
		b.ReportMetric(wall[i].Seconds()/n, fmt.Sprintf("round%d_wall_s", i+1))
		b.ReportMetric(float64(peak[i]), fmt.Sprintf("round%d_peak_workers", i+1))
	}
}
