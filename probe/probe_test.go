package probe

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
)

func TestReadyAndFailed(t *testing.T) {
	down := errors.New("dial tcp 10.9.8.7:4222: connection refused")
	r := &Readiness{Checks: []Check{
		{Name: "queue", Run: func(context.Context) error { return down }},
		{Name: "input bucket", Run: func(context.Context) error { return nil }},
		{Name: "job store", Run: func(context.Context) error { return down }},
	}}
	err := r.Check(context.Background())
	var f *Failed
	if !errors.As(err, &f) || imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE || f.Names() != "queue, job store" ||
		!strings.Contains(err.Error(), "queue: dial tcp 10.9.8.7:4222") {
		t.Fatalf("Check: %v; want the queue and the job store failed, coded unavailable", err)
	}
	rec := httptest.NewRecorder()
	Handler(r, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if body := rec.Body.String(); rec.Code != 503 || body != "not ready: queue, job store did not answer\n" {
		t.Errorf("handler: %d %q; want 503 naming the checks, not their errors", rec.Code, body)
	}
	ok := &Readiness{Checks: []Check{{Name: "queue", Run: func(context.Context) error { return nil }}}}
	rec = httptest.NewRecorder()
	Handler(ok, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("handler: %d %q; want 200 ok", rec.Code, rec.Body)
	}
}

// TestOneCheckAtATime: probers arriving together share one run of the
// checks, and its result is reused for MaxAge.
func TestOneCheckAtATime(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	r := &Readiness{MaxAge: time.Hour, Checks: []Check{{Name: "queue", Run: func(context.Context) error {
		runs.Add(1)
		<-release
		return nil
	}}}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := r.Check(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for range 5 {
		r.Check(context.Background())
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("20 probers at once, then 5 more within MaxAge, ran the checks %d times; want 1", n)
	}
}

// TestExpiry: a result older than MaxAge is taken again.
func TestExpiry(t *testing.T) {
	var runs atomic.Int32
	r := &Readiness{MaxAge: time.Nanosecond, Checks: []Check{{Name: "queue", Run: func(context.Context) error { runs.Add(1); return nil }}}}
	r.Check(context.Background())
	time.Sleep(time.Millisecond)
	r.Check(context.Background())
	if n := runs.Load(); n != 2 {
		t.Errorf("ran %d times; want 2", n)
	}
}

// TestTimeout: a check that does not answer within Timeout fails with
// its context's error; one that ignores its context fails the probe all
// the same.
func TestTimeout(t *testing.T) {
	r := &Readiness{Timeout: 10 * time.Millisecond, Checks: []Check{{Name: "queue", Run: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}}}
	if err := r.Check(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a check past its timeout: %v", err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	r = &Readiness{Timeout: 10 * time.Millisecond, Checks: []Check{{Name: "queue", Run: func(context.Context) error { <-stuck; return nil }}}}
	if err := r.Check(context.Background()); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE {
		t.Errorf("a check that ignores its context: %v", err)
	}
}

// TestBackends: the checks of a queue, bucket and job store pass on
// working backends, prefer a backend's Ping, and a bucket or job store that
// lacks the key it reads is still reachable.
func TestBackends(t *testing.T) {
	ctx := context.Background()
	q, err := inmem.NewQueue(inmem.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	jobs, err := inmem.NewJobStore(inmem.JobStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Check{Queue(q), Blobs("input bucket", inmem.NewStore()), Jobs(jobs), Instances(func(context.Context) ([]imgrec.Instance, error) { return nil, nil })} {
		if err := c.Run(ctx); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	p := &pinging{BlobStore: inmem.NewStore(), err: errors.New("ping failed")}
	if err := Blobs("output bucket", p).Run(ctx); err != p.err {
		t.Errorf("a bucket with a Ping: %v; want the Ping's error", err)
	}
}

type pinging struct {
	imgrec.BlobStore
	err error
}

func (p *pinging) Ping(context.Context) error { return p.err }

func TestLive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(Live))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}
