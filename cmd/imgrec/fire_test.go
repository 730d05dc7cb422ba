package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/natsq"
)

// killer SIGKILLs a worker as soon as it sees one, then one every
// interval, until stopped or after most kills (0: no limit), and counts its
// kills. victims lists the pids it may choose from.
type killer struct {
	victims func() []int
	stop    chan struct{}
	done    sync.WaitGroup
	mu      sync.Mutex
	kills   int
}

func startKiller(every time.Duration, most int, victims func() []int) *killer {
	k := &killer{victims: victims, stop: make(chan struct{})}
	k.done.Go(func() {
		for n := 1; k.killOne() && n != most; n++ {
			select {
			case <-k.stop:
				return
			case <-time.After(every):
			}
		}
	})
	return k
}

// killOne waits for a victim and kills it; false once stopped.
func (k *killer) killOne() bool {
	for {
		if pids := k.victims(); len(pids) > 0 {
			pid := pids[rand.IntN(len(pids))]
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

// busyWorkers lists the pids of serve's running workers that hold requests
// while the queue holds at least minDepth. Near the end of a load the only
// busy workers are those that just got the last, redelivered requests:
// killing them then would hunt those few requests down, attempt after
// attempt, rather than hit work at random.
func busyWorkers(t testing.TB, s *served, minDepth int) func() []int {
	return func() []int {
		st := s.status(t)
		if st.Depth < minDepth {
			return nil
		}
		var pids []int
		for _, in := range st.Instances {
			var pid int
			if in.State == imgrec.StateRunning && in.Busy {
				if _, err := fmt.Sscanf(in.Detail, "pid %d", &pid); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		return pids
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
// a busy worker is SIGKILLed every 2 s as long as the queue holds a fifth of
// inFlight, and checks that nothing is lost:
// every answer right, none failed, no dead letter, and the output bucket
// holding exactly the 100 records with their labels.
func underFire(t testing.TB, s *served, requests, inFlight int) (loadgen.Summary, int) {
	k := startKiller(2*time.Second, 0, busyWorkers(t, s, inFlight/5))
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
	// A worker killed mid-write may leave its temporary file (".tmp-…",
	// no key: the bucket removes it when next opened); the objects are the rest.
	entries, _ := os.ReadDir(filepath.Join(s.dataDir, "output"))
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return imgrec.CheckKey(e.Name()) != nil })
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

// workerEvent is a local provider's log line about one of its workers.
var workerEvent = regexp.MustCompile(`msg="worker (started|stopped|died|terminated)" instance=(\S+)(?: pid=(\d+))?`)

// localWorkers lists the pids of the workers a process running a local
// provider (serve, controller) has started and not seen end, from its log.
func (s *served) localWorkers() []int {
	alive := map[string]int{}
	for _, m := range workerEvent.FindAllStringSubmatch(s.logText(), -1) {
		if m[1] == "started" {
			alive[m[2]], _ = strconv.Atoi(m[3])
		} else {
			delete(alive, m[2])
		}
	}
	var pids []int
	for _, pid := range alive {
		pids = append(pids, pid)
	}
	return pids
}

// TestWebTierKilledMidBurst SIGKILLs the web tier right after it has queued
// the course's 100 images as jobs: every request already queued still
// reaches the output bucket once workers come (the controller starts after
// the kill, so none was done before it, however fast the machine), and a
// web tier started again on the same queue and buckets serves on.
func TestWebTierKilledMidBurst(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // where the controller packs the model
	nats, err := natsq.Embedded(natsq.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer nats.Close()
	dir := t.TempDir()
	blobs := "file://" + dir
	web := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", nats.URL(), "--blobs", blobs)
	imgs := loadCourseImages(t)
	var wg sync.WaitGroup
	for _, img := range imgs {
		wg.Go(func() {
			resp, err := http.Post(web.url+"v1/jobs?name="+url.QueryEscape(img.Name), "image/jpeg", bytes.NewReader(img.Data))
			if err != nil {
				t.Errorf("submit %s: %v", img.Name, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("submit %s: %s, want 202 (queued)", img.Name, resp.Status)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err := web.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	ctl := startProcess(t, regexp.MustCompile(`controller started`), "controller", "--queue", nats.URL(), "--blobs", blobs,
		"--model", standinModel, "--metrics-addr", "", "--log-level", "info")
	out := filepath.Join(dir, "output")
	waitFor(t, "every queued image's record", func() bool {
		entries, _ := os.ReadDir(out)
		return len(entries) == len(imgs)
	})
	expected := standinExpected(t)
	for _, img := range imgs {
		key := imgrec.OutputKey(img.Name)
		b, _ := os.ReadFile(filepath.Join(out, key))
		if want := (imgrec.OutputRecord{Name: key, Label: expected[img.Name]}).String(); string(b) != want {
			t.Errorf("output %s = %q, want %q", key, b, want)
		}
	}

	again := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", nats.URL(), "--blobs", blobs)
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: again.url, Images: imgs[:20], Requests: 20, Concurrency: 10, Expected: expected, Timeout: time.Minute,
	})
	if err != nil || sum.OK != 20 {
		t.Fatalf("restarted web tier: %v %+v\ncontroller log:\n%s", err, sum, ctl.logText())
	}
}
