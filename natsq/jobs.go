package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imgrec/imgrec"
)

// JobStore is the imgrec.JobStore on two JetStream key-value buckets:
// <prefix>_jobs holds one job per key (its id), <prefix>_results the result
// cache (key <image sha256>.<model digest>.<profile>) and the workers' model
// (key "model"). Both keep one revision per key, on disk, for TTL after its
// last write (the buckets' TTL, which is the streams' MaxAge): a finished job
// TTL after its answer. Every process sharing them should use the same TTL;
// the last one to open them sets it on the server.
//
// Finish is a compare-and-set on the job's revision, so the first answer
// wins however many workers answer; Await is a key watch (an ephemeral
// ordered consumer filtered on the awaited keys), so it is woken by the
// write itself, with no polling.
type JobStore struct {
	cfg JobStoreConfig
	nc  *nats.Conn
	own bool // Close closes nc
	js  jetstream.JetStream
	log *slog.Logger

	mu      sync.Mutex
	jobs    jetstream.KeyValue
	results jetstream.KeyValue
}

var _ imgrec.JobStore = (*JobStore)(nil)

// JobStoreConfig describes a job store.
type JobStoreConfig struct {
	// Prefix names the buckets <prefix>_jobs and <prefix>_results: the
	// queue's prefix, so one NATS server can hold several deployments.
	Prefix string
	// TTL is how long a record lives after its last write (default
	// imgrec.DefaultJobTTL).
	TTL    time.Duration
	Logger *slog.Logger
}

func (c JobStoreConfig) withDefaults() (JobStoreConfig, error) {
	var err error
	if c.Prefix, err = checkPrefix(c.Prefix); err != nil {
		return c, err
	}
	if c.TTL == 0 {
		c.TTL = imgrec.DefaultJobTTL
	}
	if c.TTL < time.Second {
		return c, imgrec.Errorf(imgrec.EINVALID, "natsq: job TTL %v: want at least 1s", c.TTL)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c JobStoreConfig) jobsBucket() string    { return c.Prefix + "_jobs" }
func (c JobStoreConfig) resultsBucket() string { return c.Prefix + "_results" }

// modelKey is the results bucket's key of the workers' model; result keys
// hold dots, so no result can take it.
const modelKey = "model"

// JobStore opens the job store on the queue's server and connection, with
// the queue's prefix: what serve and every tier on a nats:// queue use.
// Closing it leaves the queue open.
func (q *Queue) JobStore(ttl time.Duration) (*JobStore, error) {
	return openJobStore(q.nc, false, JobStoreConfig{Prefix: q.cfg.Prefix, TTL: ttl, Logger: q.log})
}

// DialJobStore connects to the NATS server at url for a job store of its own.
func DialJobStore(url string, cfg JobStoreConfig) (*JobStore, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, connectOptions(Config{Prefix: cfg.Prefix, Logger: cfg.Logger})...)
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "natsq: connect to %s", url)
	}
	return openJobStore(nc, true, cfg)
}

func openJobStore(nc *nats.Conn, own bool, cfg JobStoreConfig) (*JobStore, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		if own {
			nc.Close()
		}
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		s := &JobStore{cfg: cfg, nc: nc, own: own, js: js, log: cfg.Logger}
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err = s.setup(ctx); err == nil {
			return s, nil
		}
	}
	if own {
		nc.Close()
	}
	return nil, err
}

// setup creates the buckets, or brings their TTL to this store's.
func (s *JobStore) setup(ctx context.Context) error {
	kv := func(bucket, what string) (jetstream.KeyValue, error) {
		b, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Description: what, History: 1, TTL: s.cfg.TTL, Storage: jetstream.FileStorage,
		})
		if err != nil {
			return nil, unavailable(err, "natsq: create bucket %s", bucket)
		}
		return b, nil
	}
	jobs, err := kv(s.cfg.jobsBucket(), "imgrec jobs, by id")
	if err != nil {
		return err
	}
	results, err := kv(s.cfg.resultsBucket(), "imgrec result cache: <image sha256>.<model digest>.<profile>, and the workers' model")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.jobs, s.results = jobs, results
	s.mu.Unlock()
	return nil
}

func (s *JobStore) buckets() (jobs, results jetstream.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs, s.results
}

// healed reports whether err means the buckets are gone (an external server
// restarted without its store) and setup made them again, so that the failed
// operation is worth one more try.
func (s *JobStore) healed(ctx context.Context, err error) bool {
	if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrBucketNotFound) &&
		!errors.Is(err, jetstream.ErrNoStreamResponse) {
		return false
	}
	if err := s.setup(ctx); err != nil {
		s.log.Warn("natsq: recreating the job buckets failed", "err", err)
		return false
	}
	s.log.Info("natsq: recreated the job buckets", "prefix", s.cfg.Prefix)
	return true
}

// retry runs op, and once more if the buckets had to be made again.
func (s *JobStore) retry(ctx context.Context, op func(jobs, results jetstream.KeyValue) error) error {
	err := op(s.buckets())
	if err != nil && s.healed(ctx, err) {
		err = op(s.buckets())
	}
	return err
}

// Close closes the connection if DialJobStore opened it.
func (s *JobStore) Close() error {
	if s.own {
		s.nc.Close()
	}
	return nil
}

func (s *JobStore) Create(ctx context.Context, j imgrec.Job) (imgrec.Job, error) {
	if err := imgrec.CheckJobID(j.ID); err != nil {
		return imgrec.Job{}, err
	}
	data, err := json.Marshal(j)
	if err != nil {
		return imgrec.Job{}, fmt.Errorf("natsq: create job %s: %w", j.ID, err)
	}
	for {
		err := s.retry(ctx, func(jobs, _ jetstream.KeyValue) error {
			_, err := jobs.Create(ctx, j.ID, data)
			return err
		})
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return imgrec.Job{}, unavailable(err, "natsq: create job %s", j.ID)
		}
		old, err := s.Get(ctx, j.ID)
		if imgrec.ErrorCode(err) == imgrec.ENOTFOUND {
			continue // deleted or expired since: try again
		}
		if err != nil {
			return imgrec.Job{}, err
		}
		return old, imgrec.Errorf(imgrec.ECONFLICT, "natsq: create job %s: exists", j.ID)
	}
}

// entry returns the job's stored value and revision.
func (s *JobStore) entry(ctx context.Context, id string) (imgrec.Job, uint64, error) {
	if err := imgrec.CheckJobID(id); err != nil {
		return imgrec.Job{}, 0, err
	}
	var e jetstream.KeyValueEntry
	err := s.retry(ctx, func(jobs, _ jetstream.KeyValue) (err error) {
		e, err = jobs.Get(ctx, id)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return imgrec.Job{}, 0, imgrec.Errorf(imgrec.ENOTFOUND, "natsq: job %s: not found", id)
	}
	if err != nil {
		return imgrec.Job{}, 0, unavailable(err, "natsq: get job %s", id)
	}
	var j imgrec.Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return imgrec.Job{}, 0, fmt.Errorf("natsq: job %s: %w", id, err)
	}
	return j, e.Revision(), nil
}

func (s *JobStore) Get(ctx context.Context, id string) (imgrec.Job, error) {
	j, _, err := s.entry(ctx, id)
	return j, err
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

// update applies change to job id and writes the job, if change says so,
// on the revision it read; if another write came first, it reads again. It
// returns the job as stored and whether this call changed it.
func (s *JobStore) update(ctx context.Context, op, id string, change func(*imgrec.Job) bool) (imgrec.Job, bool, error) {
	for {
		j, rev, err := s.entry(ctx, id)
		if err != nil || !change(&j) {
			return j, false, err
		}
		data, err := json.Marshal(j)
		if err != nil {
			return imgrec.Job{}, false, fmt.Errorf("natsq: %s job %s: %w", op, id, err)
		}
		jobs, _ := s.buckets()
		_, err = jobs.Update(ctx, id, data, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return imgrec.Job{}, false, unavailable(err, "natsq: %s job %s", op, id)
		}
		return j, true, nil
	}
}

func (s *JobStore) Delete(ctx context.Context, id string) error {
	if err := imgrec.CheckJobID(id); err != nil {
		return err
	}
	err := s.retry(ctx, func(jobs, _ jetstream.KeyValue) error { return jobs.Delete(ctx, id) })
	if err != nil {
		return unavailable(err, "natsq: delete job %s", id)
	}
	return nil
}

// Await watches the keys of the awaited jobs: the watch first delivers each
// key's latest value (or nothing, or a delete marker), then every write.
func (s *JobStore) Await(ctx context.Context, ids []string, wait time.Duration) ([]imgrec.Job, []string, error) {
	if len(ids) == 0 || len(ids) > imgrec.MaxAwaitIDs {
		return nil, nil, imgrec.Errorf(imgrec.EINVALID, "natsq: await %d jobs: want 1 to %d", len(ids), imgrec.MaxAwaitIDs)
	}
	for _, id := range ids {
		if err := imgrec.CheckJobID(id); err != nil {
			return nil, nil, err
		}
	}
	keys := slices.Compact(slices.Sorted(slices.Values(ids)))
	deadline := time.Now().Add(wait)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var w jetstream.KeyWatcher
	err := s.retry(ctx, func(jobs, _ jetstream.KeyValue) (err error) {
		w, err = jobs.WatchFiltered(wctx, slices.Clone(keys)) // it rewrites the keys it is given
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, unavailable(err, "natsq: await jobs")
	}
	defer func() {
		w.Stop()
		go func() {
			for range w.Updates() { // until Stop closes it: a late update must not block the subscription
			}
		}()
	}()
	latest := map[string]jetstream.KeyValueEntry{} // key → its latest put; deleted keys absent
	initial := true
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "natsq: await jobs: the watch ended")
			}
			if e == nil { // every key's value as it was when the watch began
				initial = false
				over, missing, err := decodeAwaited(keys, latest)
				if err != nil || len(over)+len(missing) > 0 || time.Now().After(deadline) {
					return over, missing, err
				}
				continue
			}
			if e.Operation() == jetstream.KeyValuePut {
				latest[e.Key()] = e
			} else {
				delete(latest, e.Key())
			}
			if initial {
				continue
			}
			over, missing, err := decodeAwaited([]string{e.Key()}, latest)
			if err != nil || len(over)+len(missing) > 0 {
				return over, missing, err
			}
		case <-timer.C:
			if !initial {
				return nil, nil, nil
			}
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// decodeAwaited sorts keys into jobs that are over and keys with no job.
func decodeAwaited(keys []string, latest map[string]jetstream.KeyValueEntry) (over []imgrec.Job, missing []string, err error) {
	for _, k := range keys {
		e, ok := latest[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		var j imgrec.Job
		if err := json.Unmarshal(e.Value(), &j); err != nil {
			return nil, nil, fmt.Errorf("natsq: job %s: %w", k, err)
		}
		if j.Over() {
			over = append(over, j)
		}
	}
	return over, missing, nil
}

// Clear counts the jobs, then purges both buckets' streams.
func (s *JobStore) Clear(ctx context.Context) (int, error) {
	jobs, results := s.buckets()
	lister, err := jobs.ListKeys(ctx)
	if err != nil {
		return 0, unavailable(err, "natsq: clear jobs")
	}
	n := 0
	for range lister.Keys() {
		n++
	}
	for _, b := range []jetstream.KeyValue{jobs, results} {
		stream, err := s.js.Stream(ctx, "KV_"+b.Bucket())
		if err == nil {
			err = stream.Purge(ctx)
		}
		if err != nil {
			return 0, unavailable(err, "natsq: clear bucket %s", b.Bucket())
		}
	}
	return n, nil
}

func resultKey(k imgrec.ResultKey) string { return k.Image + "." + k.Digest + "." + k.Profile }

func (s *JobStore) Result(ctx context.Context, k imgrec.ResultKey) (imgrec.Result, error) {
	if err := k.Check(); err != nil {
		return imgrec.Result{}, err
	}
	var r imgrec.Result
	err := s.getJSON(ctx, resultKey(k), &r)
	return r, err
}

func (s *JobStore) PutResult(ctx context.Context, k imgrec.ResultKey, r imgrec.Result) error {
	if err := k.Check(); err != nil {
		return err
	}
	return s.putJSON(ctx, resultKey(k), r)
}

func (s *JobStore) SetModel(ctx context.Context, m imgrec.Model) error {
	if err := m.Check(); err != nil {
		return err
	}
	return s.putJSON(ctx, modelKey, m)
}

func (s *JobStore) Model(ctx context.Context) (imgrec.Model, error) {
	var m imgrec.Model
	err := s.getJSON(ctx, modelKey, &m)
	return m, err
}

func (s *JobStore) getJSON(ctx context.Context, key string, v any) error {
	var e jetstream.KeyValueEntry
	err := s.retry(ctx, func(_, results jetstream.KeyValue) (err error) {
		e, err = results.Get(ctx, key)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return imgrec.Errorf(imgrec.ENOTFOUND, "natsq: %s: not cached", key)
	}
	if err != nil {
		return unavailable(err, "natsq: get %s", key)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return fmt.Errorf("natsq: %s: %w", key, err)
	}
	return nil
}

func (s *JobStore) putJSON(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("natsq: put %s: %w", key, err)
	}
	err = s.retry(ctx, func(_, results jetstream.KeyValue) error {
		_, err := results.Put(ctx, key, data)
		return err
	})
	if err != nil {
		return unavailable(err, "natsq: put %s", key)
	}
	return nil
}
