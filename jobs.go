package imgrec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Job states, as the API reports them.
const (
	JobQueued = "queued" // recorded and queued; no answer yet
	JobDone   = "done"   // answered with a label
	JobFailed = "failed" // a worker could not classify it; Error says why
)

// Job is one upload's record in the job store: written by the web tier that
// took the upload before it answers 202 (and before the request is queued),
// finished by the worker that classified it (or by a web tier that heard of a
// failure), and readable by every web tier that shares the store, until it
// expires.
type Job struct {
	ID    string `json:"id"`
	Name  string `json:"name"` // file name as uploaded (sanitised)
	Key   string `json:"key"`  // input bucket key
	State string `json:"state"`
	// Image is the hex SHA-256 of the uploaded bytes: a retry with the same
	// Idempotency-Key must send the same image, and the result cache is
	// keyed on it.
	Image     string       `json:"image_sha256,omitempty"`
	Label     string       `json:"label,omitempty"`
	Top       []Prediction `json:"top,omitempty"`
	Error     string       `json:"error,omitempty"`
	Worker    string       `json:"worker,omitempty"`
	Attempt   int          `json:"attempt,omitempty"` // the delivery that answered; above 1 after a worker failed
	Cached    bool         `json:"cached,omitempty"`  // answered from the result cache, without a worker
	Submitted time.Time    `json:"submitted"`
	// Requeued is when a web tier last queued the job's request again, for
	// fear that it was never queued (see JobStore.Requeue).
	Requeued *time.Time `json:"requeued,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	Seconds  float64    `json:"seconds,omitempty"` // upload to answer
}

// Over reports whether the job has its answer (done or failed).
func (j Job) Over() bool { return j.State == JobDone || j.State == JobFailed }

// RequeueAt is when a queued job's request may be queued again (see
// JobStore.Requeue): after, since it was submitted or last queued again.
func (j Job) RequeueAt(after time.Duration) time.Time {
	last := j.Submitted
	if j.Requeued != nil && j.Requeued.After(last) {
		last = *j.Requeued
	}
	return last.Add(after)
}

// RequeueDue reports whether a web tier may queue j's request again at now.
func (j Job) RequeueDue(now time.Time, after time.Duration) bool {
	return j.State == JobQueued && !now.Before(j.RequeueAt(after))
}

// Answer is what finishes a job: a label, or the reason there is none.
type Answer struct {
	Label   string       `json:"label,omitempty"`
	Top     []Prediction `json:"top,omitempty"`
	Error   string       `json:"error,omitempty"` // set: the job failed
	Worker  string       `json:"worker,omitempty"`
	Attempt int          `json:"attempt,omitempty"`
}

// Finish returns j with the answer a recorded at time at.
func (j Job) Finish(a Answer, at time.Time) Job {
	j.Finished = &at
	j.Seconds = max(at.Sub(j.Submitted).Seconds(), 0)
	j.Worker, j.Attempt = a.Worker, a.Attempt
	if a.Error != "" {
		j.State, j.Error, j.Label, j.Top = JobFailed, a.Error, "", nil
	} else {
		j.State, j.Label, j.Top, j.Error = JobDone, a.Label, a.Top, ""
	}
	return j
}

// AnswerOf is the answer a worker's response carries.
func AnswerOf(r Response) Answer {
	return Answer{Label: r.Label, Top: r.Top, Error: r.Error, Worker: r.Worker, Attempt: r.Attempt}
}

// DefaultJobTTL is how long a job is kept after its last change (its
// answer, for a finished job); cached results and the model record too.
const DefaultJobTTL = 24 * time.Hour

// MaxAwaitIDs is the most jobs one Await follows: the page's watch.
const MaxAwaitIDs = 100

// JobStore keeps jobs durably, shared by every web tier and worker of a
// deployment, together with the result cache: what a model answered for an
// image, so that an upload of the same bytes is answered without a worker.
//
// Everything in it expires TTL after its last write (the backend's
// configured TTL, DefaultJobTTL by default): a finished job TTL after its
// answer. An expired record is gone for every method, whether or not the
// backend has deleted it yet.
type JobStore interface {
	// Create records a new job. If a job with its ID exists, Create leaves it
	// alone and returns it with an ECONFLICT error: that is how a retry with
	// the same Idempotency-Key (whose job ID derives from the key) finds the
	// first attempt's job.
	Create(ctx context.Context, j Job) (Job, error)
	// Get returns the job or an ENOTFOUND error.
	Get(ctx context.Context, id string) (Job, error)
	// Finish records the answer of a queued job and returns the job as
	// recorded. The first answer wins: a job already over is returned as it
	// is. ENOTFOUND if there is no such job (expired, deleted or cleared).
	Finish(ctx context.Context, id string, a Answer) (Job, error)
	// Requeue claims the queueing of a queued job's request once more, for
	// a job whose request may never have been queued: its web tier died
	// between recording and queueing it, and a retry with its
	// Idempotency-Key found it. It returns the job as recorded and true for
	// one caller, when the job is queued and RequeueDue(now, after); the
	// claim is recorded as Requeued, so no other caller gets one for another
	// after. Everyone else gets the job as it is and false. ENOTFOUND if
	// there is no such job.
	Requeue(ctx context.Context, id string, after time.Duration) (Job, bool, error)
	// Delete forgets a job (one that could not be queued); a missing job is
	// not an error.
	Delete(ctx context.Context, id string) error
	// Await looks at up to MaxAwaitIDs jobs and returns those that are over
	// and the ids it does not hold (never created, expired, deleted), as soon
	// as there is one of either: at once if there is, else when one finishes
	// or vanishes, or with neither once wait has passed (wait 0: look once).
	// It returns ctx.Err() if ctx ends first.
	Await(ctx context.Context, ids []string, wait time.Duration) (over []Job, missing []string, err error)
	// Clear removes every job and cached result and returns how many jobs
	// there were.
	Clear(ctx context.Context) (jobs int, err error)

	// Result returns the cached result of an image under a model, or an
	// ENOTFOUND error.
	Result(ctx context.Context, k ResultKey) (Result, error)
	// PutResult caches a result, replacing any under the same key.
	PutResult(ctx context.Context, k ResultKey, r Result) error
	// SetModel records the model the workers run, for web tiers that do
	// not know it to look results up under; the last one set counts.
	// Workers set it when they start, and again well within the TTL.
	SetModel(ctx context.Context, m Model) error
	// Model returns the model last set, or an ENOTFOUND error.
	Model(ctx context.Context) (Model, error)

	Close() error
}

// Model names what a worker's answers depend on: the weights (the first 16
// hex digits of their .pth file's SHA-256, as resnet.Digest gives them) and
// the preprocessing profile.
type Model struct {
	Digest  string    `json:"digest"`
	Profile string    `json:"profile"`
	Since   time.Time `json:"since,omitzero"` // when a worker last set it
}

// Check refuses a model whose digest or profile is not a plain token.
func (m Model) Check() error {
	if err := checkToken("model digest", m.Digest); err != nil {
		return err
	}
	return checkToken("profile", m.Profile)
}

// ResultKey names a cached result: an image's bytes under one model. A
// lookup under the wrong model finds nothing, never another model's answer.
type ResultKey struct {
	Image   string // hex SHA-256 of the image file's bytes
	Digest  string // Model.Digest
	Profile string // Model.Profile
}

// KeyOf is the cache key of image bytes under model m.
func KeyOf(image []byte, m Model) ResultKey {
	return ResultKey{Image: ImageDigest(image), Digest: m.Digest, Profile: m.Profile}
}

// ImageDigest is the hex SHA-256 of an image file's bytes.
func ImageDigest(image []byte) string {
	sum := sha256.Sum256(image)
	return hex.EncodeToString(sum[:])
}

// Check refuses keys whose parts are not plain tokens, so that every
// backend can store any valid key under its own naming rules.
func (k ResultKey) Check() error {
	if len(k.Image) != 64 || !isHex(k.Image) {
		return Errorf(EINVALID, "result key: image %q is no hex SHA-256", k.Image)
	}
	return Model{Digest: k.Digest, Profile: k.Profile}.Check()
}

// Result is a cached answer.
type Result struct {
	Label string       `json:"label"`
	Top   []Prediction `json:"top,omitempty"`
	At    time.Time    `json:"at,omitzero"` // when a worker computed it
}

// CheckJobID refuses ids that are not 1 to 64 letters, digits, '-' and '_':
// every id the web tier makes is one, and every backend can use one as a key.
func CheckJobID(id string) error { return checkToken("job id", id) }

func checkToken(what, s string) error {
	if s == "" || len(s) > 64 {
		return Errorf(EINVALID, "%s %q: want 1 to 64 letters, digits, '-' and '_'", what, s)
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return Errorf(EINVALID, "%s %q: want 1 to 64 letters, digits, '-' and '_'", what, s)
		}
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
