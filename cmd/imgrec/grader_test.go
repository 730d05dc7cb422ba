package main

import (
	"context"
	"testing"
	"time"

	"github.com/imgrec/imgrec/loadgen"
)

// graderRun is one burst of the course's 2026 grader against serve: 100
// requests at once to an app tier at 0 instances.
type graderRun struct {
	sum        loadgen.Summary
	peak       int           // most instances running at once
	backToZero time.Duration // from the last answer to no instance pending, running or stopping
}

// gradeBurst sends the burst, watching the instances every 20 ms, and waits
// (up to a minute) until they are back to 0.
func gradeBurst(t testing.TB, s *served) graderRun {
	var r graderRun
	stop := make(chan struct{})
	watched := make(chan struct{})
	var last time.Time
	go func() {
		defer close(watched)
		for {
			st := s.status(t)
			r.peak = max(r.peak, st.Counts["running"])
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.url, Images: loadCourseImages(t), Requests: 100, Concurrency: 100,
		Expected: standinExpected(t), Timeout: time.Minute,
	})
	last = time.Now()
	if err != nil || sum.OK != 100 {
		t.Fatalf("burst: %v; ok %d, wrong %d, failed %d: %+v", err, sum.OK, sum.Wrong, sum.Failed, sum.Failures)
	}
	r.sum = sum
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		st := s.status(t)
		if st.Counts["pending"]+st.Counts["running"]+st.Counts["stopping"] == 0 {
			r.backToZero = time.Since(last)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances not back to 0 a minute after the last answer: %v", st.Counts)
		}
	}
	close(stop)
	<-watched
	return r
}

// TestServeGrader runs the course grader's scenario on serve's defaults with
// --max-instances 15, twice (cold, then warm from the stopped instances):
// every answer right, exactly 15 instances at the peak, back to 0 after.
// How fast it gets back to 0, and the latencies, are for the benchmark.
func TestServeGrader(t *testing.T) {
	s := startServe(t, "--max-instances", "15")
	for _, run := range []string{"cold", "warm"} {
		r := gradeBurst(t, s)
		if r.peak != 15 {
			t.Errorf("%s: peak %d running instances, want exactly 15", run, r.peak)
		}
		t.Logf("%s: mean latency %v, peak %d, back to 0 %v after the last answer", run, r.sum.Latency.Mean, r.peak, r.backToZero)
	}
}

// BenchmarkServeGrader reports the grader's figures: mean latency cold
// (< 1.2 s wanted) and warm (< 0.6 s), and the time from the last answer to
// 0 instances (< 2 s); with the result cache off (every image to a worker)
// and on, as serve runs by default (the warm round's images all hit it).
func BenchmarkServeGrader(b *testing.B) {
	for _, cache := range []string{"false", "true"} {
		b.Run("cache="+cache, func(b *testing.B) { benchGrader(b, "--cache="+cache) })
	}
}

func benchGrader(b *testing.B, cache string) {
	var cold, warm, zero time.Duration
	worstZero := time.Duration(0)
	for b.Loop() {
		b.StopTimer()
		s := startServe(b, "--max-instances", "15", cache)
		b.StartTimer()
		c := gradeBurst(b, s)
		w := gradeBurst(b, s)
		b.StopTimer()
		s.stop(b)
		b.StartTimer()
		cold, warm = cold+c.sum.Latency.Mean, warm+w.sum.Latency.Mean
		zero += c.backToZero + w.backToZero
		worstZero = max(worstZero, c.backToZero, w.backToZero)
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()/n, "cold_mean_s")
	b.ReportMetric(warm.Seconds()/n, "warm_mean_s")
	b.ReportMetric(zero.Seconds()/(2*n), "to_zero_s")
	b.ReportMetric(worstZero.Seconds(), "worst_to_zero_s")
}
