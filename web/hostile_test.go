package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imgrec/imgrec"
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

// TestHealthHidesQueueError: /healthz answers 503 when the queue fails,
// in plain text, without the queue's own words.
func TestHealthHidesQueueError(t *testing.T) {
	var log logBuffer
	var q *flakyStats
	s := newStack(t, stackOptions{noWorker: true, config: logTo(&log),
		webQueue: func(inner imgrec.Queue) imgrec.Queue {
			q = &flakyStats{Queue: inner, err: errors.New("nats: no responders on $JS.API.STREAM.INFO.imgrec-requests at nats://10.9.8.7:4222")}
			return q
		}})
	q.broken.Store(true)
	resp, body := request(t, "GET", s.url+"/healthz", "", nil)
	id := resp.Header.Get(requestIDHeader)
	if resp.StatusCode != 503 || strings.Contains(body, "10.9.8.7") || !strings.Contains(body, id) {
		t.Fatalf("healthz: %d %q, want 503 with request id %s and no internals", resp.StatusCode, body, id)
	}
	if line := lineWith(log.String(), "request_id="+id); !strings.Contains(line, "nats://10.9.8.7:4222") {
		t.Errorf("the log lacks the queue's error under request id %s:\n%s", id, log.String())
	}
	q.broken.Store(false)
	if resp, body := request(t, "GET", s.url+"/healthz", "", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("healthz again: %d %q", resp.StatusCode, body)
	}
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
