package inmem

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// DefaultMaxJobs bounds a JobStore: beyond it the oldest finished jobs are
// forgotten before they expire.
const DefaultMaxJobs = 100_000

// JobStoreConfig describes a JobStore; zero values take the defaults.
type JobStoreConfig struct {
	TTL     time.Duration // imgrec.DefaultJobTTL
	MaxJobs int           // DefaultMaxJobs
}

// JobStore is an imgrec.JobStore in memory, safe for concurrent use: one
// value stands for the store that every tier of a test shares. It keeps
// copies, made through JSON as the real backends store them. Closing it
// changes nothing.
type JobStore struct {
	cfg JobStoreConfig

	mu      sync.Mutex
	jobs    map[string]stored[imgrec.Job]
	order   []string // job ids in order of creation, some gone since
	results map[imgrec.ResultKey]stored[imgrec.Result]
	model   *stored[imgrec.Model]
	changed chan struct{} // closed and replaced whenever a job changes
}

type stored[T any] struct {
	value   []byte // JSON
	expires time.Time
}

var _ imgrec.JobStore = (*JobStore)(nil)

// NewJobStore returns an empty store.
func NewJobStore(cfg JobStoreConfig) (*JobStore, error) {
	if cfg.TTL == 0 {
		cfg.TTL = imgrec.DefaultJobTTL
	}
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = DefaultMaxJobs
	}
	if cfg.TTL < 0 || cfg.MaxJobs < 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "inmem: job store: TTL %v, max jobs %d: want positive values", cfg.TTL, cfg.MaxJobs)
	}
	return &JobStore{cfg: cfg, jobs: map[string]stored[imgrec.Job]{}, results: map[imgrec.ResultKey]stored[imgrec.Result]{},
		changed: make(chan struct{})}, nil
}

func (s *JobStore) Close() error { return nil }

func encode[T any](v T, ttl time.Duration) stored[T] {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the domain types always encode
	}
	return stored[T]{value: b, expires: time.Now().Add(ttl)}
}

func (e stored[T]) decode() T {
	var v T
	if err := json.Unmarshal(e.value, &v); err != nil {
		panic(err)
	}
	return v
}

func (e stored[T]) live() bool { return time.Now().Before(e.expires) }

// job returns the live job id; call with s.mu held.
func (s *JobStore) job(id string) (imgrec.Job, bool) {
	e, ok := s.jobs[id]
	if !ok || !e.live() {
		return imgrec.Job{}, false
	}
	return e.decode(), true
}

// put stores j and wakes Awaits; call with s.mu held.
func (s *JobStore) put(j imgrec.Job) {
	s.jobs[j.ID] = encode(j, s.cfg.TTL)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *JobStore) Create(ctx context.Context, j imgrec.Job) (imgrec.Job, error) {
	if err := checkJob(ctx, "create", j.ID); err != nil {
		return imgrec.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.job(j.ID); ok {
		return old, imgrec.Errorf(imgrec.ECONFLICT, "inmem: create job %s: exists", j.ID)
	}
	s.put(j)
	s.order = append(s.order, j.ID)
	s.bound()
	return s.jobs[j.ID].decode(), nil
}

// bound forgets expired jobs, then the oldest finished ones, while there are
// more than MaxJobs; call with s.mu held.
func (s *JobStore) bound() {
	if len(s.jobs) <= s.cfg.MaxJobs {
		return
	}
	keep := s.order[:0]
	for _, id := range s.order {
		e, ok := s.jobs[id]
		switch {
		case !ok:
		case !e.live():
			delete(s.jobs, id)
		case len(s.jobs) > s.cfg.MaxJobs && e.decode().Over():
			delete(s.jobs, id)
		default:
			keep = append(keep, id)
		}
	}
	s.order = keep
}

func (s *JobStore) Get(ctx context.Context, id string) (imgrec.Job, error) {
	if err := checkJob(ctx, "get", id); err != nil {
		return imgrec.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.job(id)
	if !ok {
		return imgrec.Job{}, imgrec.Errorf(imgrec.ENOTFOUND, "inmem: job %s: not found", id)
	}
	return j, nil
}

func (s *JobStore) Finish(ctx context.Context, id string, a imgrec.Answer) (imgrec.Job, error) {
	j, _, err := s.update(ctx, "finish", id, func(j *imgrec.Job) bool {
		if j.Over() {
			return false
		}
		*j = j.Finish(a, time.Now())
		return true
	})
	return j, err
}

func (s *JobStore) Requeue(ctx context.Context, id string, after time.Duration) (imgrec.Job, bool, error) {
	return s.update(ctx, "requeue", id, func(j *imgrec.Job) bool {
		now := time.Now()
		if !j.RequeueDue(now, after) {
			return false
		}
		j.Requeued = &now
		return true
	})
}

// update applies change to job id and stores the job if change says so;
// it returns the job as stored and whether it changed.
func (s *JobStore) update(ctx context.Context, op, id string, change func(*imgrec.Job) bool) (imgrec.Job, bool, error) {
	if err := checkJob(ctx, op, id); err != nil {
		return imgrec.Job{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.job(id)
	if !ok {
		return imgrec.Job{}, false, imgrec.Errorf(imgrec.ENOTFOUND, "inmem: %s job %s: not found", op, id)
	}
	if !change(&j) {
		return j, false, nil
	}
	s.put(j)
	return s.jobs[id].decode(), true, nil
}

func (s *JobStore) Delete(ctx context.Context, id string) error {
	if err := checkJob(ctx, "delete", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, id)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *JobStore) Await(ctx context.Context, ids []string, wait time.Duration) ([]imgrec.Job, []string, error) {
	if len(ids) == 0 || len(ids) > imgrec.MaxAwaitIDs {
		return nil, nil, imgrec.Errorf(imgrec.EINVALID, "inmem: await %d jobs: want 1 to %d", len(ids), imgrec.MaxAwaitIDs)
	}
	for _, id := range ids {
		if err := imgrec.CheckJobID(id); err != nil {
			return nil, nil, err
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var over []imgrec.Job
		var missing []string
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			j, ok := s.job(id)
			switch {
			case !ok:
				missing = append(missing, id)
			case j.Over():
				over = append(over, j)
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(over)+len(missing) > 0 {
			return over, missing, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func (s *JobStore) Clear(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("inmem: clear: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.jobs {
		if e.live() {
			n++
		}
	}
	s.jobs, s.order = map[string]stored[imgrec.Job]{}, nil
	s.results, s.model = map[imgrec.ResultKey]stored[imgrec.Result]{}, nil
	close(s.changed)
	s.changed = make(chan struct{})
	return n, nil
}

func (s *JobStore) Result(ctx context.Context, k imgrec.ResultKey) (imgrec.Result, error) {
	if err := checkResult(ctx, "result", k); err != nil {
		return imgrec.Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.results[k]
	if !ok || !e.live() {
		return imgrec.Result{}, imgrec.Errorf(imgrec.ENOTFOUND, "inmem: result %s: not cached", k.Image)
	}
	return e.decode(), nil
}

func (s *JobStore) PutResult(ctx context.Context, k imgrec.ResultKey, r imgrec.Result) error {
	if err := checkResult(ctx, "put result", k); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.results) >= s.cfg.MaxJobs {
		for k, e := range s.results {
			if !e.live() || len(s.results) >= s.cfg.MaxJobs {
				delete(s.results, k) // map order: any old entry will do
			}
		}
	}
	s.results[k] = encode(r, s.cfg.TTL)
	return nil
}

func (s *JobStore) SetModel(ctx context.Context, m imgrec.Model) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: set model: %w", err)
	}
	if err := m.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := encode(m, s.cfg.TTL)
	s.model = &e
	return nil
}

func (s *JobStore) Model(ctx context.Context) (imgrec.Model, error) {
	if err := ctx.Err(); err != nil {
		return imgrec.Model{}, fmt.Errorf("inmem: model: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.model == nil || !s.model.live() {
		return imgrec.Model{}, imgrec.Errorf(imgrec.ENOTFOUND, "inmem: no model set")
	}
	return s.model.decode(), nil
}

func checkJob(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: %s job %s: %w", op, id, err)
	}
	return imgrec.CheckJobID(id)
}

func checkResult(ctx context.Context, op string, k imgrec.ResultKey) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: %s: %w", op, err)
	}
	return k.Check()
}
