package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
)

// killer SIGKILLs a busy worker of s as soon as it sees one, then one
// every interval, until stopped, and counts its kills.
type killer struct {
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	kills int
}

func startKiller(t testing.TB, s *served, every time.Duration) *killer {
	k := &killer{stop: make(chan struct{})}
	k.done.Go(func() {
		for {
			if !k.killOne(t, s) {
				return
			}
			select {
			case <-k.stop:
				return
			case <-time.After(every):
			}
		}
	})
	return k
}

// killOne waits for a busy worker and kills it; false once stopped.
func (k *killer) killOne(t testing.TB, s *served) bool {
	for {
		var busy []int
		for _, in := range s.status(t).Instances {
			var pid int
			if in.State == imgrec.StateRunning && in.Busy {
				if _, err := fmt.Sscanf(in.Detail, "pid %d", &pid); err == nil {
					busy = append(busy, pid)
				}
			}
		}
		if len(busy) > 0 {
			pid := busy[rand.IntN(len(busy))]
			if proc, err := os.FindProcess(pid); err == nil && proc.Kill() == nil {
				k.mu.Lock()
				k.kills++
				k.mu.Unlock()
				return true
			}
		}
		select {
		case <-k.stop:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends the killing and returns how many workers were killed.
func (k *killer) Stop() int {
	close(k.stop)
	k.done.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kills
}

// underFire sends the course images requests times, inFlight at once, while
// a busy worker is SIGKILLed every 2 s, and checks that nothing is lost:
// every answer right, none failed, no dead letter, and the output bucket
// holding exactly the 100 records with their labels.
func underFire(t testing.TB, s *served, requests, inFlight int) (loadgen.Summary, int) {
	k := startKiller(t, s, 2*time.Second)
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.url, Images: loadCourseImages(t), Requests: requests, Concurrency: inFlight,
		Expected: standinExpected(t), Timeout: 2 * time.Minute,
	})
	kills := k.Stop()
	if err != nil || sum.OK != requests || sum.Failed != 0 || sum.Wrong != 0 {
		t.Fatalf("under fire (%d workers killed): %v; ok %d, wrong %d, failed %d: %+v", kills, err, sum.OK, sum.Wrong, sum.Failed, sum.Failures)
	}
	if st := s.status(t); st.Queue.DeadLetters != 0 {
		t.Errorf("%d dead letters after %d kills", st.Queue.DeadLetters, kills)
	}
	expected := standinExpected(t)
	entries, _ := os.ReadDir(filepath.Join(s.dataDir, "output"))
	if len(entries) != len(expected) {
		t.Errorf("output bucket holds %d objects, want %d", len(entries), len(expected))
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(s.dataDir, "output", e.Name()))
		if want := (imgrec.OutputRecord{Name: e.Name(), Label: expected[e.Name()+".JPEG"]}).String(); string(b) != want {
			t.Errorf("output %s = %q, want %q", e.Name(), b, want)
		}
	}
	return sum, kills
}

// TestServeUnderFire: serve on its defaults, 1,000 course uploads, 50 in
// flight, a busy worker SIGKILLed every 2 s. A killed worker's requests come
// back once their lease runs out (--visibility, 5 s) and are answered: all
// 1,000 right, none failed or dead-lettered, each result stored once.
func TestServeUnderFire(t *testing.T) {
	s := startServe(t)
	sum, kills := underFire(t, s, 1000, 50)
	if kills == 0 {
		t.Fatal("no worker was killed: the test proved nothing")
	}
	t.Logf("%d workers killed; latency p50 %v, p99 %v, max %v", kills, sum.Latency.P50, sum.Latency.P99, sum.Latency.Max)
}

// BenchmarkServeUnderFire reports the latency of TestServeUnderFire's load:
// p99 shows how long a killed worker's requests wait for their lease to end.
func BenchmarkServeUnderFire(b *testing.B) {
	var p50, p99, most time.Duration
	var kills int
	for b.Loop() {
		b.StopTimer()
		s := startServe(b)
		b.StartTimer()
		sum, k := underFire(b, s, 1000, 50)
		b.StopTimer()
		s.stop(b)
		b.StartTimer()
		p50, p99, most = p50+sum.Latency.P50, p99+sum.Latency.P99, max(most, sum.Latency.Max)
		kills += k
	}
	n := float64(b.N)
	b.ReportMetric(p50.Seconds()/n, "p50_s")
	b.ReportMetric(p99.Seconds()/n, "p99_s")
	b.ReportMetric(most.Seconds(), "max_s")
	b.ReportMetric(float64(kills)/n, "kills/op")
}
