package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/probe"
)

// logBuffer collects a slog text log, safe for concurrent handlers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logTo sends the web tier's log, debug included, to buf.
func logTo(buf *logBuffer) func(*Config) {
	return func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// brokenStore fails every PutNew with err.
type brokenStore struct {
	imgrec.BlobStore
	err error
}

func (b *brokenStore) PutNew(context.Context, string, []byte) error { return b.err }

// flakyStats fails Stats with err while broken is set.
type flakyStats struct {
	imgrec.Queue
	broken atomic.Bool
	err    error
}

func (q *flakyStats) Stats(ctx context.Context) (imgrec.QueueStats, error) {
	if q.broken.Load() {
		return imgrec.QueueStats{}, q.err
	}
	return q.Queue.Stats(ctx)
}

// request sends an upload of data to path (multipart in field "file" for the
// course endpoint's sake), with X-Request-Id id if not empty.
func request(t *testing.T, method, url, id string, data []byte) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	contentType := ""
	if data != nil {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("myfile", "test_4.JPEG")
		fw.Write(data)
		mw.Close()
		body, contentType = &buf, mw.FormDataContentType()
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if id != "" {
		req.Header.Set(requestIDHeader, id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestInternalErrorsHidden: a bucket or queue failing with a message that
// names files and hosts gives the client 500 or 503, the request id and a
// short reason, in each endpoint's own error shape; the log has the id and
// the whole error.
func TestInternalErrorsHidden(t *testing.T) {
	const secret = "/var/lib/imgrec/input/.tmp-4711"
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"internal", errors.New("write " + secret + ": no space left on device"), 500, imgrec.EINTERNAL},
		{"unavailable", imgrec.WrapError(imgrec.EUNAVAILABLE, errors.New("dial tcp 10.9.8.7:9000 for "+secret+": connection refused"), "s3 put"), 503, imgrec.EUNAVAILABLE},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log logBuffer
			s := newStack(t, stackOptions{noWorker: true, config: func(cfg *Config) {
				cfg.Input = &brokenStore{BlobStore: cfg.Input, err: c.err}
				logTo(&log)(cfg)
			}})
			jpeg := courseImage(t, "test_4.JPEG")
			for _, e := range []struct {
				path, clientID string
				json           bool
			}{
				{"/", "", false},
				{"/", "trace-7f3a.b:1", false},
				{"/v1/classify", "", true},
				{"/v1/jobs", "0123456789abcdef0123456789abcdef", true},
			} {
				resp, body := request(t, "POST", s.url+e.path, e.clientID, jpeg)
				id := resp.Header.Get(requestIDHeader)
				switch {
				case resp.StatusCode != c.status:
					t.Fatalf("POST %s: %d %q, want %d", e.path, resp.StatusCode, body, c.status)
				case e.clientID != "" && id != e.clientID:
					t.Errorf("POST %s: request id %q, want the client's %q", e.path, id, e.clientID)
				case !validRequestID(id):
					t.Errorf("POST %s: request id %q", e.path, id)
				case strings.Contains(body, secret) || strings.Contains(body, "10.9.8.7") || strings.Contains(body, "no space"):
					t.Errorf("POST %s: the body tells internals: %q", e.path, body)
				case !strings.Contains(body, id) || strings.Count(strings.TrimSpace(body), "\n") > 0:
					t.Errorf("POST %s: the body %q lacks the request id %s on one line", e.path, body, id)
				}
				if e.json {
					var a apiError
					if err := json.Unmarshal([]byte(body), &a); err != nil || a.RequestID != id || a.Code != c.code || a.Error == "" {
						t.Errorf("POST %s: JSON error %q (%v), want request_id %s and code %s", e.path, body, err, id, c.code)
					}
				} else if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("POST %s: Content-Type %q, want plain text", e.path, ct)
				}
				logged := log.String()
				line := lineWith(logged, "request_id="+id)
				if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, secret) || !strings.Contains(line, "path="+e.path) {
					t.Errorf("POST %s: no error logged with request id %s and the whole error; log:\n%s", e.path, id, logged)
				}
			}
		})
	}
}

// lineWith returns the first line of log that contains s.
func lineWith(log, s string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestReadyHidesQueueError: /readyz answers 503 when the queue fails, in
// plain text, without the queue's own words, while /livez and /healthz (its
// alias) say the process lives; the metrics say the queue is down rather
// than report a depth.
func TestReadyHidesQueueError(t *testing.T) {
	var log logBuffer
	var q *flakyStats
	s := newStack(t, stackOptions{noWorker: true, config: logTo(&log),
		webQueue: func(inner imgrec.Queue) imgrec.Queue {
			q = &flakyStats{Queue: inner, err: errors.New("nats: no responders on $JS.API.STREAM.INFO.imgrec-requests at nats://10.9.8.7:4222")}
			return q
		}})
	q.broken.Store(true)
	resp, body := request(t, "GET", s.url+"/readyz", "", nil)
	id := resp.Header.Get(requestIDHeader)
	if resp.StatusCode != 503 || strings.Contains(body, "10.9.8.7") || !strings.Contains(body, id) {
		t.Fatalf("readyz: %d %q, want 503 with request id %s and no internals", resp.StatusCode, body, id)
	}
	if line := lineWith(log.String(), "request_id="+id); !strings.Contains(line, "nats://10.9.8.7:4222") || !strings.Contains(line, "queue:") {
		t.Errorf("the log lacks the queue's error under request id %s:\n%s", id, log.String())
	}
	for _, path := range []string{"/livez", "/healthz"} {
		if resp, body := request(t, "GET", s.url+path, "", nil); resp.StatusCode != 200 || body != "ok\n" {
			t.Errorf("%s with the queue down: %d %q, want 200 ok", path, resp.StatusCode, body)
		}
	}
	_, metrics := request(t, "GET", s.url+"/metrics", "", nil)
	if !strings.Contains(metrics, "imgrec_queue_up 0") || strings.Contains(metrics, "imgrec_queue_depth") ||
		!regexp.MustCompile(`(?m)^imgrec_queue_stats_errors_total [1-9]`).MatchString(metrics) {
		t.Errorf("metrics with the queue down: want imgrec_queue_up 0, no imgrec_queue_depth, errors counted:\n%s", grepLines(metrics, "imgrec_queue"))
	}
	q.broken.Store(false)
	// The last answer is kept for a second: wait for the next.
	waitFor(t, func() bool {
		resp, body := request(t, "GET", s.url+"/readyz", "", nil)
		return resp.StatusCode == 200 && body == "ok\n"
	})
	if _, metrics := request(t, "GET", s.url+"/metrics", "", nil); !strings.Contains(metrics, "imgrec_queue_up 1") || !strings.Contains(metrics, "imgrec_queue_depth 0") {
		t.Errorf("metrics with the queue back: want imgrec_queue_up 1 and imgrec_queue_depth 0:\n%s", grepLines(metrics, "imgrec_queue"))
	}
}

// TestReadyChecksStores: a bucket or the job store that fails makes the
// tier unready, named in the answer; the queue is asked at most once a
// second however many probes come.
func TestReadyChecksStores(t *testing.T) {
	var q *countingStats
	var in *flakyBlobs
	s := newStack(t, stackOptions{noWorker: true,
		webQueue: func(inner imgrec.Queue) imgrec.Queue { q = &countingStats{Queue: inner}; return q },
		config: func(c *Config) {
			in = &flakyBlobs{BlobStore: c.Input}
			c.Input = in
		}})
	in.broken.Store(true)
	resp, body := request(t, "GET", s.url+"/readyz", "", nil)
	if resp.StatusCode != 503 {
		t.Fatalf("readyz with the input bucket down: %d %q", resp.StatusCode, body)
	}
	in.broken.Store(false)
	waitFor(t, func() bool {
		resp, _ := request(t, "GET", s.url+"/readyz", "", nil)
		return resp.StatusCode == 200
	})
	// 50 probes at once look at the queue once a second they take, and
	// once more where they straddle a result's expiry.
	before, start := q.calls.Load(), time.Now()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := http.Get(s.url + "/readyz")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("readyz: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n, most := q.calls.Load()-before, int64(time.Since(start)/probe.DefaultMaxAge)+2; n > most {
		t.Errorf("50 probes at once read the queue %d times in %v; want at most %d (a result is reused for %v)", n, time.Since(start), most, probe.DefaultMaxAge)
	}
}

type countingStats struct {
	imgrec.Queue
	calls atomic.Int64
}

func (q *countingStats) Stats(ctx context.Context) (imgrec.QueueStats, error) {
	q.calls.Add(1)
	return q.Queue.Stats(ctx)
}

type flakyBlobs struct {
	imgrec.BlobStore
	broken atomic.Bool
}

func (b *flakyBlobs) Get(ctx context.Context, key string) ([]byte, error) {
	if b.broken.Load() {
		return nil, errors.New("disk on fire")
	}
	return b.BlobStore.Get(ctx, key)
}

// grepLines keeps text's lines that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestRequestIDs: every response carries an id, the client's own if it is
// well-formed; 4xx reasons stay as they were, the JSON ones with the id too.
func TestRequestIDs(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	seen := map[string]bool{}
	for _, path := range []string{"/", "/healthz", "/v1/limits", "/static/app.js", "/v1/jobs/nope", "/nowhere"} {
		resp, _ := request(t, "GET", s.url+path, "", nil)
		id := resp.Header.Get(requestIDHeader)
		if !validRequestID(id) || seen[id] {
			t.Errorf("GET %s: request id %q, want a new well-formed one", path, id)
		}
		seen[id] = true
	}
	for client, kept := range map[string]bool{
		"a":                                    true,
		"Root=1-5759e988-bd862e3fe1be46a99427": false, // '='
		"3f2c1a4e-8b7d-4c1e-9a2f-6d5e4c3b2a10": true,  // a UUID
		"with space":                           false,
		"<script>":                             false,
		"é":                                    false,
		strings.Repeat("x", 64):                true,
		strings.Repeat("x", 65):                false,
	} {
		resp, _ := request(t, "GET", s.url+"/healthz", client, nil)
		if id := resp.Header.Get(requestIDHeader); (id == client) != kept || !validRequestID(id) {
			t.Errorf("client id %q: answered with %q; kept %v, want kept %v", client, id, id == client, kept)
		}
	}
	resp, body := request(t, "GET", s.url+"/v1/jobs/nope", "", nil)
	var a apiError
	json.Unmarshal([]byte(body), &a)
	if resp.StatusCode != 404 || !strings.Contains(a.Error, `no job "nope" here`) || a.Code != imgrec.ENOTFOUND || a.RequestID != resp.Header.Get(requestIDHeader) {
		t.Errorf("unknown job: %d %s", resp.StatusCode, body)
	}
	resp, body = request(t, "POST", s.url+"/", "", []byte("hello, I am text"))
	if resp.StatusCode != 400 || !strings.Contains(body, "not a JPEG or PNG") || strings.Contains(body, "request id") {
		t.Errorf("bad image: %d %q, want its reason as before", resp.StatusCode, body)
	}
}

// waitUntil polls cond for up to a minute, so a slow machine only makes the
// test slower; what names the condition in the failure.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute: %s", what)
		}
	}
}

// dial opens a connection to the test server at url.
func dial(t *testing.T, url string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUploadFlood holds as many uploads in progress as the bound allows
// (headers and half the body sent): a further upload gets 503 with
// Retry-After and a reason, on every upload endpoint; health, the page,
// status and limits still answer; once the held uploads are finished or
// dropped, uploads are taken again.
func TestUploadFlood(t *testing.T) {
	const bound = 4
	s := newStack(t, stackOptions{config: func(c *Config) {
		c.MaxUploadsInProgress = bound
		c.BodyTimeout = 10 * time.Minute // the held uploads stay held however slow this machine
	}})
	jpeg := courseImage(t, "test_6.JPEG")
	held := make([]net.Conn, bound)
	for i := range held {
		held[i] = dial(t, s.url)
		fmt.Fprintf(held[i], "POST /v1/jobs?name=held_%d.JPEG HTTP/1.1\r\nHost: imgrec\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", i, len(jpeg))
		if _, err := held[i].Write(jpeg[:len(jpeg)/2]); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the held uploads in progress", func() bool { return s.srv.uploads.inProgress() == bound })

	for _, path := range []string{"/", "/v1/classify", "/v1/jobs"} {
		resp, body := request(t, "POST", s.url+path, "", jpeg)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(body, "too many uploads in progress (the limit is 4)") || strings.Count(strings.TrimSpace(body), "\n") > 0 {
			t.Errorf("POST %s at the bound: %d, Retry-After %q, %q; want 503, Retry-After 1 and the reason on one line",
				path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if a := (apiError{}); path != "/" && (json.Unmarshal([]byte(body), &a) != nil || a.Code != codeBusy) {
			t.Errorf("POST %s at the bound: %q, want the JSON error with code %q", path, body, codeBusy)
		}
	}
	for _, path := range []string{"/healthz", "/", "/static/app.js", "/v1/status", "/v1/limits", "/v1/history"} {
		if resp, body := request(t, "GET", s.url+path, "", nil); resp.StatusCode != 200 {
			t.Errorf("GET %s at the bound: %d %q", path, resp.StatusCode, body)
		}
	}
	_, metrics := request(t, "GET", s.url+"/metrics", "", nil)
	for _, want := range []string{"imgrec_uploads_in_progress 4", `imgrec_results_total{outcome="busy"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Half the held uploads finish and are taken; the others are dropped.
	for i, c := range held {
		if i%2 == 1 {
			c.Close()
			continue
		}
		if _, err := c.Write(jpeg[len(jpeg)/2:]); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("held upload %d, finished: %d, want 202", i, resp.StatusCode)
		}
	}
	waitUntil(t, "no upload in progress", func() bool { return s.srv.uploads.inProgress() == 0 })
	if code, body := post(t, s.url+"/", "myfile", "test_6.JPEG", jpeg); code != 200 || body != s.expected["test_6.JPEG"] {
		t.Fatalf("after the flood: %d %q, want 200 %q", code, body, s.expected["test_6.JPEG"])
	}
}

// TestSlowBody: a body that stops half way gets 408 with the reason once
// the body deadline passes, and its connection is closed; a good upload
// meanwhile is answered.
func TestSlowBody(t *testing.T) {
	s := newStack(t, stackOptions{config: func(c *Config) { c.BodyTimeout, c.MinUploadRate = 2*time.Second, 1<<10 }})
	jpeg := courseImage(t, "test_9.JPEG")
	c := dial(t, s.url)
	fmt.Fprintf(c, "POST /v1/classify HTTP/1.1\r\nHost: imgrec\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(jpeg))
	c.Write(jpeg[:len(jpeg)/2])
	if code, body := post(t, s.url+"/", "myfile", "test_9.JPEG", jpeg); code != 200 || body != s.expected["test_9.JPEG"] {
		t.Errorf("good upload beside the stalled one: %d %q", code, body)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "too slow: under 1 KiB a second after its first 2s") {
		t.Errorf("stalled body: %d %s, want 408 with the reason", resp.StatusCode, b)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after the 408 the connection is still open: read %d, %v", n, err)
	}
}

// TestBodyDeadlineLifted: once a body has arrived, the request waits for
// its answer past the body deadline without being cancelled.
func TestBodyDeadlineLifted(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, timeout: 8 * time.Second, config: func(c *Config) { c.BodyTimeout, c.MinUploadRate = 3*time.Second, -1 }})
	jpeg := courseImage(t, "test_3.JPEG")
	for _, path := range []string{"/", "/v1/classify"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			resp, body := request(t, "POST", s.url+path, "", jpeg)
			if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "no answer within 8s") {
				t.Errorf("POST %s: %d %q, want 504: the answer's timeout, well after the body deadline", path, resp.StatusCode, body)
			}
		})
	}
}
