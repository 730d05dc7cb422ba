// Package worker is the app tier's loop: pull a request, fetch the image,
// classify it, store the result, record the answer in the job, reply, and
// only then acknowledge.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
)

// Defaults for Config's zero values.
const (
	// DefaultMaxAttempts: a request is given up on when it comes back a
	// fifth time. Deliveries count whatever ended them: a worker that died
	// with the request (a poison image that crashes workers must not take
	// down the fleet), but also, rarely, a delivery the NATS server sent to
	// a pull a draining worker had just dropped (what a queue's own
	// abandoned receives catch goes back uncounted); five leave room for a
	// few unlucky deaths.
	DefaultMaxAttempts = 5
	DefaultTopK        = 5
	// DefaultMaxBatch: one forward pass over several images streams the
	// weights once for all of them; at 64×64 a batch of 8 costs 1.6 ms per
	// image on one core against 2.2 ms for one image alone.
	DefaultMaxBatch = 8
	// DefaultConcurrency lets the next batch be fetched and decoded, and the
	// last one stored and acknowledged, while the current one is inferred.
	DefaultConcurrency = 2 * DefaultMaxBatch
	// DefaultMaxPixelsInHand is two images at vision's default pixel limit:
	// about 1 GiB of decoded RGB and tensors.
	DefaultMaxPixelsInHand = 80_000_000
	// DefaultModelEvery is how often a worker that fills the result cache
	// records its model again, well within the store's TTL.
	DefaultModelEvery = time.Hour
)

// Config wires a worker to its queue, buckets and classifier.
type Config struct {
	Queue      imgrec.Queue
	Input      imgrec.BlobStore
	Output     imgrec.BlobStore
	Classifier imgrec.Classifier
	Decode     func([]byte) (*imgrec.Image, error)
	// Jobs is where each answer is recorded in its job, before the reply
	// and the ack, so that it survives the web tier that took the upload.
	// Nil: answers go by reply only.
	Jobs imgrec.JobStore
	// Cache, with Jobs, keeps every label in the result cache under the
	// image's SHA-256 and Model, and records Model for the web tiers (at
	// start and every ModelEvery), so that they answer the same bytes again
	// without a worker.
	Cache      bool
	Model      imgrec.Model  // what Classifier runs: weights digest and profile
	ModelEvery time.Duration // default DefaultModelEvery

	ID          string        // instance id, reported in responses
	MaxAttempts int           // deliveries before a request is dead-lettered
	ExtendEvery time.Duration // how often to extend the visibility timeout while working; below the timeout
	TopK        int           // predictions carried in the response
	// MaxBatch bounds the images classified in one call. A batch is whatever
	// is in hand when the classifier is free: a lone request never waits
	// for company.
	MaxBatch int
	// Concurrency bounds the requests in hand at once (received and not yet
	// acknowledged), so a busy worker never hoards what idle ones could take.
	Concurrency int
	// Size reads an image's dimensions from its header, so the worker can
	// hold back a large image before decoding it (see MaxPixelsInHand). Nil:
	// no pixel budget.
	Size func([]byte) (width, height int, err error)
	// MaxPixelsInHand bounds the pixels of the images decoded and not yet
	// classified, whatever Concurrency says: many course images fit, two
	// huge ones do not. An image larger than the whole budget goes alone.
	MaxPixelsInHand int64
	// Status receives the worker's status lines (imgrec.WriteStatus), so a provider can
	// tell which instances may be scaled in (see package local).
	Status io.Writer
	// Registry is where the worker's metrics are registered
	// (imgrec_worker_*); nil for none.
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Worker runs a three-stage pipeline: receivers fetch requests and decode
// their images, one loop classifies whatever is ready as a batch, and
// finishers store, reply and acknowledge. Only the middle stage needs the
// CPU for long, so the other two hide the waits on disk and queue.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	statusMu sync.Mutex
	busy     int // requests in hand, for the status line
	// preparing counts requests received whose images are being fetched
	// and decoded: the batcher waits for them rather than run without them.
	preparing atomic.Int32

	pixelsMu   sync.Mutex
	pixelsCond sync.Cond
	pixelsFree int64 // of MaxPixelsInHand
}

// maxPrepareWait bounds how long a batch waits for requests being prepared;
// a course image takes about 0.1 ms, a large one may take a second.
const maxPrepareWait = 5 * time.Millisecond

// New checks the configuration and fills in defaults.
func New(cfg Config) (*Worker, error) {
	if cfg.Queue == nil || cfg.Input == nil || cfg.Output == nil || cfg.Classifier == nil || cfg.Decode == nil {
		return nil, errors.New("worker: queue, buckets, classifier and decoder are required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ExtendEvery <= 0 {
		cfg.ExtendEvery = imgrec.DefaultExtendEvery
	}
	if cfg.TopK <= 0 {
		cfg.TopK = DefaultTopK
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = max(DefaultConcurrency, cfg.MaxBatch)
	}
	if cfg.MaxPixelsInHand <= 0 {
		cfg.MaxPixelsInHand = DefaultMaxPixelsInHand
	}
	if cfg.ModelEvery <= 0 {
		cfg.ModelEvery = DefaultModelEvery
	}
	if cfg.Cache {
		if cfg.Jobs == nil {
			return nil, errors.New("worker: the result cache needs a job store")
		}
		if err := cfg.Model.Check(); err != nil {
			return nil, fmt.Errorf("worker: the result cache needs the model: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, log: log.With("instance", cfg.ID), metrics: newMetrics(cfg.Registry), pixelsFree: cfg.MaxPixelsInHand}
	w.pixelsCond.L = &w.pixelsMu
	return w, nil
}

// task is one request in hand, from receipt to acknowledgement.
type task struct {
	d             imgrec.Delivery
	log           *slog.Logger
	start         time.Time
	img           *imgrec.Image
	digest        string // hex SHA-256 of the image's bytes, with the cache on
	pixels        int64  // of the worker's budget, held until img is classified
	stopExtending func()
}

// Run pulls and processes requests until ctx is cancelled, then returns nil
// once the requests in hand are finished: cancelling ctx is a drain, never an
// interruption.
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.Cache {
		stop := w.keepModel()
		defer stop()
	}
	w.status(imgrec.WorkerReady)
	slots := make(chan struct{}, w.cfg.Concurrency)
	ready := make(chan *task, w.cfg.Concurrency) // never blocks: a slot is held per task
	var receivers, finishers sync.WaitGroup
	// One open pull per receiver: enough to fill a batch while one is inferred.
	for range min(w.cfg.MaxBatch, w.cfg.Concurrency) {
		receivers.Go(func() { w.receive(ctx, slots, ready, &finishers) })
	}
	go func() { receivers.Wait(); close(ready) }()
	wait := time.NewTimer(0)
	for t := range ready {
		batch := []*task{t}
	gather:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case t, ok := <-ready:
				if !ok {
					break gather
				}
				batch = append(batch, t)
				continue
			default:
			}
			if w.preparing.Load() == 0 {
				break
			}
			// Requests already received are a file read and a decode
			// away: a short wait for them beats a short batch.
			wait.Reset(maxPrepareWait)
			select {
			case t, ok := <-ready:
				if !ok {
					break gather
				}
				batch = append(batch, t)
			case <-wait.C:
				break gather
			}
		}
		w.classify(batch, slots, &finishers)
	}
	finishers.Wait()
	w.log.Info("drained")
	return nil
}

// receive takes requests while ctx lasts and there is room in hand, and
// readies their images for classification.
func (w *Worker) receive(ctx context.Context, slots chan struct{}, ready chan<- *task, finishers *sync.WaitGroup) {
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		d, err := w.cfg.Queue.Receive(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("receive failed", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		w.metrics.picked(d.Request().Sent)
		// A request received is work in hand, even if the drain began a
		// moment ago: finish it rather than hand it back.
		w.setBusy(+1)
		w.preparing.Add(1)
		t := w.prepare(context.WithoutCancel(ctx), d)
		if t == nil {
			w.preparing.Add(-1)
			w.setBusy(-1)
			<-slots
			continue
		}
		finishers.Add(1) // the task's finisher, or its failure, calls Done
		ready <- t
		w.preparing.Add(-1) // after the send, so the batcher sees t in one place or the other
	}
}

// permanent marks failures that no retry can fix (a corrupt image).
type permanent struct{ error }

// prepare fetches and decodes the request's image. It settles the request
// itself, and returns nil, when there is nothing to classify.
func (w *Worker) prepare(ctx context.Context, d imgrec.Delivery) *task {
	req := d.Request()
	t := &task{d: d, log: w.log.With("id", req.ID, "key", req.Key, "attempt", d.Attempt()), start: time.Now()}
	if d.Attempt() > w.cfg.MaxAttempts {
		w.metrics.fail(FailAttempts)
		w.giveUp(ctx, t, fmt.Sprintf("gave up after %d attempts: each worker died or timed out before finishing", w.cfg.MaxAttempts))
		return nil
	}
	t.stopExtending = w.keepInvisible(ctx, t)
	data, err := req.Image, error(nil)
	if len(data) == 0 {
		data, err = w.cfg.Input.Get(ctx, req.Key)
	}
	switch {
	case imgrec.ErrorCode(err) == imgrec.ENOTFOUND:
		w.metrics.fail(FailMissing)
		err = permanent{fmt.Errorf("input image %q is not in the input bucket", req.Key)}
	case err != nil:
		w.metrics.fail(FailFetch)
	default:
		if w.cfg.Cache {
			t.digest = imgrec.ImageDigest(data)
		}
		t.pixels = w.holdPixels(data)
		t0 := time.Now()
		t.img, err = w.cfg.Decode(data)
		w.metrics.decode.Observe(time.Since(t0).Seconds())
		if err != nil {
			w.metrics.fail(FailDecode)
			w.releasePixels(t)
			err = permanent{err}
		}
	}
	if err != nil {
		t.stopExtending()
		w.fail(ctx, t, err)
		return nil
	}
	return t
}

// classify runs one batch and hands each result to its own finisher. A
// batch refused as invalid is retried image by image, so one bad image
// cannot fail the others.
func (w *Worker) classify(batch []*task, slots chan struct{}, finishers *sync.WaitGroup) {
	ctx := context.Background() // work in hand is finished whatever the drain says
	imgs := make([]*imgrec.Image, len(batch))
	for i, t := range batch {
		imgs[i] = t.img
	}
	t0 := time.Now()
	preds, err := w.cfg.Classifier.Classify(ctx, imgs, w.cfg.TopK)
	if err != nil && len(batch) > 1 && imgrec.ErrorCode(err) == imgrec.EINVALID {
		for _, t := range batch {
			w.classify([]*task{t}, slots, finishers)
		}
		return
	}
	elapsed := time.Since(t0).Seconds()
	perImage := elapsed / float64(len(batch))
	if err == nil {
		w.metrics.inference.Observe(elapsed)
		w.metrics.batch.Observe(float64(len(batch)))
	}
	for i, t := range batch {
		t.img = nil
		w.releasePixels(t)
		go func() {
			defer finishers.Done()
			defer func() { w.setBusy(-1); <-slots }()
			defer t.stopExtending()
			switch {
			case imgrec.ErrorCode(err) == imgrec.EINVALID:
				w.metrics.fail(FailInvalid)
				w.fail(ctx, t, permanent{err})
			case err != nil:
				w.metrics.fail(FailClassify)
				w.fail(ctx, t, err)
			default:
				w.finish(ctx, t, preds[i], perImage)
			}
		}()
	}
}

// finish stores the result, caches it, records it in the job, replies, and
// only then acknowledges.
func (w *Worker) finish(ctx context.Context, t *task, top []imgrec.Prediction, inference float64) {
	req := t.d.Request()
	key := imgrec.OutputKey(req.Key)
	label := top[0].Label
	if err := w.cfg.Output.Put(ctx, key, []byte(imgrec.OutputRecord{Name: key, Label: label}.String())); err != nil {
		w.metrics.fail(FailStore)
		w.fail(ctx, t, fmt.Errorf("store result %s: %w", key, err))
		return
	}
	if w.cfg.Cache && t.digest != "" {
		k := imgrec.ResultKey{Image: t.digest, Digest: w.cfg.Model.Digest, Profile: w.cfg.Model.Profile}
		if err := w.cfg.Jobs.PutResult(ctx, k, imgrec.Result{Label: label, Top: top, At: time.Now().UTC()}); err != nil {
			t.log.Warn("caching the result failed; the next upload of this image goes to a worker", "err", err)
		}
	}
	answer := imgrec.Answer{Label: label, Top: top, Worker: w.cfg.ID, Attempt: t.d.Attempt()}
	recorded, err := w.record(ctx, t, answer)
	if err != nil {
		w.metrics.fail(FailRecord)
		w.fail(ctx, t, fmt.Errorf("record the answer of job %s: %w", req.ID, err))
		return
	}
	if req.ReplyTo != "" {
		resp := imgrec.Response{ID: req.ID, Key: key, Label: label, Top: top, Worker: w.cfg.ID, Attempt: t.d.Attempt(), Inference: inference, Recorded: recorded}
		if err := w.cfg.Queue.Reply(ctx, req.ReplyTo, resp); err != nil {
			w.metrics.fail(FailReply)
			t.log.Warn("reply failed; the result is in the output bucket", "err", err)
		}
	}
	if err := t.d.Ack(ctx); err != nil {
		w.metrics.fail(FailAck)
		// The request will be redelivered and recomputed; the stored result is idempotent.
		t.log.Warn("ack failed", "err", err)
		return
	}
	t.log.Info("done", "label", label, "seconds", time.Since(t.start).Seconds())
}

// recordTries is how often a worker tries to record an answer before it
// hands the request back; the lease is extended meanwhile.
const recordTries = 4

// record writes the answer into the request's job, and reports whether it
// did. A job the store no longer holds (expired, or cleared by a reset) is
// no failure: nobody can ask for it, and the output bucket has the result.
// A store that fails is tried again a few times, a second or two in all,
// before the request goes back to the queue for another attempt.
func (w *Worker) record(ctx context.Context, t *task, a imgrec.Answer) (bool, error) {
	if w.cfg.Jobs == nil {
		return false, nil
	}
	id := t.d.Request().ID
	if imgrec.CheckJobID(id) != nil {
		return false, nil // not a web tier's job (a hand-made request)
	}
	backoff := 250 * time.Millisecond
	for try := 1; ; try++ {
		_, err := w.cfg.Jobs.Finish(ctx, id, a)
		switch {
		case err == nil:
			return true, nil
		case imgrec.ErrorCode(err) == imgrec.ENOTFOUND:
			t.log.Info("no job to record the answer in (expired or reset)")
			return false, nil
		case try == recordTries:
			return false, err
		}
		t.log.Warn("recording the answer failed; trying again", "err", err, "in", backoff)
		time.Sleep(backoff)
		backoff *= 2
	}
}

// keepModel records the worker's model now and every ModelEvery, until stop.
func (w *Worker) keepModel() (stop func()) {
	set := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m := w.cfg.Model
		m.Since = time.Now().UTC()
		if err := w.cfg.Jobs.SetModel(ctx, m); err != nil {
			w.log.Warn("recording the model for the result cache failed", "err", err)
		}
	}
	set()
	return every(w.cfg.ModelEvery, set)
}

// every calls f every interval, from one interval from now, until the
// returned stop is called; stop returns once f is not running.
func every(interval time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				f()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// fail dead-letters a request that cannot succeed and hands back one that
// may succeed on another attempt.
func (w *Worker) fail(ctx context.Context, t *task, err error) {
	var perm permanent
	if errors.As(err, &perm) {
		w.giveUp(ctx, t, perm.Error())
		return
	}
	t.log.Warn("transient failure; will retry", "err", err)
	if err := t.d.Nack(ctx, time.Duration(t.d.Attempt())*time.Second); err != nil {
		t.log.Warn("nack failed; the request comes back after the visibility timeout", "err", err)
	}
}

// giveUp dead-letters the request and tells the waiting client why, so it
// gets an answer now rather than a timeout.
func (w *Worker) giveUp(ctx context.Context, t *task, reason string) {
	d, log := t.d, t.log
	req := d.Request()
	log.Warn("dead-lettering", "reason", reason)
	if err := d.DeadLetter(ctx, reason); err != nil {
		w.metrics.fail(FailDeadLetter)
		log.Error("dead-letter failed; the request will come back", "err", err)
		return
	}
	recorded, err := w.record(ctx, t, imgrec.Answer{Error: reason, Worker: w.cfg.ID, Attempt: d.Attempt()})
	if err != nil {
		w.metrics.fail(FailRecord)
		log.Warn("recording the failure in the job failed; the web tier records it from the reply", "err", err)
	}
	if req.ReplyTo != "" {
		resp := imgrec.Response{ID: req.ID, Key: imgrec.OutputKey(req.Key), Error: reason, Worker: w.cfg.ID, Attempt: d.Attempt(), Recorded: recorded}
		if err := w.cfg.Queue.Reply(ctx, req.ReplyTo, resp); err != nil {
			w.metrics.fail(FailReply)
			log.Warn("reply failed", "err", err)
		}
	}
}

// keepInvisible extends the visibility timeout until the returned stop is called.
func (w *Worker) keepInvisible(ctx context.Context, t *task) (stop func()) {
	return every(w.cfg.ExtendEvery, func() {
		if err := t.d.Extend(ctx); err != nil {
			t.log.Warn("extend failed", "err", err)
		}
	})
}

// setBusy counts requests in hand and reports the edges: "busy" when the
// first arrives, "idle" when the last is done.
func (w *Worker) setBusy(delta int) {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	before := w.busy
	w.busy += delta
	w.metrics.inHand.Set(float64(w.busy))
	switch {
	case before == 0 && w.busy > 0:
		w.writeStatus(imgrec.WorkerBusy)
	case before > 0 && w.busy == 0:
		w.writeStatus(imgrec.WorkerIdle)
	}
}

func (w *Worker) status(s imgrec.WorkerStatus) {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	w.writeStatus(s)
}

func (w *Worker) writeStatus(s imgrec.WorkerStatus) {
	if w.cfg.Status != nil {
		imgrec.WriteStatus(w.cfg.Status, s)
	}
}

// holdPixels waits until the image in data fits in the pixel budget and
// takes its share. An image whose header cannot be read costs nothing here:
// decoding will refuse it.
func (w *Worker) holdPixels(data []byte) int64 {
	if w.cfg.Size == nil {
		return 0
	}
	width, height, err := w.cfg.Size(data)
	if err != nil {
		return 0
	}
	n := min(int64(width)*int64(height), w.cfg.MaxPixelsInHand)
	w.pixelsMu.Lock()
	defer w.pixelsMu.Unlock()
	for w.pixelsFree < n {
		w.pixelsCond.Wait()
	}
	w.pixelsFree -= n
	return n
}

func (w *Worker) releasePixels(t *task) {
	if t.pixels == 0 {
		return
	}
	w.pixelsMu.Lock()
	w.pixelsFree += t.pixels
	t.pixels = 0
	w.pixelsMu.Unlock()
	w.pixelsCond.Broadcast()
}
