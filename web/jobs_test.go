package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/worker"
)

// otherTier starts a second web tier on the stack's queue (a handle of its
// own, as another process), buckets and job store; close stops it.
func otherTier(t *testing.T, s *stack) (url string, close func()) {
	t.Helper()
	q := s.queue.(*inmem.Queue).Connect()
	reg := prometheus.NewRegistry()
	srv, err := New(context.Background(), Config{
		Queue: q, Input: s.in, Output: s.out, Jobs: s.jobs, Check: func(b []byte) error { return vision.Check(b, vision.Limits{}) },
		Registry: reg, Gatherer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	var once sync.Once
	close = func() { once.Do(func() { hs.Close(); srv.Close(); q.Close() }) }
	t.Cleanup(close)
	return hs.URL, close
}

// submit posts an image to POST /v1/jobs (or /v1/classify) with an optional
// Idempotency-Key and decodes the job.
func submitJob(t *testing.T, url, name string, data []byte, idemKey string) (int, http.Header, job, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var j job
	json.Unmarshal(b, &j)
	return resp.StatusCode, resp.Header, j, string(b)
}

// TestJobsOnAnyTier: a job taken by one web tier is read, long-polled and
// watched on another; and answered in the store while the tier that took it
// is down.
func TestJobsOnAnyTier(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	other, _ := otherTier(t, s)
	code, _, j, body := submitJob(t, s.url+"/v1/jobs", "test_20.JPEG", courseImage(t, "test_20.JPEG"), "")
	if code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", code, body)
	}
	// Recorded before the 202: the other tier knows it, queued.
	var got job
	if code := getJSON(t, other+"/v1/jobs/"+j.ID, &got); code != 200 || got.State != JobQueued || got.Name != "test_20.JPEG" {
		t.Fatalf("other tier, before any worker: %d %+v", code, got)
	}
	// The tier that took it goes away; a worker comes and answers.
	s.srv.Close()
	startWorker(t, s)
	if code := getJSON(t, other+"/v1/jobs/"+j.ID+"?wait=1m", &got); code != 200 || got.State != JobDone || got.Label != s.expected["test_20.JPEG"] {
		t.Fatalf("other tier, long poll: %d %+v", code, got)
	}
	var w watchedJobs
	if code := getJSON(t, other+"/v1/jobs?wait=1s&ids="+j.ID+",nosuchjob,not.an.id", &w); code != 200 ||
		len(w.Jobs) != 1 || w.Jobs[0].Label != s.expected["test_20.JPEG"] || strings.Join(w.Unknown, ",") != "not.an.id,nosuchjob" {
		t.Fatalf("other tier, watch: %d %+v", code, w)
	}
	if code := getJSON(t, other+"/v1/jobs/nosuchjob?wait=1s", &got); code != 404 {
		t.Errorf("unknown job, long poll: %d", code)
	}
}

// startWorker runs a worker on the stack's queue, job store and buckets
// until the test ends.
func startWorker(t *testing.T, s *stack) {
	t.Helper()
	w := newTestWorker(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// countingQueue counts the requests sent and can refuse them.
type countingQueue struct {
	imgrec.Queue
	mu     sync.Mutex
	sent   []string // request ids
	refuse bool
}

func (q *countingQueue) Send(ctx context.Context, r imgrec.Request) error {
	q.mu.Lock()
	refuse := q.refuse
	if !refuse {
		q.sent = append(q.sent, r.ID)
	}
	q.mu.Unlock()
	if refuse {
		return imgrec.WrapError(imgrec.EUNAVAILABLE, errors.New("nats: no responders"), "natsq: send")
	}
	return q.Queue.Send(ctx, r)
}

func (q *countingQueue) sends() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.sent...)
}

// TestIdempotencyKey: retries with one key get one job and send one
// request, on POST /v1/jobs and /v1/classify alike, concurrent or not, on
// either tier; the key with another image is refused with 422 and why; a
// key whose first attempt could not be queued is free again.
func TestIdempotencyKey(t *testing.T) {
	var q *countingQueue
	s := newStack(t, stackOptions{webQueue: func(inner imgrec.Queue) imgrec.Queue { q = &countingQueue{Queue: inner}; return q }})
	img := courseImage(t, "test_21.JPEG")

	code, h, first, body := submitJob(t, s.url+"/v1/jobs", "test_21.JPEG", img, "key-1")
	if code != http.StatusAccepted || h.Get(replayedHeader) != "" {
		t.Fatalf("first attempt: %d %s %v", code, body, h)
	}
	// Retries, some at once, some on the other tier, the sync endpoint too.
	other, _ := otherTier(t, s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			url := s.url
			if i%2 == 1 {
				url = other
			}
			path, want := "/v1/jobs", http.StatusAccepted
			if i%4 == 3 {
				path, want = "/v1/classify", http.StatusOK
			}
			code, h, j, body := submitJob(t, url+path, "renamed.JPEG", img, "key-1")
			if code != want || j.ID != first.ID || h.Get(replayedHeader) != "true" {
				t.Errorf("retry %d on %s: %d %s %v; want %d, job %s, replayed", i, path, code, body, h, want, first.ID)
			}
			if path == "/v1/classify" && j.Label != s.expected["test_21.JPEG"] {
				t.Errorf("retry %d on %s: label %q, want %q", i, path, j.Label, s.expected["test_21.JPEG"])
			}
		})
	}
	wg.Wait()
	if sent := q.sends(); len(sent) != 1 || sent[0] != first.ID {
		t.Errorf("requests sent: %v; want one, for job %s", sent, first.ID)
	}

	// The same key with another image.
	code, _, _, body = submitJob(t, s.url+"/v1/jobs", "test_21.JPEG", courseImage(t, "test_22.JPEG"), "key-1")
	var apiErr apiError
	json.Unmarshal([]byte(body), &apiErr)
	if code != http.StatusUnprocessableEntity || apiErr.Code != codeKeyReused || !strings.Contains(apiErr.Error, first.ID) ||
		!strings.Contains(apiErr.Error, "another image") {
		t.Errorf("the key with another image: %d %s; want 422 naming the first job", code, body)
	}
	code, _, _, body = submitJob(t, s.url+"/v1/classify", "x.JPEG", courseImage(t, "test_22.JPEG"), "key-1")
	if code != http.StatusUnprocessableEntity {
		t.Errorf("the key with another image, classify: %d %s", code, body)
	}

	// Concurrent first attempts with a new key on two tiers: one job.
	ids := make(chan string, 6)
	for i := range 6 {
		wg.Go(func() {
			url := []string{s.url, other}[i%2]
			code, _, j, body := submitJob(t, url+"/v1/jobs", "test_23.JPEG", courseImage(t, "test_23.JPEG"), "key-2")
			if code != http.StatusAccepted {
				t.Errorf("concurrent attempt %d: %d %s", i, code, body)
			}
			ids <- j.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("concurrent attempts with one key made jobs %v; want one", seen)
	}

	// A first attempt the queue refuses leaves no job behind.
	q.mu.Lock()
	q.refuse = true
	q.mu.Unlock()
	code, _, _, body = submitJob(t, s.url+"/v1/jobs", "test_24.JPEG", courseImage(t, "test_24.JPEG"), "key-3")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("queue down: %d %s; want 503", code, body)
	}
	q.mu.Lock()
	q.refuse = false
	q.mu.Unlock()
	code, h, j, body := submitJob(t, s.url+"/v1/classify", "test_24.JPEG", courseImage(t, "test_24.JPEG"), "key-3")
	if code != http.StatusOK || h.Get(replayedHeader) != "" || j.Label != s.expected["test_24.JPEG"] {
		t.Errorf("retry once the queue is back: %d %s %v; want a new job answered", code, body, h)
	}

	// Keys that are no keys.
	for _, key := range []string{strings.Repeat("k", 256), "tab\there", "ü"} {
		if code, _, _, body := submitJob(t, s.url+"/v1/jobs", "a.JPEG", img, key); code != http.StatusBadRequest || !strings.Contains(body, "Idempotency-Key") {
			t.Errorf("key %q: %d %s; want 400 about the key", key, code, body)
		}
	}
}

// orphan leaves in the store what a web tier leaves when it dies between
// recording a job and queueing its request: the image in the input bucket,
// the job queued, submitted at submitted, and no request.
func orphan(t *testing.T, s *stack, idemKey, name string, submitted time.Time) job {
	t.Helper()
	img := courseImage(t, name)
	if err := s.in.Put(t.Context(), name, img); err != nil {
		t.Fatal(err)
	}
	j, err := s.jobs.Create(t.Context(), job{ID: IdempotentJobID(idemKey), Name: name, Key: name, State: JobQueued,
		Image: imgrec.ImageDigest(img), Submitted: submitted})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestOrphanedJobRequeued: a job whose request was never queued is answered
// once a retry with its Idempotency-Key finds it: retries on two tiers at
// once, the job due for a requeue, queue its request once between them.
func TestOrphanedJobRequeued(t *testing.T) {
	s := newStack(t, stackOptions{config: func(c *Config) { c.RequeueAfter = time.Hour }})
	other, _ := otherTier(t, s) // RequeueAfter: the default
	j := orphan(t, s, "key-orphan", "test_25.JPEG", time.Now().Add(-2*time.Hour))
	var wg sync.WaitGroup
	for i, url := range []string{s.url, other, s.url, other} {
		wg.Go(func() {
			code, h, got, body := submitJob(t, url+"/v1/classify", "test_25.JPEG", courseImage(t, "test_25.JPEG"), "key-orphan")
			if code != http.StatusOK || got.ID != j.ID || got.Label != s.expected["test_25.JPEG"] || h.Get(replayedHeader) != "true" {
				t.Errorf("retry %d: %d %s; want job %s answered %q, replayed", i, code, body, j.ID, s.expected["test_25.JPEG"])
			}
		})
	}
	wg.Wait()
	requeued := 0
	for _, url := range []string{s.url, other} {
		m := getText(t, url+"/metrics")
		for _, line := range strings.Split(m, "\n") {
			if v, ok := strings.CutPrefix(line, "imgrec_jobs_requeued_total "); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%s/metrics: %q", url, line)
				}
				requeued += n
			}
		}
	}
	if requeued != 1 {
		t.Errorf("requests queued again on the two tiers: %d, want 1", requeued)
	}
	stored, err := s.jobs.Get(t.Context(), j.ID)
	if err != nil || stored.State != JobDone || stored.Requeued == nil {
		t.Errorf("job as stored: %+v, %v; want done, with when it was queued again", stored, err)
	}
	if rec, err := s.out.Get(t.Context(), "test_25"); err != nil || string(rec) != "(test_25, "+s.expected["test_25.JPEG"]+")" {
		t.Errorf("output record: %q, %v", rec, err)
	}
}

// TestOrphanedJobRequeuedWhenDue: an async retry of a job submitted just
// now gets 202 at once, and the request is queued again RequeueAfter after
// the job was submitted, not before: the job is answered for a client that
// only polls.
func TestOrphanedJobRequeuedWhenDue(t *testing.T) {
	const after = 500 * time.Millisecond
	s := newStack(t, stackOptions{config: func(c *Config) { c.RequeueAfter = after }})
	j := orphan(t, s, "key-fresh-orphan", "test_26.JPEG", time.Now())
	code, h, got, body := submitJob(t, s.url+"/v1/jobs", "test_26.JPEG", courseImage(t, "test_26.JPEG"), "key-fresh-orphan")
	if code != http.StatusAccepted || got.ID != j.ID || h.Get(replayedHeader) != "true" {
		t.Fatalf("retry: %d %s; want 202 with job %s, replayed", code, body, j.ID)
	}
	var done job
	if code := getJSON(t, s.url+"/v1/jobs/"+j.ID+"?wait=1m", &done); code != 200 || done.State != JobDone || done.Label != s.expected["test_26.JPEG"] {
		t.Fatalf("long poll: %d %+v; want done, %q", code, done, s.expected["test_26.JPEG"])
	}
	if done.Requeued == nil || done.Requeued.Before(j.Submitted.Add(after)) {
		t.Errorf("queued again at %v; want at or after %v, RequeueAfter after its submission", done.Requeued, j.Submitted.Add(after))
	}
}

// TestOrphanedJobNotRequeued: with RequeueAfter negative nothing is queued
// again: the retry waits its timeout and the job stays queued.
func TestOrphanedJobNotRequeued(t *testing.T) {
	s := newStack(t, stackOptions{timeout: 2 * time.Second, config: func(c *Config) { c.RequeueAfter = -1 }})
	j := orphan(t, s, "key-orphan", "test_27.JPEG", time.Now().Add(-2*time.Hour))
	if code, _, _, body := submitJob(t, s.url+"/v1/classify", "test_27.JPEG", courseImage(t, "test_27.JPEG"), "key-orphan"); code != http.StatusGatewayTimeout {
		t.Errorf("retry: %d %s; want 504", code, body)
	}
	if stored, err := s.jobs.Get(t.Context(), j.ID); err != nil || stored.State != JobQueued || stored.Requeued != nil {
		t.Errorf("job as stored: %+v, %v; want queued, never queued again", stored, err)
	}
}

// vanishingJobs deletes the jobs an Await is asked for before it looks, as
// a reset or an expiry would while a retry waits.
type vanishingJobs struct{ imgrec.JobStore }

func (v vanishingJobs) Await(ctx context.Context, ids []string, wait time.Duration) ([]imgrec.Job, []string, error) {
	for _, id := range ids {
		if err := v.Delete(ctx, id); err != nil {
			return nil, nil, err
		}
	}
	return v.JobStore.Await(ctx, ids, wait)
}

// TestRetryOfJobGone: a retry following another tier's job in the store
// hears that the job is gone (404) when it vanishes, not a timeout.
func TestRetryOfJobGone(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, config: func(c *Config) { c.Jobs = vanishingJobs{c.Jobs} }})
	j := orphan(t, s, "key-gone", "test_28.JPEG", time.Now())
	code, _, _, body := submitJob(t, s.url+"/v1/classify", "test_28.JPEG", courseImage(t, "test_28.JPEG"), "key-gone")
	if code != http.StatusNotFound || !strings.Contains(body, j.ID) {
		t.Errorf("retry of a job that vanished: %d %s; want 404 naming job %s", code, body, j.ID)
	}
}

// TestResultCache: an upload of bytes already classified under the
// workers' model is answered from the cache, under its own name, with no
// request queued and the output bucket's record written; misses and hits
// are counted; a store that holds another model's results only misses; and
// reset empties the cache.
func TestResultCache(t *testing.T) {
	var q *countingQueue
	s := newStack(t, stackOptions{cache: true, webQueue: func(inner imgrec.Queue) imgrec.Queue { q = &countingQueue{Queue: inner}; return q }})
	img := courseImage(t, "test_25.JPEG")
	want := s.expected["test_25.JPEG"]

	code, _, miss, body := submitJob(t, s.url+"/v1/classify", "test_25.JPEG", img, "")
	if code != 200 || miss.Label != want || miss.Cached {
		t.Fatalf("first upload: %d %s; want %q from a worker", code, body, want)
	}
	code, _, hit, body := submitJob(t, s.url+"/v1/classify", "copy.JPEG", img, "")
	if code != 200 || hit.Label != want || !hit.Cached || hit.ID == miss.ID || len(hit.Top) != 5 {
		t.Fatalf("the same bytes again: %d %s; want %q from the cache, a job of its own", code, body, want)
	}
	if len(q.sends()) != 1 {
		t.Errorf("requests sent: %v; want only the first upload's", q.sends())
	}
	if b, err := s.out.Get(t.Context(), "copy"); err != nil || string(b) != "(copy, "+want+")" {
		t.Errorf("output bucket, copy: %q, %v", b, err)
	}
	if j, err := s.jobs.Get(t.Context(), hit.ID); err != nil || !j.Cached || j.State != JobDone {
		t.Errorf("the cached answer's job in the store: %+v, %v", j, err)
	}
	// The course endpoint and an async job are answered from it too.
	if code, body := post(t, s.url+"/", "myfile", "course.JPEG", img); code != 200 || body != want {
		t.Errorf("course endpoint: %d %q", code, body)
	}
	code, _, async, body := submitJob(t, s.url+"/v1/jobs", "async.JPEG", img, "")
	if code != http.StatusAccepted || async.State != JobDone || !async.Cached || async.Label != want {
		t.Errorf("async: %d %s; want 202 with the job done from the cache", code, body)
	}
	if len(q.sends()) != 1 {
		t.Errorf("requests sent: %v; want still one", q.sends())
	}
	metrics := getText(t, s.url+"/metrics")
	for _, w := range []string{`imgrec_cache_lookups_total{outcome="hit"} 3`, `imgrec_cache_lookups_total{outcome="miss"} 1`} {
		if !strings.Contains(metrics, w) {
			t.Errorf("metrics lack %q", w)
		}
	}

	// Workers of another model: what the cache holds is not theirs.
	if err := s.jobs.SetModel(t.Context(), imgrec.Model{Digest: "0ther0ther0ther0", Profile: "reference"}); err != nil {
		t.Fatal(err)
	}
	s.srv.modelMu.Lock()
	s.srv.workersModelAt = time.Time{} // read it again now, not in 10 s
	s.srv.modelMu.Unlock()
	code, _, j, body := submitJob(t, s.url+"/v1/classify", "again.JPEG", img, "")
	if code != 200 || j.Cached || j.Label != want || len(q.sends()) != 2 {
		t.Errorf("under another model: %d %s, %d sends; want a miss answered by a worker", code, body, len(q.sends()))
	}

	// Reset empties the cache.
	req, _ := http.NewRequest("POST", s.url+"/v1/reset", nil)
	req.Header.Set("Authorization", "Bearer sesame")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := s.jobs.Result(t.Context(), imgrec.KeyOf(img, stackModel)); imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		t.Errorf("cached result after reset: %v", err)
	}
}

// TestCacheOff: with the cache off the same bytes go to a worker each time
// and no lookup is counted.
func TestCacheOff(t *testing.T) {
	var q *countingQueue
	s := newStack(t, stackOptions{webQueue: func(inner imgrec.Queue) imgrec.Queue { q = &countingQueue{Queue: inner}; return q }})
	img := courseImage(t, "test_26.JPEG")
	for _, name := range []string{"a.JPEG", "b.JPEG"} {
		if code, _, j, body := submitJob(t, s.url+"/v1/classify", name, img, ""); code != 200 || j.Cached {
			t.Fatalf("%s: %d %s", name, code, body)
		}
	}
	if len(q.sends()) != 2 {
		t.Errorf("requests sent: %v; want two", q.sends())
	}
	if metrics := getText(t, s.url+"/metrics"); strings.Contains(metrics, "imgrec_cache_lookups_total") {
		t.Error("cache lookups counted with the cache off")
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// newTestWorker is a worker on the stack's queue (a handle of its own),
// buckets and job store, as newStack makes its own.
func newTestWorker(t *testing.T, s *stack) *worker.Worker {
	t.Helper()
	q := s.queue.(*inmem.Queue).Connect()
	t.Cleanup(func() { q.Close() })
	w, err := worker.New(worker.Config{
		Queue: q, Input: s.in, Output: s.out, Jobs: s.jobs, ID: "late-worker",
		Decode:     func(b []byte) (*imgrec.Image, error) { return vision.Decode(b, vision.Limits{}) },
		Classifier: &resnet.Classifier{Model: standin(t), Profile: vision.ProfileReference},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
