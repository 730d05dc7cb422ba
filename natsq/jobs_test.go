package natsq_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/natsq"
)

// TestJobStoreEmbedded runs the job store suite on a server started by
// Embedded: the first handle shares the queue's connection, as serve's web
// tier does; further handles Dial its URL, as worker processes do.
func TestJobStoreEmbedded(t *testing.T) {
	conformance.JobStore(t, conformance.JobStoreOptions{}, func(t *testing.T, ttl time.Duration) func(*testing.T) imgrec.JobStore {
		q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir()})
		t.Cleanup(func() { q.Close() })
		first := true
		return func(t *testing.T) imgrec.JobStore {
			if first {
				first = false
				js, err := q.JobStore(ttl)
				if err != nil {
					t.Fatal(err)
				}
				return js
			}
			return mustDialJobs(t, q.URL(), natsq.JobStoreConfig{TTL: ttl})
		}
	})
}

// TestJobStoreExternal runs the suite on a separate server reached over
// TCP, one prefix per subtest.
func TestJobStoreExternal(t *testing.T) {
	url, _ := startServer(t, freePort(t), t.TempDir())
	var n atomic.Int32
	conformance.JobStore(t, conformance.JobStoreOptions{}, func(t *testing.T, ttl time.Duration) func(*testing.T) imgrec.JobStore {
		cfg := natsq.JobStoreConfig{Prefix: fmt.Sprintf("jobs%d", n.Add(1)), TTL: ttl}
		return func(t *testing.T) imgrec.JobStore { return mustDialJobs(t, url, cfg) }
	})
}

func mustDialJobs(t *testing.T, url string, cfg natsq.JobStoreConfig) *natsq.JobStore {
	t.Helper()
	js, err := natsq.DialJobStore(url, cfg)
	if err != nil {
		t.Fatalf("DialJobStore %s: %v", url, err)
	}
	return js
}

// TestJobStoreSurvivesRestart: jobs and cached results written to an
// embedded server are there when it starts again on the same directory.
func TestJobStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	key := imgrec.ResultKey{Image: fmt.Sprintf("%064x", 7), Digest: "f37072fd", Profile: "reference"}
	q := mustEmbedded(t, natsq.Config{DataDir: dir})
	js, err := q.JobStore(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		id := fmt.Sprint("r", i)
		if _, err := js.Create(ctx, imgrec.Job{ID: id, Name: id + ".jpg", State: imgrec.JobQueued, Submitted: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := js.Finish(ctx, id, imgrec.Answer{Label: fmt.Sprint("label", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := js.PutResult(ctx, key, imgrec.Result{Label: "bathtub"}); err != nil {
		t.Fatal(err)
	}
	js.Close()
	q.Close()

	q = mustEmbedded(t, natsq.Config{DataDir: dir})
	defer q.Close()
	if js, err = q.JobStore(0); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		id := fmt.Sprint("r", i)
		j, err := js.Get(ctx, id)
		switch {
		case err != nil:
			t.Errorf("after the restart, job %s: %v", id, err)
		case i%2 == 0 && (j.State != imgrec.JobDone || j.Label != fmt.Sprint("label", i)):
			t.Errorf("after the restart, job %s: %+v, want done", id, j)
		case i%2 == 1 && j.State != imgrec.JobQueued:
			t.Errorf("after the restart, job %s: %+v, want queued", id, j)
		}
	}
	if r, err := js.Result(ctx, key); err != nil || r.Label != "bathtub" {
		t.Errorf("after the restart, the cached result: %+v, %v", r, err)
	}
}
