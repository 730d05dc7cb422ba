package worker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
)

var testModel = imgrec.Model{Digest: "0123456789abcdef", Profile: "reference"}

// withJobs gives the rig's worker a job store with the cache on.
func withJobs(t *testing.T, r *rig) (Config, *inmem.JobStore) {
	t.Helper()
	js, err := inmem.NewJobStore(inmem.JobStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.cfg
	cfg.Jobs, cfg.Cache, cfg.Model = js, true, testModel
	return cfg, js
}

func createJob(t *testing.T, js imgrec.JobStore, id, key string) {
	t.Helper()
	if _, err := js.Create(t.Context(), imgrec.Job{ID: id, Name: key, Key: key, State: imgrec.JobQueued, Submitted: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestRecordsTheAnswerBeforeReplying: when the reply arrives, the job holds
// the answer already, and the reply says so; the result is cached under the
// image's bytes and the model, which the worker has recorded.
func TestRecordsTheAnswerBeforeReplying(t *testing.T) {
	r := newRig(t, time.Minute)
	cfg, js := withJobs(t, r)
	defer r.run(t, cfg)()
	img := course(t, "test_0.JPEG")
	createJob(t, js, "job-1", "test_0.JPEG")
	r.send(t, "job-1", "test_0.JPEG", img)
	resp := r.reply(t)
	j, err := js.Get(t.Context(), "job-1")
	if err != nil || j.State != imgrec.JobDone || j.Label != resp.Label || j.Worker != "w-test" || j.Attempt != 1 || len(j.Top) != DefaultTopK {
		t.Fatalf("job when the reply %+v arrived: %+v, %v; want done with its answer", resp, j, err)
	}
	if !resp.Recorded {
		t.Error("the reply does not say the answer is recorded")
	}
	res, err := js.Result(t.Context(), imgrec.KeyOf(img, testModel))
	if err != nil || res.Label != resp.Label || len(res.Top) != DefaultTopK {
		t.Errorf("cached result: %+v, %v; want %q", res, err, resp.Label)
	}
	if m, err := js.Model(t.Context()); err != nil || m.Digest != testModel.Digest || m.Profile != testModel.Profile || m.Since.IsZero() {
		t.Errorf("model: %+v, %v; want %+v with a time", m, err, testModel)
	}
}

// TestRecordsWithNobodyListening: a request with no reply address (its web
// tier gone) is answered in its job all the same.
func TestRecordsWithNobodyListening(t *testing.T) {
	r := newRig(t, time.Minute)
	cfg, js := withJobs(t, r)
	defer r.run(t, cfg)()
	createJob(t, js, "job-2", "test_1.JPEG")
	if err := r.in.Put(t.Context(), "test_1.JPEG", course(t, "test_1.JPEG")); err != nil {
		t.Fatal(err)
	}
	if err := r.q.Send(t.Context(), imgrec.Request{ID: "job-2", Key: "test_1.JPEG", Sent: time.Now()}); err != nil {
		t.Fatal(err)
	}
	over, _, err := js.Await(t.Context(), []string{"job-2"}, time.Minute)
	if err != nil || len(over) != 1 || over[0].State != imgrec.JobDone || over[0].Label == "" {
		t.Fatalf("job: %+v, %v; want done", over, err)
	}
}

// TestRecordsAFailure: an image no worker can decode fails its job with the
// reason, and nothing is cached.
func TestRecordsAFailure(t *testing.T) {
	r := newRig(t, time.Minute)
	cfg, js := withJobs(t, r)
	defer r.run(t, cfg)()
	img := course(t, "test_2.JPEG")
	createJob(t, js, "job-3", "bad.JPEG")
	r.send(t, "job-3", "bad.JPEG", img[:len(img)/2])
	resp := r.reply(t)
	j, err := js.Get(t.Context(), "job-3")
	if err != nil || j.State != imgrec.JobFailed || j.Error != resp.Error || !strings.Contains(j.Error, "truncated") || !resp.Recorded {
		t.Fatalf("job: %+v, %v; reply %+v; want failed with the reply's reason, recorded", j, err, resp)
	}
	if _, err := js.Result(t.Context(), imgrec.KeyOf(img[:len(img)/2], testModel)); imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		t.Errorf("a failure was cached: %v", err)
	}
}

// TestNoJobToRecord: a request whose job the store does not hold (expired,
// reset) is answered and acknowledged; the reply says nothing was recorded.
func TestNoJobToRecord(t *testing.T) {
	r := newRig(t, time.Minute)
	cfg, _ := withJobs(t, r)
	defer r.run(t, cfg)()
	r.send(t, "forgotten", "test_3.JPEG", course(t, "test_3.JPEG"))
	if resp := r.reply(t); resp.Label == "" || resp.Recorded {
		t.Fatalf("reply %+v; want a label, not recorded", resp)
	}
	deadline := time.Now().Add(time.Minute)
	for st, _ := r.q.Stats(context.Background()); st.Depth() != 0; st, _ = r.q.Stats(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("the request was not acknowledged: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCacheNeedsStoreAndModel(t *testing.T) {
	r := newRig(t, time.Minute)
	cfg := r.cfg
	cfg.Cache = true
	if _, err := New(cfg); err == nil {
		t.Error("New with the cache on and no job store: no error")
	}
	cfg, _ = withJobs(t, r)
	cfg.Model = imgrec.Model{}
	if _, err := New(cfg); err == nil {
		t.Error("New with the cache on and no model: no error")
	}
}

// flakyJobs fails the first Finishes it is asked for.
type flakyJobs struct {
	imgrec.JobStore
	mu    sync.Mutex
	fails int
}

func (f *flakyJobs) Finish(ctx context.Context, id string, a imgrec.Answer) (imgrec.Job, error) {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return imgrec.Job{}, imgrec.Errorf(imgrec.EUNAVAILABLE, "nats: timeout")
	}
	return f.JobStore.Finish(ctx, id, a)
}

// TestRecordRetries: a job store that fails a moment is tried again within
// the same attempt, not by handing the request back.
func TestRecordRetries(t *testing.T) {
	r := newRig(t, time.Minute)
	cfg, js := withJobs(t, r)
	cfg.Jobs = &flakyJobs{JobStore: js, fails: recordTries - 1}
	defer r.run(t, cfg)()
	createJob(t, js, "job-5", "test_5.JPEG")
	r.send(t, "job-5", "test_5.JPEG", course(t, "test_5.JPEG"))
	resp := r.reply(t)
	if !resp.Recorded || resp.Attempt != 1 {
		t.Fatalf("reply %+v; want recorded on the first attempt", resp)
	}
	if j, err := js.Get(t.Context(), "job-5"); err != nil || j.State != imgrec.JobDone {
		t.Fatalf("job: %+v, %v", j, err)
	}
}
