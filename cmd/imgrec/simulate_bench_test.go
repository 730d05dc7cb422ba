package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/natsq"
	"github.com/imgrec/imgrec/simulate"
)

// BenchmarkSimulateVsServe validates the simulator against the real thing:
// the course burst (100 images, 100 in flight) on a cold `imgrec serve`,
// twice. The first run measures the world: the boots and stops (serve's
// log) and, per request, the service time, the inference seconds its
// worker reported in its reply (tapped off the queue: the batch's wall
// time shared among its images). The second run is predicted: its
// arrivals (when each image was stored in the input bucket) are simulated
// in the first run's world under the same policy, and its completion
// time, first arrival to last result stored, is compared with the
// simulation's (the issue asks for them within 20 %). The service time is
// thus never taken from the run it predicts.
//
// Beside it, for comparison, the service time as estimated before from
// completions (instance-time running over requests done while the queue
// kept every worker busy), also taken from the first run, and loadgen's
// wall time of the second for scale:
//
//	go test -run '^$' -bench SimulateVsServe -benchtime 3x ./cmd/imgrec
func BenchmarkSimulateVsServe(b *testing.B) {
	imgs := loadCourseImages(b)
	expected := standinExpected(b)
	policy := func() autoscale.Policy { return autoscale.NewBootAware(autoscale.Config{}) }
	var wall, real, sim, simBusy, boot, service, busyService time.Duration
	for b.Loop() {
		first := serveBurst(b, imgs, expected, true)
		world, err := measureServe(first.log, first.done)
		if err != nil {
			b.Fatal(err)
		}
		busyWorld := world
		world.service, err = inferenceService(first.replies)
		if err != nil {
			b.Fatal(err)
		}

		second := serveBurst(b, imgs, expected, false)
		res, err := simulate.Run(world.replay(second.arrived, 1), policy())
		if err != nil {
			b.Fatal(err)
		}
		resBusy, err := simulate.Run(busyWorld.replay(second.arrived, 1), policy())
		if err != nil {
			b.Fatal(err)
		}
		completion := second.done[len(second.done)-1].Sub(second.arrived[0])
		b.Logf("boot %v, service %v (busy estimate %v); real %v, simulated %v (%.3f), with the busy estimate %v (%.3f)",
			world.instances.Launch.Mean().Round(time.Millisecond), world.service.Mean().Round(100*time.Microsecond),
			busyWorld.service.Mean().Round(100*time.Microsecond), completion.Round(time.Millisecond),
			res.Completion.Round(time.Millisecond), res.Completion.Seconds()/completion.Seconds(),
			resBusy.Completion.Round(time.Millisecond), resBusy.Completion.Seconds()/completion.Seconds())
		wall += second.wall
		real += completion
		sim += res.Completion
		simBusy += resBusy.Completion
		boot += world.instances.Launch.Mean()
		service += world.service.Mean()
		busyService += busyWorld.service.Mean()
	}
	n := time.Duration(b.N)
	b.ReportMetric((wall / n).Seconds(), "wall-s")
	b.ReportMetric((real / n).Seconds(), "real-s")
	b.ReportMetric((sim / n).Seconds(), "sim-s")
	b.ReportMetric(sim.Seconds()/real.Seconds(), "ratio")
	b.ReportMetric((boot/n).Seconds()*1000, "boot-ms")
	b.ReportMetric((service/n).Seconds()*1000, "service-ms")
	b.ReportMetric((busyService/n).Seconds()*1000, "busy-service-ms")
	b.ReportMetric(simBusy.Seconds()/real.Seconds(), "busy-ratio")
}

// burstRun is what one course burst on a cold serve showed.
type burstRun struct {
	wall          time.Duration // loadgen's
	arrived, done []time.Time   // input and output bucket times, sorted
	log           string        // serve's
	replies       []imgrec.Response
}

// serveBurst sends the course burst to a cold `imgrec serve`; with tap,
// it also collects the workers' replies off the queue.
func serveBurst(b *testing.B, imgs []loadgen.Image, expected map[string]string, tap bool) burstRun {
	b.Helper()
	s := startServe(b)
	var replies func() []imgrec.Response
	if tap {
		replies = tapReplies(b, s.logText())
	}
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.url, Images: imgs, Requests: 100, Concurrency: 100, Expected: expected, Timeout: time.Minute,
	})
	if err != nil || sum.OK != 100 {
		b.Fatalf("burst: %v, %d ok", err, sum.OK)
	}
	r := burstRun{wall: sum.Wall}
	if tap {
		r.replies = replies()
	}
	s.stop(b)
	r.log = s.logText()
	if r.arrived, err = bucketTimes(filepath.Join(s.dataDir, "input")); err != nil {
		b.Fatal(err)
	}
	if r.done, err = bucketTimes(filepath.Join(s.dataDir, "output")); err != nil {
		b.Fatal(err)
	}
	return r
}

// servingQueue finds the queue's URL in serve's "serving" log line.
var servingQueue = regexp.MustCompile(`msg=serving .*\bqueue=(nats://\S+)`)

// tapReplies subscribes to every reply on serve's embedded queue and
// returns a function that waits (up to 10 s) for 100 distinct ones, stops,
// and returns those it got.
func tapReplies(b testing.TB, log string) func() []imgrec.Response {
	b.Helper()
	m := servingQueue.FindStringSubmatch(log)
	if m == nil {
		b.Fatalf("no queue URL in serve's log:\n%s", log)
	}
	nc, err := nats.Connect(m[1])
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	byID := map[string]imgrec.Response{}
	_, err = nc.Subscribe(natsq.Config{}.ReplyWildcard(), func(msg *nats.Msg) {
		var r imgrec.Response
		if json.Unmarshal(msg.Data, &r) == nil {
			mu.Lock()
			if _, dup := byID[r.ID]; !dup {
				byID[r.ID] = r
			}
			mu.Unlock()
		}
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		b.Fatal(err)
	}
	return func() []imgrec.Response {
		defer nc.Close()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(byID)
			mu.Unlock()
			if n >= 100 {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Collect(maps.Values(byID))
	}
}

// inferenceService is the service time the workers reported, one value
// per request: its share of its batch's inference, in wall time.
func inferenceService(replies []imgrec.Response) (simulate.Dist, error) {
	var values []time.Duration
	for _, r := range replies {
		if r.Inference > 0 {
			values = append(values, time.Duration(r.Inference*float64(time.Second)))
		}
	}
	if len(values) < 10 {
		return nil, fmt.Errorf("%d of %d replies report their inference seconds; need 10", len(values), len(replies))
	}
	slices.Sort(values)
	return simulate.Empirical{Values: values, Source: "workers' replies"}, nil
}

// bucketTimes are the modification times of the objects in a bucket's
// directory, sorted: when each image arrived (input) or its result was
// stored (output).
func bucketTimes(dir string) ([]time.Time, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, info.ModTime())
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, nil
}

// servedTimes is what serve's log tells of its instances.
type servedTimes struct {
	instances simulate.Instances
	service   simulate.Dist
}

// replay is a simulation of requests arriving at the given (sorted) times
// in the measured world.
func (m servedTimes) replay(arrived []time.Time, seed uint64) simulate.Config {
	w := simulate.Workload{Spec: "serve's arrivals"}
	for _, t := range arrived {
		w.Arrivals = append(w.Arrivals, t.Sub(arrived[0]))
	}
	return simulate.Config{Workload: w, Instances: m.instances, Service: m.service, Seed: seed}
}

// logLine is one line of serve's slog text log; lines its workers write
// come prefixed "[w-N] ".
var (
	logLine      = regexp.MustCompile(`^(\[\S+\] )?time=(\S+) level=\S+ msg=("[^"]*"|\S+)`)
	instanceAttr = regexp.MustCompile(` instance=(\S+)`)
)

// measureServe reads the provider's lines of serve's log for boots
// ("worker started" to "worker ready") and stops ("worker draining" to
// "worker stopped"), and estimates a service time from when requests were
// done: the instance-seconds running from the first ready to the 90th
// percentile of done, over the requests done by then, while the queue kept
// every instance busy. (The benchmark's own service time is the workers'
// reported inference, inferenceService; this one is shown beside it.)
func measureServe(log string, done []time.Time) (servedTimes, error) {
	var boots, stops []time.Duration
	started, draining := map[string]time.Time{}, map[string]time.Time{}
	type change struct {
		at    time.Time
		delta int // instances running
	}
	var changes []change
	for _, line := range strings.Split(log, "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil || m[1] != "" {
			continue
		}
		a := instanceAttr.FindStringSubmatch(line)
		if a == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[2])
		if err != nil {
			return servedTimes{}, fmt.Errorf("log time %q: %w", m[2], err)
		}
		switch instance := a[1]; strings.Trim(m[3], `"`) {
		case "worker started":
			started[instance] = at
		case "worker ready":
			if t, ok := started[instance]; ok {
				boots = append(boots, at.Sub(t))
			}
			changes = append(changes, change{at, +1})
		case "worker draining":
			draining[instance] = at
			changes = append(changes, change{at, -1})
		case "worker stopped":
			if t, ok := draining[instance]; ok {
				stops = append(stops, at.Sub(t))
			}
		}
	}
	if len(boots) == 0 || len(done) < 10 {
		return servedTimes{}, fmt.Errorf("serve's log shows %d boots and %d requests done; need boots and 10 requests", len(boots), len(done))
	}
	n := len(done) * 9 / 10
	end := done[n-1]
	slices.SortStableFunc(changes, func(a, b change) int { return a.at.Compare(b.at) })
	var busy time.Duration // instance-time running until end
	running, last := 0, changes[0].at
	for _, c := range changes {
		if c.at.After(end) {
			break
		}
		busy += time.Duration(running) * c.at.Sub(last)
		running, last = running+c.delta, c.at
	}
	busy += time.Duration(running) * end.Sub(last)

	stop := simulate.Dist(simulate.Constant(0))
	if len(stops) > 0 {
		stop = simulate.Empirical{Values: stops, Source: "serve log"}
	}
	launch := simulate.Empirical{Values: boots, Source: "serve log"}
	return servedTimes{
		instances: simulate.Instances{Launch: launch, Restart: launch, Stop: stop},
		service:   simulate.Constant(busy / time.Duration(n)),
	}, nil
}

// TestServeMeasurementsFeedTheSimulator checks the plumbing of the
// validation benchmark on a log excerpt of the form serve writes: the
// measured times become the simulated world, and the simulation answers.
func TestServeMeasurementsFeedTheSimulator(t *testing.T) {
	log := `time=2026-11-23T10:00:00.000Z level=INFO msg=serving data_dir=/tmp/x
time=2026-11-23T10:00:01.000Z level=INFO msg="worker started" instance=w-1 pid=10
time=2026-11-23T10:00:01.010Z level=INFO msg="worker started" instance=w-2 pid=11
[w-1] time=2026-11-23T10:00:01.020Z level=INFO msg="worker started" instance=w-1 model=/m queue=nats://x
time=2026-11-23T10:00:01.040Z level=INFO msg="worker ready" instance=w-1
time=2026-11-23T10:00:01.070Z level=INFO msg="worker ready" instance=w-2
time=2026-11-23T10:00:03.000Z level=INFO msg="worker draining" instance=w-1
time=2026-11-23T10:00:03.020Z level=INFO msg="worker stopped" instance=w-1 exit=drained
`
	// 20 requests done 0.1 s apart from 1.1 s: the 18th at 2.8 s, when w-1
	// has run 1.76 s and w-2 1.73 s: 3.49 s over 18 requests.
	var done []time.Time
	for i := range 20 {
		done = append(done, time.Date(2026, 11, 23, 10, 0, 1, 100_000_000*(i+1), time.UTC))
	}
	m, err := measureServe(log, done)
	if err != nil {
		t.Fatal(err)
	}
	boots := slices.Sorted(slices.Values(m.instances.Launch.(simulate.Empirical).Values))
	if want := []time.Duration{40 * time.Millisecond, 60 * time.Millisecond}; !slices.Equal(boots, want) {
		t.Errorf("boots %v, want %v (the worker's own start line is not the provider's)", boots, want)
	}
	if got, want := m.service, simulate.Constant(3490*time.Millisecond/18); got != want {
		t.Errorf("service time %v, want %v", got, want)
	}
	if got := m.instances.Stop.Mean(); got != 20*time.Millisecond {
		t.Errorf("stop %v, want 20ms", got)
	}
	res, err := simulate.Run(m.replay(done[:5], 1), autoscale.NewBootAware(autoscale.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 5 || res.Unfinished != 0 || res.Launches == 0 || res.Completion <= 400*time.Millisecond {
		t.Errorf("simulated burst: %+v", res)
	}
	if _, err := measureServe("time=2026-11-23T10:00:00.000Z level=INFO msg=serving\n", done); err == nil {
		t.Error("a log without boots was accepted")
	}
}

// TestServiceFromReplies: the service time is the inference seconds the
// replies report, one value per request; the queue's URL is read from
// serve's log line.
func TestServiceFromReplies(t *testing.T) {
	var replies []imgrec.Response
	for i := range 12 {
		replies = append(replies, imgrec.Response{ID: fmt.Sprint(i), Inference: 0.01 * float64(i)})
	}
	d, err := inferenceService(replies)
	if err != nil {
		t.Fatal(err)
	}
	// The first reports no time (0) and is left out: 0.01..0.11 s, mean 60 ms.
	if e := d.(simulate.Empirical); len(e.Values) != 11 || e.Values[0] != 10*time.Millisecond || d.Mean() != 60*time.Millisecond {
		t.Errorf("service %v (mean %v)", e.Values, d.Mean())
	}
	if _, err := inferenceService(replies[:5]); err == nil {
		t.Error("5 replies were enough")
	}
	line := `time=2026-11-23T10:00:00.000Z level=INFO msg=serving data_dir=/tmp/x model=/m queue=nats://127.0.0.1:41234 min_instances=0 max_instances=20`
	if m := servingQueue.FindStringSubmatch(line); m == nil || m[1] != "nats://127.0.0.1:41234" {
		t.Errorf("queue URL from %q: %v", line, m)
	}
}
