package web

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// Job states as the API reports them.
const (
	JobQueued = imgrec.JobQueued
	JobDone   = imgrec.JobDone
	JobFailed = imgrec.JobFailed
)

// job is what the API says of a job: the store's record.
type job = imgrec.Job

// maxWaiting bounds the jobs one web tier waits on; beyond it the oldest
// are dropped, which costs a synchronous client a look at the store when
// its timeout ends, and the metrics an async job's answer.
const maxWaiting = 100_000

// waiter is a job this web tier took and whose answer comes to its inbox:
// a synchronous request waits for it here, and an async job's answer is
// counted in the metrics and the history when it arrives. The job store
// has the answer too, for every other tier and after restarts.
type waiter struct {
	job   job  // as submitted
	async bool // submitted through POST /v1/jobs: nobody waits, so the metrics are counted on its answer
	done  chan struct{}
	resp  imgrec.Response // the answer; set before done is closed
	at    time.Time       // when it arrived
}

// answered is the job with its answer; call once done is closed.
func (w *waiter) answered() job {
	return w.job.Finish(imgrec.AnswerOf(w.resp), w.at)
}

// waiters are the jobs this tier waits on, by id.
type waiters struct {
	mu    sync.Mutex
	byID  map[string]*waiter
	order []string // ids in submission order, some answered since
}

func newWaiters() *waiters { return &waiters{byID: map[string]*waiter{}} }

// add starts waiting for j.
func (t *waiters) add(j job, async bool) *waiter {
	w := &waiter{job: j, async: async, done: make(chan struct{})}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[j.ID] = w
	t.order = append(t.order, j.ID)
	for len(t.byID) > maxWaiting || len(t.order) > 2*maxWaiting {
		delete(t.byID, t.order[0])
		t.order = t.order[1:]
	}
	return w
}

// get returns the waiter of job id, or nil.
func (t *waiters) get(id string) *waiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// remove stops waiting for job id, whose request could not be queued.
func (t *waiters) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byID, id)
}

// answer hands a response to its waiter and forgets it; nil if nobody here
// waits for it.
func (t *waiters) answer(r imgrec.Response) *waiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.byID[r.ID]
	if !ok {
		return nil
	}
	delete(t.byID, r.ID)
	w.resp, w.at = r, time.Now()
	close(w.done)
	return w
}

// clear answers every waiter with reason (a reset) and forgets them all.
func (t *waiters) clear(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.byID {
		w.resp, w.at = imgrec.Response{ID: w.job.ID, Error: reason}, time.Now()
		close(w.done)
	}
	t.byID, t.order = map[string]*waiter{}, nil
}

// maxIdempotencyKey is the longest Idempotency-Key header taken.
const maxIdempotencyKey = 255

// checkIdempotencyKey refuses keys that are empty, longer than 255 bytes
// or hold anything but printable ASCII.
func checkIdempotencyKey(key string) error {
	if key == "" || len(key) > maxIdempotencyKey {
		return imgrec.Errorf(imgrec.EINVALID, "Idempotency-Key: want 1 to %d printable ASCII characters, got %d bytes", maxIdempotencyKey, len(key))
	}
	for _, c := range []byte(key) {
		if c < 0x20 || c > 0x7e {
			return imgrec.Errorf(imgrec.EINVALID, "Idempotency-Key: want printable ASCII characters only")
		}
	}
	return nil
}

// IdempotentJobID is the job id of an Idempotency-Key: every web tier derives
// the same, so the store's create-if-absent decides, atomically, which
// attempt makes the job. It starts with "k", which no random id (hex) has.
func IdempotentJobID(key string) string {
	sum := sha256.Sum256([]byte("imgrec idempotency key\x00" + key))
	return "k" + hex.EncodeToString(sum[:])[:23]
}
