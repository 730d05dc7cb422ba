package web

import (
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// Job states as the API reports them.
const (
	JobQueued = "queued"
	JobDone   = "done"
	JobFailed = "failed"
)

// job is one upload's life in this web tier.
type job struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"` // file name as uploaded (sanitised)
	Key       string              `json:"key"`  // input bucket key
	State     string              `json:"state"`
	Label     string              `json:"label,omitempty"`
	Top       []imgrec.Prediction `json:"top,omitempty"`
	Error     string              `json:"error,omitempty"`
	Worker    string              `json:"worker,omitempty"`
	Attempt   int                 `json:"attempt,omitempty"` // the delivery that answered; above 1 after a worker failed
	Submitted time.Time           `json:"submitted"`
	Finished  *time.Time          `json:"finished,omitempty"`
	Seconds   float64             `json:"seconds,omitempty"` // upload to answer

	async bool          // submitted through POST /v1/jobs: nobody waits, so the metrics are counted on finish
	done  chan struct{} // closed when the job finishes
}

// jobTable remembers jobs by id, forgetting the oldest finished ones beyond max.
type jobTable struct {
	// onFinish sees each job as it finishes, before anyone waiting is woken.
	onFinish func(job)

	mu    sync.Mutex
	max   int
	byID  map[string]*job
	order []string // ids in submission order
}

func newJobTable(max int, onFinish func(job)) *jobTable {
	return &jobTable{max: max, byID: map[string]*job{}, onFinish: onFinish}
}

func (t *jobTable) add(j *job) {
	j.done = make(chan struct{})
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[j.ID] = j
	t.order = append(t.order, j.ID)
	for len(t.byID) > t.max && len(t.order) > 0 {
		old := t.byID[t.order[0]]
		if old != nil && old.State == JobQueued {
			break // never forget a job someone may still be waiting for
		}
		delete(t.byID, t.order[0])
		t.order = t.order[1:]
	}
}

// get returns a copy of the job, safe to encode.
func (t *jobTable) get(id string) (job, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.byID[id]
	if !ok {
		return job{}, false
	}
	return *j, true
}

// wait returns the channel closed when job id finishes.
func (t *jobTable) wait(id string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if j, ok := t.byID[id]; ok {
		return j.done
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// finish records a worker's response; false if the job is unknown or
// already finished.
func (t *jobTable) finish(r imgrec.Response) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.byID[r.ID]
	if !ok || j.State != JobQueued {
		return false
	}
	now := time.Now()
	j.Finished = &now
	j.Seconds = now.Sub(j.Submitted).Seconds()
	j.Worker, j.Attempt = r.Worker, r.Attempt
	if r.Error != "" {
		j.State, j.Error = JobFailed, r.Error
	} else {
		j.State, j.Label, j.Top = JobDone, r.Label, r.Top
	}
	if t.onFinish != nil {
		t.onFinish(*j)
	}
	close(j.done)
	return true
}

// clear forgets every job, failing those still queued.
func (t *jobTable) clear(reason string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.byID)
	for _, j := range t.byID {
		if j.State == JobQueued {
			j.State, j.Error = JobFailed, reason
			close(j.done)
		}
	}
	t.byID = map[string]*job{}
	t.order = nil
	return n
}
