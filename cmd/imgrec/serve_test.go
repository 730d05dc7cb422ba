package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
)

// TestMain lets the test binary act as imgrec itself, so serve's worker
// processes (os.Executable) run the code under test.
func TestMain(m *testing.M) {
	if os.Getenv("IMGREC_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const sharedDir = "../../../shared"

var standinModel = filepath.Join(sharedDir, "models/resnet18-standin.pth")

// served is a running `imgrec serve` process.
type served struct {
	url     string
	dataDir string
	cmd     *exec.Cmd
	stopped sync.Once
	logMu   sync.Mutex
	log     bytes.Buffer
}

func (s *served) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

var servingLine = regexp.MustCompile(`imgrec (?:serving on|web tier on) (http://\S+/)`)

// startServe runs `imgrec serve` on a free port with the stand-in model.
// The result cache is off: most tests and benchmarks here measure the
// workers and the scaling, which answers from the cache would skip; those
// about the cache pass --cache=true.
func startServe(t testing.TB, args ...string) *served {
	t.Helper()
	dataDir := t.TempDir()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--model", standinModel,
		"--admin-token", "t", "--log-level", "info", "--cache=false"}, args...)
	s := startProcess(t, servingLine, args...)
	s.dataDir = dataDir
	return s
}

// startProcess runs imgrec with args and waits for a stderr line matching
// ready; its first group, if any, is the process's URL.
func startProcess(t testing.TB, ready *regexp.Regexp, args ...string) *served {
	t.Helper()
	s := &served{}
	s.cmd = exec.Command(os.Args[0], args...)
	s.cmd.Env = append(os.Environ(), "IMGREC_TEST_AS_MAIN=1")
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.log.WriteString(line + "\n")
			s.logMu.Unlock()
			if m := ready.FindStringSubmatch(line); m != nil && !seen {
				seen = true
				urlc <- append(m, "")[1]
			}
		}
		close(urlc)
	}()
	t.Cleanup(func() { s.stop(t) })
	select {
	case u, ok := <-urlc:
		if !ok {
			t.Fatalf("imgrec %s exited before it was ready:\n%s", args[0], s.logText())
		}
		s.url = u
	case <-time.After(generous):
		t.Fatalf("imgrec %s not ready within %v:\n%s", args[0], generous, s.logText())
	}
	return s
}

// stop sends SIGTERM and waits for serve (and so its workers) to exit.
func (s *served) stop(t testing.TB) {
	s.stopped.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(generous):
			s.cmd.Process.Kill()
			t.Errorf("imgrec did not exit within %v of SIGTERM", generous)
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", s.logText())
		}
	})
}

func (s *served) status(t testing.TB) (st struct {
	Depth     int
	Queue     imgrec.QueueStats
	Instances []imgrec.Instance
	Counts    map[string]int `json:"instance_counts"`
}) {
	resp, err := http.Get(s.url + "v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func loadCourseImages(t testing.TB) []loadgen.Image {
	t.Helper()
	files, err := listImages([]string{filepath.Join(sharedDir, "data/imagenet-100")})
	if err != nil {
		t.Fatal(err)
	}
	var imgs []loadgen.Image
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, loadgen.Image{Name: filepath.Base(f), Data: b})
	}
	return imgs
}

func standinExpected(t testing.TB) map[string]string {
	m, err := readExpected(filepath.Join(sharedDir, "models/resnet18-standin-expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// watchInstances samples /v1/status until stop is closed and returns the
// largest number of active (pending + running) instances seen.
func watchInstances(t *testing.T, s *served, stop <-chan struct{}) <-chan int {
	peak := make(chan int, 1)
	go func() {
		most := 0
		for {
			st := s.status(t)
			most = max(most, st.Counts["pending"]+st.Counts["running"])
			select {
			case <-stop:
				peak <- most
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return peak
}

// waitIdle waits until no instance is pending, running or stopping. How soon
// that happens is a benchmark's to measure; a test only asserts that it does.
func waitIdle(t *testing.T, s *served) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for {
		st := s.status(t)
		if st.Counts["pending"]+st.Counts["running"]+st.Counts["stopping"] == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances not back to 0 within %v: %v", generous, st.Counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeBurstFromZero is the course scenario: 100 images at once against a
// system with no workers; every answer right, instances up and back to 0.
func TestServeBurstFromZero(t *testing.T) {
	s := startServe(t)
	if st := s.status(t); st.Counts["running"]+st.Counts["pending"] != 0 {
		t.Fatalf("instances before any work: %v", st.Counts)
	}
	stop := make(chan struct{})
	peak := watchInstances(t, s, stop)
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.url, Images: loadCourseImages(t), Requests: 100, Concurrency: 100,
		Expected: standinExpected(t), Timeout: generous,
	})
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 100 {
		t.Fatalf("ok %d, wrong %d, failed %d: %+v %+v", sum.OK, sum.Wrong, sum.Failed, sum.WrongExamples, sum.Failures)
	}
	if p := <-peak; p < 2 {
		t.Errorf("peak active instances %d; the burst should have scaled out", p)
	}
	// Back to 0 instances once the queue is idle. How soon is a promise
	// about time, for a benchmark to measure, not for this test to assert.
	waitIdle(t, s)
	entries, _ := os.ReadDir(filepath.Join(s.dataDir, "output"))
	if len(entries) != 100 {
		t.Errorf("output bucket holds %d objects, want 100", len(entries))
	}
	// The instance gauges follow the controller's once-a-second observations.
	var metrics string
	waitFor(t, "idle metrics", func() bool {
		resp, err := http.Get(s.url + "metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		return strings.Contains(metrics, `imgrec_instances{provider="local",state="running"} 0`)
	})
	for _, want := range []string{`imgrec_results_total{outcome="ok"} 100`, "imgrec_queue_depth 0", `imgrec_scaling_actions_total{action="launch"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(s.logText(), `msg=scale`) {
		t.Error("no scaling decision was logged")
	}
}

// TestServeScaleInSparesBusyWorker keeps one worker busy on a large image
// while the rest of a burst drains and idle instances are stopped: the large
// request must finish on its first delivery.
func TestServeScaleInSparesBusyWorker(t *testing.T) {
	// Workers that hold one request at a time, so the paused one below
	// holds only the large image; and a visibility it cannot outlive.
	s := startServe(t, "--target-per-instance", "1", "--scale-window", "300ms", "--scale-in-after", "200ms", "--max-instances", "4",
		"--worker-batch", "1", "--worker-concurrency", "1", "--visibility", "10m")
	type answer struct {
		Label, Error string
		Attempt      int
	}
	bigDone := make(chan answer, 1)
	go func() {
		resp, err := http.Post(s.url+"v1/classify?name=big.png", "image/png", bytes.NewReader(gradientPNG(3000, 3000)))
		var a answer
		if err != nil {
			a.Error = err.Error()
		} else {
			json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
		}
		bigDone <- a
	}()
	// The worker holding the large image is paused (SIGSTOP), so it stays
	// busy however fast this machine is, until the test lets it go on.
	var pid int
	waitFor(t, "a busy worker", func() bool {
		st := s.status(t)
		for _, in := range st.Instances {
			if in.Busy && st.Depth == 1 {
				_, err := fmt.Sscanf(in.Detail, "pid %d", &pid)
				return err == nil
			}
		}
		return false
	})
	pauseProcess(t, pid)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			resumeProcess(t, pid)
		}
	}
	defer resume()
	select {
	case a := <-bigDone:
		t.Fatalf("large image finished (%+v) before its worker was paused; the test proves nothing", a)
	default:
	}
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.url, Images: loadCourseImages(t), Requests: 30, Concurrency: 6,
		Expected: standinExpected(t), Timeout: generous,
	})
	if err != nil || sum.OK != 30 {
		t.Fatalf("burst: %v %+v", err, sum)
	}
	// Idle instances are stopped while the paused one keeps its request.
	waitFor(t, "a scale-in that spares the busy worker", func() bool {
		st := s.status(t)
		return st.Counts["stopping"]+st.Counts["stopped"] > 0 && busyCount(st.Instances) == 1
	})
	for _, in := range s.status(t).Instances {
		if in.Busy && in.State != imgrec.StateRunning {
			t.Fatalf("busy worker %s is %s", in.ID, in.State)
		}
	}
	resume()
	a := <-bigDone
	if a.Label == "" || a.Error != "" || a.Attempt != 1 {
		t.Fatalf("large image: %+v (want a label on the first attempt)", a)
	}
	waitIdle(t, s)
}

func busyCount(in []imgrec.Instance) int {
	n := 0
	for _, i := range in {
		if i.Busy {
			n++
		}
	}
	return n
}

// generous bounds every wait for something that must happen: long enough
// that only a hang, never a slow or loaded machine, reaches it. How fast
// things happen is for the benchmarks to measure.
const generous = 60 * time.Second

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(generous); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, generous)
		}
	}
}

// gradientPNG is large in pixels but small in bytes, so it stays under the
// upload limit while taking the network a few seconds.
func gradientPNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(x), byte(y), byte(x^y), 255
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// TestTiersAsSeparateProcesses runs the web tier and the controller (which
// launches the workers) as their own processes against an external NATS
// server, as on separate machines.
func TestTiersAsSeparateProcesses(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // where the controller packs the model
	nats, blobs := natsAndFiles(t)
	defer nats.Close()
	web := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", nats.URL(), "--blobs", blobs)
	ctl := startProcess(t, regexp.MustCompile(`controller started`), "controller", "--queue", nats.URL(), "--blobs", blobs,
		"--model", standinModel, "--metrics-addr", "")
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: web.url, Images: loadCourseImages(t)[:20], Requests: 20, Concurrency: 10,
		Expected: standinExpected(t), Timeout: time.Minute,
	})
	if err != nil || sum.OK != 20 {
		t.Fatalf("%v %+v\ncontroller log:\n%s", err, sum, ctl.logText())
	}
	if !strings.Contains(ctl.logText(), "msg=scale") {
		t.Errorf("controller logged no scaling decision:\n%s", ctl.logText())
	}
}
