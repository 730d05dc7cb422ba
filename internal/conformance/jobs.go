package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// patience bounds every wait for something that must happen: long enough
// that a loaded machine only makes the suite slower, never fail.
const patience = time.Minute

// JobStoreOptions adapts the JobStore suite to a backend.
type JobStoreOptions struct {
	// ShortTTL is the TTL of the store the Expiry subtest opens (default
	// 2s; whole seconds suit DynamoDB's TTL attribute).
	ShortTTL time.Duration
}

// JobStore runs the imgrec.JobStore suite; its subtests run in parallel. For
// each, open sets up a new, empty store whose records live ttl and returns
// connect, which returns a new handle to that store on each call, as the web
// tiers and workers of one deployment would open it. The suite closes every
// handle.
//
// Besides the interface's contract, the suite expects EINVALID for an id
// that imgrec.CheckJobID refuses, for a ResultKey or Model that fails its
// Check, and for an Await of no ids or of more than imgrec.MaxAwaitIDs.
func JobStore(t *testing.T, opt JobStoreOptions, open func(t *testing.T, ttl time.Duration) (connect func(t *testing.T) imgrec.JobStore)) {
	if opt.ShortTTL <= 0 {
		opt.ShortTTL = 2 * time.Second
	}
	tests := []struct {
		name string
		ttl  time.Duration
		run  func(s *jobSuite)
	}{
		{"RoundTrip", imgrec.DefaultJobTTL, jobsRoundTrip},
		{"Invalid", imgrec.DefaultJobTTL, jobsInvalid},
		{"Finish", imgrec.DefaultJobTTL, jobsFinish},
		{"Delete", imgrec.DefaultJobTTL, jobsDelete},
		{"Requeue", imgrec.DefaultJobTTL, jobsRequeue},
		{"ConcurrentRequeue", imgrec.DefaultJobTTL, jobsConcurrentRequeue},
		{"Await", imgrec.DefaultJobTTL, jobsAwait},
		{"AwaitAcrossHandles", imgrec.DefaultJobTTL, jobsAwaitAcross},
		{"AwaitMany", imgrec.DefaultJobTTL, jobsAwaitMany},
		{"Expiry", opt.ShortTTL, jobsExpiry},
		{"ConcurrentCreate", imgrec.DefaultJobTTL, jobsConcurrentCreate},
		{"ConcurrentFinish", imgrec.DefaultJobTTL, jobsConcurrentFinish},
		{"ManyJobs", imgrec.DefaultJobTTL, jobsMany},
		{"Cache", imgrec.DefaultJobTTL, jobsCache},
		{"Model", imgrec.DefaultJobTTL, jobsModel},
		{"Clear", imgrec.DefaultJobTTL, jobsClear},
		{"CancelledContext", imgrec.DefaultJobTTL, jobsCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(&jobSuite{t: t, ttl: tc.ttl, connect: open(t, tc.ttl)})
		})
	}
}

type jobSuite struct {
	t       *testing.T
	ttl     time.Duration
	connect func(t *testing.T) imgrec.JobStore
}

// handle connects a new handle that the suite closes at the end.
func (s *jobSuite) handle() imgrec.JobStore {
	s.t.Helper()
	js := s.connect(s.t)
	s.t.Cleanup(func() {
		if err := js.Close(); err != nil {
			s.t.Errorf("Close: %v", err)
		}
	})
	return js
}

// newJob is a queued job with every field a web tier sets.
func newJob(id string) imgrec.Job {
	return imgrec.Job{
		ID: id, Name: "tést " + id + ".JPEG", Key: "test-" + id + ".JPEG", State: imgrec.JobQueued,
		Image:     strings.Repeat("ab", 32),
		Submitted: time.Date(2026, 2, 28, 23, 59, 58, 123456789, time.UTC),
	}
}

var answerBathtub = imgrec.Answer{
	Label:  "bathtub",
	Top:    []imgrec.Prediction{{Index: 435, Label: "bathtub", Logit: 11.5}, {Index: 876, Label: "tub", Logit: 9.25}},
	Worker: "w-1", Attempt: 2,
}

func mustCreate(t *testing.T, js imgrec.JobStore, j imgrec.Job) imgrec.Job {
	t.Helper()
	got, err := js.Create(t.Context(), j)
	if err != nil {
		t.Fatalf("Create(%s): %v", j.ID, err)
	}
	return got
}

func mustGetJob(t *testing.T, js imgrec.JobStore, id string) imgrec.Job {
	t.Helper()
	j, err := js.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

func mustFinish(t *testing.T, js imgrec.JobStore, id string, a imgrec.Answer) imgrec.Job {
	t.Helper()
	j, err := js.Finish(t.Context(), id, a)
	if err != nil {
		t.Fatalf("Finish(%s): %v", id, err)
	}
	return j
}

// sameJob compares jobs as stored: times by instant, Requeued to the
// millisecond (a backend may keep no finer).
func sameJob(a, b imgrec.Job) bool {
	if !a.Submitted.Equal(b.Submitted) || (a.Finished == nil) != (b.Finished == nil) ||
		(a.Finished != nil && !a.Finished.Equal(*b.Finished)) || !slices.Equal(a.Top, b.Top) ||
		(a.Requeued == nil) != (b.Requeued == nil) || (a.Requeued != nil && a.Requeued.Sub(*b.Requeued).Abs() >= time.Millisecond) {
		return false
	}
	return a.ID == b.ID && a.Name == b.Name && a.Key == b.Key && a.State == b.State && a.Image == b.Image &&
		a.Label == b.Label && a.Error == b.Error && a.Worker == b.Worker && a.Attempt == b.Attempt &&
		a.Cached == b.Cached && a.Seconds == b.Seconds
}

func jobsRoundTrip(s *jobSuite) {
	t, js := s.t, s.handle()
	j := newJob("job-1")
	if got := mustCreate(t, js, j); !sameJob(got, j) {
		t.Errorf("Create returned %+v, want %+v", got, j)
	}
	if got := mustGetJob(t, js, j.ID); !sameJob(got, j) {
		t.Errorf("Get: %+v, want %+v", got, j)
	}
	// A second Create of the id leaves the first alone and returns it.
	other := newJob("job-1")
	other.Name, other.Image = "other.jpg", strings.Repeat("cd", 32)
	got, err := js.Create(t.Context(), other)
	wantCode(t, err, imgrec.ECONFLICT, "Create of an existing id")
	if !sameJob(got, j) {
		t.Errorf("Create of an existing id returned %+v, want the first job %+v", got, j)
	}
	if got := mustGetJob(t, js, j.ID); !sameJob(got, j) {
		t.Errorf("Get after a refused Create: %+v, want the first job", got)
	}
	_, err = js.Get(t.Context(), "never-created")
	wantCode(t, err, imgrec.ENOTFOUND, "Get of a missing job")
	// Another handle, as another process, sees the same job.
	if got := mustGetJob(t, s.handle(), j.ID); !sameJob(got, j) {
		t.Errorf("Get through another handle: %+v, want %+v", got, j)
	}
}

func jobsInvalid(s *jobSuite) {
	t, js := s.t, s.handle()
	ctx := t.Context()
	for _, id := range []string{"", "a.b", "a b", "*", ">", "a/b", strings.Repeat("x", 65), "ü"} {
		_, err := js.Create(ctx, newJob(id))
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("Create(%q)", id))
		_, err = js.Get(ctx, id)
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("Get(%q)", id))
		_, err = js.Finish(ctx, id, answerBathtub)
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("Finish(%q)", id))
		_, _, err = js.Await(ctx, []string{id}, 0)
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("Await(%q)", id))
		_, _, err = js.Requeue(ctx, id, time.Hour)
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("Requeue(%q)", id))
	}
	_, _, err := js.Await(ctx, nil, 0)
	wantCode(t, err, imgrec.EINVALID, "Await of no ids")
	many := make([]string, imgrec.MaxAwaitIDs+1)
	for i := range many {
		many[i] = fmt.Sprint("j", i)
	}
	_, _, err = js.Await(ctx, many, 0)
	wantCode(t, err, imgrec.EINVALID, "Await of too many ids")
	for _, k := range []imgrec.ResultKey{
		{Image: "abc", Digest: "d", Profile: "p"},
		{Image: strings.Repeat("A", 64), Digest: "d", Profile: "p"},
		{Image: strings.Repeat("a", 64), Digest: "d.e", Profile: "p"},
		{Image: strings.Repeat("a", 64), Digest: "d", Profile: ""},
	} {
		_, err := js.Result(ctx, k)
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("Result(%+v)", k))
		wantCode(t, js.PutResult(ctx, k, imgrec.Result{Label: "x"}), imgrec.EINVALID, fmt.Sprintf("PutResult(%+v)", k))
	}
	wantCode(t, js.SetModel(ctx, imgrec.Model{Digest: "a b", Profile: "reference"}), imgrec.EINVALID, "SetModel with a bad digest")
}

func jobsFinish(s *jobSuite) {
	t, js := s.t, s.handle()
	j := mustCreate(t, js, newJob("f1"))
	before := time.Now()
	done := mustFinish(t, js, j.ID, answerBathtub)
	if done.State != imgrec.JobDone || done.Label != "bathtub" || !slices.Equal(done.Top, answerBathtub.Top) ||
		done.Worker != "w-1" || done.Attempt != 2 || done.Error != "" || done.Name != j.Name || done.Image != j.Image {
		t.Errorf("Finish: %+v, want done with the answer and the job's fields", done)
	}
	if done.Finished == nil || done.Finished.Before(before.Add(-time.Hour)) || done.Finished.After(time.Now().Add(time.Hour)) {
		t.Errorf("Finish: finished at %v, want around now", done.Finished)
	} else if want := done.Finished.Sub(j.Submitted).Seconds(); done.Seconds < want-1 || done.Seconds > want+1 {
		t.Errorf("Finish: %v seconds, want submitted to finished, %v", done.Seconds, want)
	}
	if got := mustGetJob(t, js, j.ID); !sameJob(got, done) {
		t.Errorf("Get after Finish: %+v, want %+v", got, done)
	}
	// The first answer wins.
	again := mustFinish(t, s.handle(), j.ID, imgrec.Answer{Label: "tub", Worker: "w-2", Attempt: 1})
	if !sameJob(again, done) {
		t.Errorf("a second Finish: %+v, want the first answer kept: %+v", again, done)
	}
	// A failure.
	mustCreate(t, js, newJob("f2"))
	failed := mustFinish(t, js, "f2", imgrec.Answer{Error: "jpeg: truncated", Worker: "w-1", Attempt: 1})
	if failed.State != imgrec.JobFailed || failed.Error != "jpeg: truncated" || failed.Label != "" || failed.Finished == nil {
		t.Errorf("Finish with an error: %+v, want failed with the reason", failed)
	}
	_, err := js.Finish(t.Context(), "no-such-job", answerBathtub)
	wantCode(t, err, imgrec.ENOTFOUND, "Finish of a missing job")
	if _, err := js.Get(t.Context(), "no-such-job"); imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		t.Errorf("Finish of a missing job created it: Get says %v", err)
	}
}

func jobsDelete(s *jobSuite) {
	t, js := s.t, s.handle()
	ctx := t.Context()
	mustCreate(t, js, newJob("d1"))
	mustCreate(t, js, newJob("d2"))
	for i := range 2 {
		if err := js.Delete(ctx, "d1"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := js.Delete(ctx, "never-there"); err != nil {
		t.Fatalf("Delete of a job that never existed: %v", err)
	}
	_, err := js.Get(ctx, "d1")
	wantCode(t, err, imgrec.ENOTFOUND, "Get after Delete")
	mustGetJob(t, js, "d2")
	// The id is free again.
	again := newJob("d1")
	again.Name = "again.jpg"
	if got := mustCreate(t, js, again); got.Name != "again.jpg" {
		t.Errorf("Create after Delete: %+v", got)
	}
}

func mustRequeue(t *testing.T, js imgrec.JobStore, id string, after time.Duration) (imgrec.Job, bool) {
	t.Helper()
	j, ok, err := js.Requeue(t.Context(), id, after)
	if err != nil {
		t.Fatalf("Requeue(%s, %s): %v", id, after, err)
	}
	return j, ok
}

// jobsRequeue: a claim is granted when it is due (after since the job was
// submitted or last claimed), once, and never for a job that is over.
func jobsRequeue(s *jobSuite) {
	t, js := s.t, s.handle()
	fresh := newJob("r-fresh")
	fresh.Submitted = time.Now()
	mustCreate(t, js, fresh)
	if j, ok := mustRequeue(t, js, fresh.ID, time.Hour); ok || j.Requeued != nil || !sameJob(j, fresh) {
		t.Errorf("Requeue of a job submitted just now, due after an hour: %v, %+v; want refused, the job as it is", ok, j)
	}

	old := mustCreate(t, js, newJob("r-old")) // submitted months ago
	before := time.Now()
	claimed, ok := mustRequeue(t, js, old.ID, time.Hour)
	if !ok || claimed.Requeued == nil || claimed.Requeued.Before(before.Add(-time.Second)) || claimed.Requeued.After(time.Now().Add(time.Second)) {
		t.Fatalf("Requeue of a job submitted months ago: %v, requeued at %v; want granted, now", ok, claimed.Requeued)
	}
	if claimed.State != imgrec.JobQueued || claimed.Name != old.Name || claimed.Key != old.Key || !claimed.Submitted.Equal(old.Submitted) {
		t.Errorf("Requeue changed the job: %+v, from %+v", claimed, old)
	}
	if got := mustGetJob(t, s.handle(), old.ID); !sameJob(got, claimed) {
		t.Errorf("Get after Requeue: %+v, want the claim recorded: %+v", got, claimed)
	}
	// Claimed just now: not due for another hour, on any handle.
	if j, ok := mustRequeue(t, s.handle(), old.ID, time.Hour); ok || !sameJob(j, claimed) {
		t.Errorf("a second Requeue within the hour: %v, %+v; want refused, the first claim kept", ok, j)
	}
	// Due at once with after 0.
	if j, ok := mustRequeue(t, js, old.ID, 0); !ok || j.Requeued == nil || j.Requeued.Before(*claimed.Requeued) {
		t.Errorf("Requeue with after 0: %v, requeued at %v; want granted, at or after %v", ok, j.Requeued, claimed.Requeued)
	}
	// A job with its answer is never queued again, and keeps the answer.
	done := mustFinish(t, js, old.ID, answerBathtub)
	if done.State != imgrec.JobDone || done.Label != "bathtub" {
		t.Fatalf("Finish after Requeue: %+v, want done", done)
	}
	if j, ok := mustRequeue(t, js, old.ID, 0); ok || !sameJob(j, done) {
		t.Errorf("Requeue of a finished job: %v, %+v; want refused, the job as finished", ok, j)
	}
	_, _, err := js.Requeue(t.Context(), "no-such-job", 0)
	wantCode(t, err, imgrec.ENOTFOUND, "Requeue of a missing job")
}

// jobsConcurrentRequeue: of many claims at once, through two handles, one
// is granted.
func jobsConcurrentRequeue(s *jobSuite) {
	t := s.t
	handles := []imgrec.JobStore{s.handle(), s.handle()}
	mustCreate(t, handles[0], newJob("raced"))
	const n = 16
	var granted sync.Map
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			j, ok, err := handles[i%2].Requeue(context.Background(), "raced", time.Hour)
			if err != nil {
				t.Errorf("Requeue #%d: %v", i, err)
			}
			if ok {
				granted.Store(i, j)
			}
		})
	}
	wg.Wait()
	var claims []imgrec.Job
	granted.Range(func(_, v any) bool { claims = append(claims, v.(imgrec.Job)); return true })
	if len(claims) != 1 {
		t.Fatalf("%d of %d concurrent Requeues granted, want 1", len(claims), n)
	}
	if got := mustGetJob(t, handles[1], "raced"); !sameJob(got, claims[0]) {
		t.Errorf("stored %+v, want the granted claim %+v", got, claims[0])
	}
}

// await calls Await and fails t on an error.
func await(t *testing.T, js imgrec.JobStore, ids []string, wait time.Duration) ([]imgrec.Job, []string) {
	t.Helper()
	over, missing, err := js.Await(t.Context(), ids, wait)
	if err != nil {
		t.Fatalf("Await(%v, %v): %v", ids, wait, err)
	}
	return over, missing
}

func idsOf(jobs []imgrec.Job) []string {
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	slices.Sort(ids)
	return ids
}

func jobsAwait(s *jobSuite) {
	t, js := s.t, s.handle()
	mustCreate(t, js, newJob("queued"))
	mustCreate(t, js, newJob("done"))
	done := mustFinish(t, js, "done", answerBathtub)

	// At once: what is over and what is missing; queued jobs are neither.
	over, missing := await(t, js, []string{"queued", "done", "gone", "done"}, patience)
	if len(over) != 1 || !sameJob(over[0], done) || !slices.Equal(missing, []string{"gone"}) {
		t.Errorf("Await(queued, done, gone): over %+v, missing %v; want [done] and [gone]", over, missing)
	}
	// Look once.
	start := time.Now()
	over, missing = await(t, js, []string{"queued"}, 0)
	if len(over)+len(missing) != 0 {
		t.Errorf("Await(queued, 0): %+v %v, want nothing", over, missing)
	}
	t.Logf("looking once took %v", time.Since(start))
	// A short wait passes with nothing.
	over, missing = await(t, js, []string{"queued"}, 100*time.Millisecond)
	if len(over)+len(missing) != 0 {
		t.Errorf("Await(queued, 100ms): %+v %v, want nothing", over, missing)
	}
	// Woken by the answer.
	got := make(chan []imgrec.Job, 1)
	go func() {
		over, _, err := js.Await(context.Background(), []string{"queued"}, patience)
		if err != nil {
			t.Errorf("Await: %v", err)
		}
		got <- over
	}()
	finished := mustFinish(t, js, "queued", imgrec.Answer{Error: "no", Worker: "w"})
	select {
	case over := <-got:
		if len(over) != 1 || !sameJob(over[0], finished) {
			t.Errorf("Await woken by Finish: %+v, want %+v", over, finished)
		}
	case <-time.After(patience + time.Minute):
		t.Fatal("Await not woken by Finish")
	}
	// Woken by a Delete.
	mustCreate(t, js, newJob("deleted"))
	gone := make(chan []string, 1)
	go func() {
		_, missing, err := js.Await(context.Background(), []string{"deleted"}, patience)
		if err != nil {
			t.Errorf("Await: %v", err)
		}
		gone <- missing
	}()
	if err := js.Delete(t.Context(), "deleted"); err != nil {
		t.Fatal(err)
	}
	select {
	case missing := <-gone:
		// A backend that polls may see the delete only once its wait ends;
		// either way the job must not be reported as still there.
		if len(missing) != 0 && !slices.Equal(missing, []string{"deleted"}) {
			t.Errorf("Await woken by Delete: missing %v, want [deleted]", missing)
		}
	case <-time.After(patience + time.Minute):
		t.Fatal("Await not ended after Delete")
	}
	// Cancelled.
	ctx, cancel := context.WithCancel(t.Context())
	mustCreate(t, js, newJob("waits"))
	ended := make(chan error, 1)
	go func() {
		_, _, err := js.Await(ctx, []string{"waits"}, patience)
		ended <- err
	}()
	cancel()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Await after its ctx was cancelled: %v, want context.Canceled", err)
		}
	case <-time.After(patience):
		t.Fatal("Await went on after its ctx was cancelled")
	}
}

// jobsAwaitAcross: a job taken through one handle and answered through a
// second (a worker) wakes an Await through a third (another web tier).
func jobsAwaitAcross(s *jobSuite) {
	t := s.t
	web1, worker, web2 := s.handle(), s.handle(), s.handle()
	mustCreate(t, web1, newJob("across"))
	got := make(chan []imgrec.Job, 1)
	go func() {
		over, _, err := web2.Await(context.Background(), []string{"across"}, patience)
		if err != nil {
			t.Errorf("Await: %v", err)
		}
		got <- over
	}()
	done := mustFinish(t, worker, "across", answerBathtub)
	select {
	case over := <-got:
		if len(over) != 1 || !sameJob(over[0], done) {
			t.Errorf("Await through another handle: %+v, want %+v", over, done)
		}
	case <-time.After(patience + time.Minute):
		t.Fatal("Await through another handle not woken by Finish")
	}
}

// jobsAwaitMany follows the page's most: one of 100 queued jobs finishes.
func jobsAwaitMany(s *jobSuite) {
	t, js := s.t, s.handle()
	ids := make([]string, imgrec.MaxAwaitIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("many-%03d", i)
	}
	parallel(t, 8, len(ids), func(i int) error {
		_, err := js.Create(t.Context(), newJob(ids[i]))
		return err
	})
	if over, missing := await(t, js, ids, 0); len(over)+len(missing) != 0 {
		t.Fatalf("Await of %d queued jobs: over %v, missing %v", len(ids), idsOf(over), missing)
	}
	mustFinish(t, s.handle(), ids[77], answerBathtub)
	over, missing := await(t, js, ids, patience)
	if !slices.Equal(idsOf(over), []string{ids[77]}) || len(missing) != 0 {
		t.Errorf("Await of %d jobs, one finished: over %v, missing %v", len(ids), idsOf(over), missing)
	}
}

// jobsExpiry: records live TTL after their last write, then are gone for
// every method, whether or not the backend has deleted them yet; an
// expired job's id is free again.
func jobsExpiry(s *jobSuite) {
	t, js := s.t, s.handle()
	ctx := t.Context()
	key := imgrec.ResultKey{Image: strings.Repeat("0f", 32), Digest: "f37072fd", Profile: "reference"}
	written := time.Now()
	mustCreate(t, js, newJob("short"))
	mustFinish(t, js, "short", answerBathtub)
	if err := js.PutResult(ctx, key, imgrec.Result{Label: "bathtub"}); err != nil {
		t.Fatal(err)
	}
	// Present while the TTL runs, if this machine got here in time.
	_, getErr := js.Get(ctx, "short")
	_, resErr := js.Result(ctx, key)
	if time.Since(written) < s.ttl/2 && (getErr != nil || resErr != nil) {
		t.Errorf("within the TTL: Get %v, Result %v; want both present", getErr, resErr)
	}
	deadline := time.Now().Add(s.ttl + patience)
	for {
		_, getErr = js.Get(ctx, "short")
		_, resErr = js.Result(ctx, key)
		if imgrec.ErrorCode(getErr) == imgrec.ENOTFOUND && imgrec.ErrorCode(resErr) == imgrec.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the TTL of %v: Get %v, Result %v; want both not found", time.Since(written), s.ttl, getErr, resErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if elapsed := time.Since(written); elapsed < s.ttl-time.Second/2 {
		t.Errorf("gone after %v, before the TTL of %v", elapsed, s.ttl)
	}
	if _, missing := await(t, js, []string{"short"}, 0); !slices.Equal(missing, []string{"short"}) {
		t.Errorf("Await of an expired job: missing %v, want [short]", missing)
	}
	_, err := js.Finish(ctx, "short", answerBathtub)
	wantCode(t, err, imgrec.ENOTFOUND, "Finish of an expired job")
	// The id is free again: a new job, not the expired one.
	fresh := newJob("short")
	fresh.Name = "fresh.jpg"
	if got := mustCreate(t, js, fresh); got.Name != "fresh.jpg" || got.State != imgrec.JobQueued {
		t.Errorf("Create after expiry: %+v, want the new job", got)
	}
}

// jobsConcurrentCreate: of many Creates of one id (retries with one
// Idempotency-Key), exactly one wins and every other gets the winner's job.
func jobsConcurrentCreate(s *jobSuite) {
	t := s.t
	handles := []imgrec.JobStore{s.handle(), s.handle()}
	const n = 16
	var mu sync.Mutex
	var winners []string
	got := make([]imgrec.Job, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			j := newJob("same")
			j.Name = fmt.Sprintf("attempt-%d", i)
			res, err := handles[i%2].Create(context.Background(), j)
			switch imgrec.ErrorCode(err) {
			case "":
				mu.Lock()
				winners = append(winners, j.Name)
				mu.Unlock()
			case imgrec.ECONFLICT:
			default:
				t.Errorf("Create #%d: %v", i, err)
			}
			got[i] = res
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d Creates of one id succeeded (%v), want exactly 1", len(winners), winners)
	}
	for i, j := range got {
		if j.Name != winners[0] {
			t.Errorf("Create #%d returned %q, want the winner %q", i, j.Name, winners[0])
		}
	}
	if j := mustGetJob(t, handles[0], "same"); j.Name != winners[0] {
		t.Errorf("stored %q, want the winner %q", j.Name, winners[0])
	}
}

// jobsConcurrentFinish: of many answers to one job (a redelivered request
// answered twice), the first recorded wins and every Finish returns it.
func jobsConcurrentFinish(s *jobSuite) {
	t := s.t
	handles := []imgrec.JobStore{s.handle(), s.handle()}
	mustCreate(t, handles[0], newJob("raced"))
	const n = 16
	got := make([]imgrec.Job, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			j, err := handles[i%2].Finish(context.Background(), "raced", imgrec.Answer{Label: fmt.Sprint("label-", i), Worker: fmt.Sprint("w", i)})
			if err != nil {
				t.Errorf("Finish #%d: %v", i, err)
			}
			got[i] = j
		})
	}
	wg.Wait()
	stored := mustGetJob(t, handles[1], "raced")
	if stored.State != imgrec.JobDone || !strings.HasPrefix(stored.Label, "label-") || stored.Worker != "w"+strings.TrimPrefix(stored.Label, "label-") {
		t.Fatalf("stored %+v, want one Finish's whole answer", stored)
	}
	for i, j := range got {
		if !sameJob(j, stored) {
			t.Errorf("Finish #%d returned %q by %q, want the recorded %q by %q", i, j.Label, j.Worker, stored.Label, stored.Worker)
		}
	}
}

func jobsMany(s *jobSuite) {
	t := s.t
	handles := []imgrec.JobStore{s.handle(), s.handle()}
	const n = 200
	parallel(t, 8, n, func(i int) error {
		js := handles[i%2]
		id := fmt.Sprintf("m%03d", i)
		if _, err := js.Create(t.Context(), newJob(id)); err != nil {
			return err
		}
		if i%2 == 0 {
			_, err := js.Finish(t.Context(), id, imgrec.Answer{Label: fmt.Sprint("l", i)})
			return err
		}
		return nil
	})
	parallel(t, 8, n, func(i int) error {
		j, err := handles[(i+1)%2].Get(t.Context(), fmt.Sprintf("m%03d", i))
		switch {
		case err != nil:
			return err
		case i%2 == 0 && (j.State != imgrec.JobDone || j.Label != fmt.Sprint("l", i)):
			return fmt.Errorf("job %d: %+v, want done with l%d", i, j, i)
		case i%2 == 1 && j.State != imgrec.JobQueued:
			return fmt.Errorf("job %d: %+v, want queued", i, j)
		}
		return nil
	})
}

func jobsCache(s *jobSuite) {
	t, js := s.t, s.handle()
	ctx := t.Context()
	image := []byte("the bytes of an image")
	m := imgrec.Model{Digest: "f37072fd", Profile: "reference"}
	k := imgrec.KeyOf(image, m)
	_, err := js.Result(ctx, k)
	wantCode(t, err, imgrec.ENOTFOUND, "Result before PutResult")
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	r := imgrec.Result{Label: "bathtub", Top: answerBathtub.Top, At: at}
	if err := js.PutResult(ctx, k, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.handle().Result(ctx, k)
	if err != nil || got.Label != r.Label || !slices.Equal(got.Top, r.Top) || !got.At.Equal(at) {
		t.Errorf("Result through another handle: %+v, %v; want %+v", got, err, r)
	}
	// Another model, profile or image is another key.
	for _, other := range []imgrec.ResultKey{
		imgrec.KeyOf(image, imgrec.Model{Digest: "0123456789abcdef", Profile: "reference"}),
		imgrec.KeyOf(image, imgrec.Model{Digest: "f37072fd", Profile: "imagenet"}),
		imgrec.KeyOf([]byte("other bytes"), m),
	} {
		_, err := js.Result(ctx, other)
		wantCode(t, err, imgrec.ENOTFOUND, fmt.Sprintf("Result under %+v", other))
	}
	// Replaced.
	if err := js.PutResult(ctx, k, imgrec.Result{Label: "tub"}); err != nil {
		t.Fatal(err)
	}
	if got, err := js.Result(ctx, k); err != nil || got.Label != "tub" {
		t.Errorf("Result after a second PutResult: %+v, %v; want tub", got, err)
	}
}

func jobsModel(s *jobSuite) {
	t, js := s.t, s.handle()
	ctx := t.Context()
	_, err := js.Model(ctx)
	wantCode(t, err, imgrec.ENOTFOUND, "Model before SetModel")
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, m := range []imgrec.Model{
		{Digest: "f37072fd", Profile: "reference", Since: since},
		{Digest: "0123456789abcdef", Profile: "imagenet", Since: since.Add(time.Hour)},
	} {
		if err := js.SetModel(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, err := s.handle().Model(ctx)
		if err != nil || got.Digest != m.Digest || got.Profile != m.Profile || !got.Since.Equal(m.Since) {
			t.Errorf("Model after SetModel(%+v): %+v, %v", m, got, err)
		}
	}
}

func jobsClear(s *jobSuite) {
	t, js := s.t, s.handle()
	ctx := t.Context()
	for _, id := range []string{"c1", "c2", "c3"} {
		mustCreate(t, js, newJob(id))
	}
	mustFinish(t, js, "c2", answerBathtub)
	k := imgrec.KeyOf([]byte("img"), imgrec.Model{Digest: "d", Profile: "p"})
	if err := js.PutResult(ctx, k, imgrec.Result{Label: "x"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.handle().Clear(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Clear: %d, %v; want 3 jobs", n, err)
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		_, err := js.Get(ctx, id)
		wantCode(t, err, imgrec.ENOTFOUND, "Get after Clear")
	}
	_, err = js.Result(ctx, k)
	wantCode(t, err, imgrec.ENOTFOUND, "Result after Clear")
	if n, err := js.Clear(ctx); err != nil || n != 0 {
		t.Errorf("Clear of an empty store: %d, %v", n, err)
	}
	mustCreate(t, js, newJob("c1")) // the store works on
}

func jobsCancelled(s *jobSuite) {
	t, js := s.t, s.handle()
	mustCreate(t, js, newJob("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := js.Create(ctx, newJob("y")); err == nil {
		t.Error("Create with a cancelled ctx succeeded")
	}
	if _, err := js.Get(ctx, "x"); err == nil {
		t.Error("Get with a cancelled ctx succeeded")
	}
	if _, _, err := js.Await(ctx, []string{"x"}, time.Second); err == nil {
		t.Error("Await with a cancelled ctx succeeded")
	}
	if _, err := js.Get(t.Context(), "y"); imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		t.Errorf("a job created with a cancelled ctx: Get says %v, want not found", err)
	}
}
