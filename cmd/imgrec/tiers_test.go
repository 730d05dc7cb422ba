package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/imgrec/imgrec/natsq"
)

// What the tests that run the tiers as separate processes share.

// natsAndFiles starts an embedded NATS server that processes reach at its
// URL, with its data in a directory of the test's, for the caller to close,
// and returns it with a URL for file buckets (file://DIR) in another.
func natsAndFiles(t *testing.T) (*natsq.Queue, string) {
	t.Helper()
	nats, err := natsq.Embedded(natsq.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return nats, "file://" + t.TempDir()
}

// loadgenRun is how an `imgrec loadgen` process ended.
type loadgenRun struct {
	code           int
	stdout, stderr string
}

// startLoadgen runs `imgrec loadgen --json` with args in the background:
// the course's 100 images at once to url, each answer held to the stand-in
// model's expected label. The run comes on the channel once it has ended.
func startLoadgen(t *testing.T, url string, args ...string) <-chan loadgenRun {
	loaded := make(chan loadgenRun, 1)
	go func() {
		var r loadgenRun
		r.code, r.stdout, r.stderr = runImgrec(t, append([]string{"loadgen", "--url", url, "--image-folder", filepath.Join(sharedDir, "data/imagenet-100"),
			"--num-request", "100", "--concurrency", "100", "--expected", filepath.Join(sharedDir, "models/resnet18-standin-expected.csv")},
			append(args, "--json")...)...)
		loaded <- r
	}()
	return loaded
}

// wantAllAnswered fails t unless the run exited 0 with all 100 requests
// answered right; the failure shows ctl's log.
func (r loadgenRun) wantAllAnswered(t *testing.T, ctl *served) {
	t.Helper()
	var sum struct{ OK, Wrong, Failed int }
	if err := json.Unmarshal([]byte(r.stdout), &sum); r.code != 0 || err != nil || sum.OK != 100 {
		t.Fatalf("loadgen: exit %d, %v: %s%s\ncontroller log:\n%s", r.code, err, r.stdout, r.stderr, ctl.logText())
	}
}

var workerStarted = regexp.MustCompile(`worker started`)

// standinWorkers starts two `imgrec worker` processes, w1 and w2, with
// args and the stand-in model: they stand in for the workers of instances
// that run no code (moto's, the local Nova's).
func standinWorkers(t *testing.T, args ...string) []*served {
	t.Helper()
	var workers []*served
	for _, id := range []string{"w1", "w2"} {
		workers = append(workers, startProcess(t, workerStarted, append(append([]string{"worker"}, args...), "--model", standinModel, "--id", id)...))
	}
	return workers
}

// stopAll stops the processes all at once: each may wait out a long poll.
func stopAll(t *testing.T, procs ...*served) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(t) })
	}
	wg.Wait()
}
