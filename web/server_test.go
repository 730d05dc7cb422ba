package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/worker"
)

const shared = "../../shared"

var (
	modelOnce sync.Once
	model     *resnet.Model
	modelErr  error
)

func standin(t *testing.T) *resnet.Model {
	modelOnce.Do(func() { model, modelErr = resnet.Load(filepath.Join(shared, "models/resnet18-standin.pth")) })
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

// stack is a whole system in one process: the in-memory queue and buckets,
// the real classifier in a worker goroutine, and the web tier under test.
// The web tier and the worker hold separate handles on the queue, as
// separate processes would.
type stack struct {
	url      string
	queue    imgrec.Queue
	jobs     *inmem.JobStore
	in, out  imgrec.BlobStore
	srv      *Server
	expected map[string]string
}

type stackOptions struct {
	noWorker  bool
	maxUpload int64
	maxPixels int64
	timeout   time.Duration
	inlineMax int
	// maxMessage is the queue's MaxMessageBytes (0: inmem's default).
	maxMessage int
	// instances, if set, is the web tier's Instances.
	instances func(context.Context) ([]imgrec.Instance, error)
	// webQueue and workerInput, if set, wrap what the web tier and the
	// worker see of the queue and the input bucket.
	webQueue    func(imgrec.Queue) imgrec.Queue
	workerInput func(imgrec.BlobStore) imgrec.BlobStore
	// config, if set, changes the web tier's Config before New.
	config func(*Config)
	// cache turns the result cache on, in the web tier and the worker.
	cache bool
}

// stackModel is what the stack's worker runs, as the result cache names it.
var stackModel = imgrec.Model{Digest: "5ta1d1n5ta1d1n00", Profile: "reference"}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q, err := inmem.NewQueue(inmem.Config{MaxMessageBytes: o.maxMessage})
	if err != nil {
		t.Fatal(err)
	}
	workerQ := q.Connect()
	in, out := inmem.NewStore(), inmem.NewStore()
	jobs, err := inmem.NewJobStore(inmem.JobStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) (*imgrec.Image, error) { return vision.Decode(b, vision.Limits{MaxPixels: o.maxPixels}) }
	reg := prometheus.NewRegistry()
	var webQ imgrec.Queue = q
	if o.webQueue != nil {
		webQ = o.webQueue(q)
	}
	var workerIn imgrec.BlobStore = in
	if o.workerInput != nil {
		workerIn = o.workerInput(in)
	}
	cfg := Config{
		Queue: webQ, Input: in, InlineMaxBytes: o.inlineMax, Output: out, Jobs: jobs, Cache: o.cache, Check: func(b []byte) error { return vision.Check(b, vision.Limits{MaxPixels: o.maxPixels}) },
		MaxUploadBytes: o.maxUpload, MaxPixels: o.maxPixels, Timeout: o.timeout, AdminToken: "sesame",
		Instances: o.instances, Registry: reg, Gatherer: reg,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	if !o.noWorker {
		w, err := worker.New(worker.Config{
			Queue: workerQ, Input: workerIn, Output: out, Decode: decode, ID: "test-worker",
			Jobs: jobs, Cache: o.cache, Model: stackModel,
			Classifier: &resnet.Classifier{Model: standin(t), Profile: vision.ProfileReference},
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { w.Run(ctx) })
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		cancel()
		wg.Wait()
		srv.Close()
		workerQ.Close()
		q.Close()
	})
	return &stack{url: hs.URL, queue: q, jobs: jobs, in: in, out: out, srv: srv,
		expected: readCSV(t, filepath.Join(shared, "models/resnet18-standin-expected.csv"))}
}

func readCSV(t *testing.T, path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f, l, _ := strings.Cut(line, ",")
		m[f] = l
	}
	return m
}

func courseImage(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(shared, "data/imagenet-100", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends a multipart upload with the file in field.
func post(t *testing.T, url, field, name string, data []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile(field, name)
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCourseEndpoint(t *testing.T) {
	s := newStack(t, stackOptions{})
	for i, field := range []string{"myfile", "inputFile"} {
		name := fmt.Sprintf("test_%d.JPEG", i)
		code, body := post(t, s.url+"/", field, name, courseImage(t, name))
		if code != 200 || body != s.expected[name] {
			t.Fatalf("field %s: %d %q, want 200 %q", field, code, body, s.expected[name])
		}
		key := strings.TrimSuffix(name, ".JPEG")
		got, err := s.out.Get(context.Background(), key)
		if want := "(" + key + ", " + s.expected[name] + ")"; err != nil || string(got) != want {
			t.Fatalf("output bucket %s = %q, %v; want %q", key, got, err, want)
		}
		if stored, err := s.in.Get(context.Background(), name); err != nil || !bytes.Equal(stored, courseImage(t, name)) {
			t.Fatalf("input bucket %s: %v", name, err)
		}
	}
}

// TestSameNameNeverMixesAnswers uploads different images under one name at once.
func TestSameNameNeverMixesAnswers(t *testing.T) {
	s := newStack(t, stackOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			src := fmt.Sprintf("test_%d.JPEG", i)
			code, body := post(t, s.url+"/", "myfile", "same.jpg", courseImage(t, src))
			if code != 200 || body != s.expected[src] {
				errs <- fmt.Errorf("%s uploaded as same.jpg: %d %q, want %q", src, code, body, s.expected[src])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBadInput(t *testing.T) {
	s := newStack(t, stackOptions{maxUpload: 64 << 10, maxPixels: 300 * 300})
	jpeg := courseImage(t, "test_5.JPEG")
	var big bytes.Buffer
	png.Encode(&big, image.NewGray(image.Rect(0, 0, 400, 400)))
	var tiny bytes.Buffer
	png.Encode(&tiny, solid(8, 8))
	cases := []struct {
		name       string
		send       func() (*http.Response, error)
		code       int
		reasonPart string
	}{
		{"empty body", func() (*http.Response, error) { return http.Post(s.url+"/", "multipart/form-data; boundary=x", nil) }, 400, "multipart"},
		{"not multipart", func() (*http.Response, error) { return http.Post(s.url+"/", "text/plain", strings.NewReader("hi")) }, 400, "myfile"},
		{"no file field", formWith("other", "a.jpg", jpeg, s.url+"/"), 400, `field "myfile"`},
		{"empty file", formWith("myfile", "a.jpg", nil, s.url+"/"), 400, "empty"},
		{"not an image", formWith("myfile", "a.jpg", []byte("hello, I am text"), s.url+"/"), 400, "not a JPEG or PNG"},
		// The header is fine: the worker finds the rest missing.
		{"truncated JPEG", formWith("myfile", "a.jpg", jpeg[:len(jpeg)/2], s.url+"/"), 422, "truncated"},
		{"too many pixels", formWith("myfile", "a.png", big.Bytes(), s.url+"/"), 413, "Mpx"},
		{"over upload limit", formWith("myfile", "a.jpg", bytes.Repeat([]byte{1}, 70<<10), s.url+"/"), 413, "64 KiB"},
		{"too small to classify", formWith("myfile", "t.png", tiny.Bytes(), s.url+"/"), 422, "at least 32x32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := c.send()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := strings.TrimSpace(string(b))
			if resp.StatusCode != c.code || !strings.Contains(body, c.reasonPart) || strings.Contains(body, "\n") {
				t.Fatalf("got %d %q, want %d with a one-line reason mentioning %q", resp.StatusCode, body, c.code, c.reasonPart)
			}
		})
	}
	// The system keeps working after all that, and nothing is left queued.
	if code, body := post(t, s.url+"/", "myfile", "test_5.JPEG", jpeg); code != 200 || body != s.expected["test_5.JPEG"] {
		t.Fatalf("after bad input: %d %q", code, body)
	}
	waitFor(t, func() bool { st, _ := s.queue.Stats(context.Background()); return st.Depth() == 0 })
	if st, _ := s.queue.Stats(context.Background()); st.DeadLetters != 2 {
		t.Errorf("dead letters = %d, want 2 (the truncated and the too-small image)", st.DeadLetters)
	}
}

func solid(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(0, 0, color.Black)
	return img
}

func formWith(field, name string, data []byte, url string) func() (*http.Response, error) {
	return func() (*http.Response, error) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile(field, name)
		fw.Write(data)
		mw.Close()
		return http.Post(url, mw.FormDataContentType(), &body)
	}
}

func TestTimeoutWithoutWorkers(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, timeout: 300 * time.Millisecond})
	code, body := post(t, s.url+"/", "myfile", "test_1.JPEG", courseImage(t, "test_1.JPEG"))
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "no answer within 300ms") {
		t.Fatalf("got %d %q", code, body)
	}
	if st, _ := s.queue.Stats(context.Background()); st.Waiting != 1 {
		t.Fatalf("the request should stay queued: %+v", st)
	}
	waitFor(t, func() bool {
		return strings.Contains(getText(t, s.url+"/metrics"), `imgrec_request_duration_seconds_count{endpoint="course",outcome="timeout"} 1`)
	})
	if m := getText(t, s.url+"/metrics"); !strings.Contains(m, `imgrec_results_total{outcome="timeout"} 1`) {
		t.Errorf("the timeout is not counted in imgrec_results_total")
	}
}

// TestClientLeaves: a client that leaves before its answer is counted apart
// from timeouts and errors, in the results and the durations.
func TestClientLeaves(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("myfile", "test_2.JPEG")
	fw.Write(courseImage(t, "test_2.JPEG"))
	mw.Close()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { // the upload is queued: its client may leave
		st, _ := s.queue.Stats(context.Background())
		return st.Waiting == 1
	})
	cancel()
	<-done
	waitFor(t, func() bool {
		m := getText(t, s.url+"/metrics")
		return strings.Contains(m, `imgrec_request_duration_seconds_count{endpoint="course",outcome="cancelled"} 1`) &&
			strings.Contains(m, `imgrec_results_total{outcome="cancelled"} 1`)
	})
}

func TestJSONAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	// Synchronous, raw body.
	resp, err := http.Post(s.url+"/v1/classify?name=test_7.JPEG", "image/jpeg", bytes.NewReader(courseImage(t, "test_7.JPEG")))
	if err != nil {
		t.Fatal(err)
	}
	var j job
	json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if resp.StatusCode != 200 || j.State != JobDone || j.Label != s.expected["test_7.JPEG"] || len(j.Top) != 5 || j.Top[0].Label != j.Label {
		t.Fatalf("classify: %d %+v", resp.StatusCode, j)
	}
	// Asynchronous: 202, then poll.
	code, body := post(t, s.url+"/v1/jobs", "file", "test_8.JPEG", courseImage(t, "test_8.JPEG"))
	if code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", code, body)
	}
	json.Unmarshal([]byte(body), &j)
	if j.ID == "" || j.State != JobQueued {
		t.Fatalf("submitted job: %+v", j)
	}
	resp, err = http.Get(s.url + "/v1/jobs/" + j.ID + "?wait=1m")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if j.State != JobDone || j.Label != s.expected["test_8.JPEG"] {
		t.Fatalf("job: %+v", j)
	}
	// The async job is counted when its reply reaches this tier, which
	// may be a moment after the worker recorded its answer in the store.
	waitFor(t, func() bool {
		resp, _ = http.Get(s.url + "/metrics")
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(metrics), `imgrec_results_total{outcome="ok"} 2`) &&
			strings.Contains(string(metrics), `imgrec_request_duration_seconds_count{endpoint="jobs",outcome="ok"} 1`)
	})
	resp, _ = http.Get(s.url + "/v1/jobs/nope")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown job: %d", resp.StatusCode)
	}
	// Results page through the output bucket.
	resp, _ = http.Get(s.url + "/v1/results?limit=1")
	var res struct {
		Results []result
		Next    string
	}
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if len(res.Results) != 1 || res.Results[0].Key != "test_7" || res.Next != "test_7" {
		t.Fatalf("results page 1: %+v", res)
	}
	resp, _ = http.Get(s.url + "/v1/results?after=" + res.Next)
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if len(res.Results) != 1 || res.Results[0].Value != "(test_8, "+s.expected["test_8.JPEG"]+")" || res.Results[0].Label != s.expected["test_8.JPEG"] {
		t.Fatalf("results page 2: %+v", res)
	}
}

func TestResetNeedsTokenAndClearsEverything(t *testing.T) {
	s := newStack(t, stackOptions{})
	post(t, s.url+"/", "myfile", "test_3.JPEG", courseImage(t, "test_3.JPEG"))
	reset := func(token string) (int, map[string]int) {
		req, _ := http.NewRequest("POST", s.url+"/v1/reset", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]int
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := reset(""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := reset("wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	code, m := reset("sesame")
	if code != 200 || m["inputs"] != 1 || m["outputs"] != 1 || m["jobs"] != 1 {
		t.Fatalf("reset: %d %v", code, m)
	}
	for _, b := range []imgrec.BlobStore{s.in, s.out} {
		if l, _ := b.List(context.Background(), "", "", 10); len(l) != 0 {
			t.Fatalf("bucket not empty after reset: %v", l)
		}
	}
}

func TestHealthMetricsAndPage(t *testing.T) {
	instances := []imgrec.Instance{
		{ID: "nova:1", State: imgrec.StateRunning, Busy: true, Provider: "nova"}, {ID: "nova:2", State: imgrec.StateRunning, Provider: "nova"},
		{ID: "ec2:i-3", State: imgrec.StatePending, Provider: "ec2"}, {ID: "ec2:i-4", State: imgrec.StateStopped, Provider: "ec2"},
	}
	s := newStack(t, stackOptions{instances: func(context.Context) ([]imgrec.Instance, error) { return instances, nil }})
	post(t, s.url+"/", "myfile", "test_2.JPEG", courseImage(t, "test_2.JPEG"))
	post(t, s.url+"/", "myfile", "x.jpg", []byte("junk"))
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		if resp, body := get(path); resp.StatusCode != 200 || body != "ok\n" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`imgrec_results_total{outcome="ok"} 1`, `imgrec_results_total{outcome="rejected"} 1`,
		`imgrec_request_duration_seconds_count{endpoint="course",outcome="ok"} 1`,
		`imgrec_request_duration_seconds_count{endpoint="course",outcome="rejected"} 1`,
		"imgrec_queue_depth 0", "imgrec_queue_up 1", "imgrec_queue_stats_errors_total 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp, page := get("/")
	if !strings.Contains(page, `name="myfile"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("page: %s", page)
	}
	resp, body := get("/v1/status")
	var st status
	json.Unmarshal([]byte(body), &st)
	wantCounts := map[string]int{"pending": 1, "running": 2, "stopping": 0, "stopped": 1}
	if resp.StatusCode != 200 || !maps.Equal(st.Counts, wantCounts) || len(st.Instances) != len(instances) ||
		st.Instances[0] != instances[0] || st.Depth != 0 || st.Queue != (imgrec.QueueStats{}) {
		t.Fatalf("status: %d %s; want the provider's 4 instances counted %v and an empty queue", resp.StatusCode, body, wantCounts)
	}
	if !strings.Contains(body, `"provider":"nova"`) || !strings.Contains(body, `"provider":"ec2"`) {
		t.Errorf("status does not say each instance's provider: %s", body)
	}
	var h struct{ Samples []sample }
	waitFor(t, func() bool { getJSON(t, s.url+"/v1/history", &h); return len(h.Samples) > 0 })
	wantProviders := map[string]map[string]int{
		"nova": {"pending": 0, "running": 2, "stopping": 0, "stopped": 0},
		"ec2":  {"pending": 1, "running": 0, "stopping": 0, "stopped": 1},
	}
	if got := h.Samples[0].Providers; len(got) != 2 || !maps.Equal(got["nova"], wantProviders["nova"]) || !maps.Equal(got["ec2"], wantProviders["ec2"]) {
		t.Errorf("history sample's providers %v, want %v", got, wantProviders)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"test_0.JPEG":                      "test_0.JPEG",
		"../../etc/passwd":                 "passwd",
		`C:\Users\me\cat.jpg`:              "cat.jpg",
		".hidden.png":                      "hidden.png",
		"":                                 "image",
		"..":                               "image",
		"<img src=x onerror=alert(1)>.jpg": "_img src=x onerror=alert(1)_.jpg",
		"a\x00b\nc.jpg":                    "a_b_c.jpg",
		strings.Repeat("é", 100) + ".jpeg": strings.Repeat("é", 61) + ".jpeg",
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// waitFor polls cond until it holds, failing t only after a minute, which
// no slow machine reaches.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within a minute")
}

// countingStore counts Gets.
type countingStore struct {
	imgrec.BlobStore
	gets atomic.Int32
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets.Add(1)
	return c.BlobStore.Get(ctx, key)
}

// sendLog records each request the web tier sends and the queue's answer.
type sendLog struct {
	imgrec.Queue
	mu    sync.Mutex
	sends []sent
}

type sent struct {
	inline bool   // the request carried the image
	code   string // the error code the queue answered with; "" for success
}

func (l *sendLog) Send(ctx context.Context, r imgrec.Request) error {
	err := l.Queue.Send(ctx, r)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sends = append(l.sends, sent{inline: len(r.Image) > 0, code: imgrec.ErrorCode(err)})
	return err
}

func (l *sendLog) get() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sends)
}

// TestInlineImages: small images travel in the request, so the worker never
// reads the input bucket, which still holds them; a queue that refuses the
// larger message gets the key alone, and the answer is the same.
func TestInlineImages(t *testing.T) {
	jpeg := courseImage(t, "test_7.JPEG")
	run := func(t *testing.T, maxMessage int) (sends []sent, gets int32) {
		var log *sendLog
		var counted *countingStore
		s := newStack(t, stackOptions{inlineMax: 64 << 10, maxMessage: maxMessage,
			webQueue: func(q imgrec.Queue) imgrec.Queue { log = &sendLog{Queue: q}; return log },
			workerInput: func(b imgrec.BlobStore) imgrec.BlobStore {
				counted = &countingStore{BlobStore: b}
				return counted
			}})
		if code, body := post(t, s.url+"/", "myfile", "test_7.JPEG", jpeg); code != 200 || body != s.expected["test_7.JPEG"] {
			t.Fatalf("%d %q", code, body)
		}
		if stored, err := s.in.Get(context.Background(), "test_7.JPEG"); err != nil || !bytes.Equal(stored, jpeg) {
			t.Errorf("input bucket: %d bytes, %v; want the image", len(stored), err)
		}
		waitFor(t, func() bool { st, _ := s.queue.Stats(context.Background()); return st == imgrec.QueueStats{} })
		return log.get(), counted.gets.Load()
	}
	t.Run("inline", func(t *testing.T) {
		sends, gets := run(t, 0)
		if want := []sent{{inline: true}}; !slices.Equal(sends, want) || gets != 0 {
			t.Errorf("sends %+v, bucket reads %d: want %+v and no read", sends, gets, want)
		}
	})
	// The queue's own size check refuses the inline request: a limit of
	// the image's size is below the request carrying it (in base64, a
	// third larger) and far above one carrying the key alone.
	t.Run("refused inline", func(t *testing.T) {
		sends, gets := run(t, len(jpeg))
		if want := []sent{{inline: true, code: imgrec.ETOOLARGE}, {inline: false}}; !slices.Equal(sends, want) || gets != 1 {
			t.Errorf("sends %+v, bucket reads %d: want %+v, then the key alone read once", sends, gets, want)
		}
	})
}
