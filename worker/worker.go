// Package worker is the app tier's loop: pull a request, fetch the image,
// classify it, store the result, reply, and only then acknowledge.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// Defaults for Config's zero values.
const (
	DefaultMaxAttempts = 3
	DefaultExtendEvery = 20 * time.Second
	DefaultTopK        = 5
	// DefaultConcurrency overlaps one request's storage and acknowledgement
	// waits (fsync, a server round trip) with another's inference.
	DefaultConcurrency = 2
)

// Config wires a worker to its queue, buckets and classifier.
type Config struct {
	Queue      imgrec.Queue
	Input      imgrec.BlobStore
	Output     imgrec.BlobStore
	Classifier imgrec.Classifier
	Decode     func([]byte) (*imgrec.Image, error)

	ID          string        // instance id, reported in responses
	MaxAttempts int           // deliveries before a request is dead-lettered
	ExtendEvery time.Duration // how often to extend the visibility timeout while working; below the timeout
	TopK        int           // predictions carried in the response
	Concurrency int           // requests in hand at once
	// Status receives "ready", "busy" and "idle" lines, so a provider can
	// tell which instances may be scaled in (see package local).
	Status io.Writer
	Logger *slog.Logger
}

// Worker processes a few requests at a time; the classifier itself uses
// every core, so more would only queue for the CPU.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	statusMu sync.Mutex
	busy     int // requests in hand, for the status line
}

// New checks the configuration and fills in defaults.
func New(cfg Config) (*Worker, error) {
	if cfg.Queue == nil || cfg.Input == nil || cfg.Output == nil || cfg.Classifier == nil || cfg.Decode == nil {
		return nil, errors.New("worker: queue, buckets, classifier and decoder are required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ExtendEvery <= 0 {
		cfg.ExtendEvery = DefaultExtendEvery
	}
	if cfg.TopK <= 0 {
		cfg.TopK = DefaultTopK
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: log.With("instance", cfg.ID)}, nil
}

// Run pulls and processes requests until ctx is cancelled, then returns nil
// once the requests in hand are finished: cancelling ctx is a drain, never an
// interruption.
func (w *Worker) Run(ctx context.Context) error {
	w.status("ready")
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	w.log.Info("drained")
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		d, err := w.cfg.Queue.Receive(ctx)
		if err != nil {
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
		// A request received is work in hand, even if the drain began a
		// moment ago: finish it rather than hand it back.
		w.setBusy(+1)
		w.Process(context.WithoutCancel(ctx), d)
		w.setBusy(-1)
	}
}

// OutputKey is the course's output bucket key: the input key without its
// extension ("test_0.JPEG" → "test_0").
func OutputKey(inputKey string) string {
	return strings.TrimSuffix(inputKey, path.Ext(inputKey))
}

// OutputValue is the course's output bucket value: "(test_0, bathtub)".
func OutputValue(outputKey, label string) string {
	return "(" + outputKey + ", " + label + ")"
}

// permanent marks failures that no retry can fix (a corrupt image).
type permanent struct{ error }

// Process handles one delivery to the end: acked after the result is stored,
// nacked on a transient failure, dead-lettered when the request cannot succeed.
func (w *Worker) Process(ctx context.Context, d imgrec.Delivery) {
	req := d.Request()
	log := w.log.With("id", req.ID, "key", req.Key, "attempt", d.Attempt())
	if d.Attempt() > w.cfg.MaxAttempts {
		w.giveUp(ctx, d, log, fmt.Sprintf("gave up after %d attempts: each worker died or timed out before finishing", w.cfg.MaxAttempts))
		return
	}
	stop := w.keepInvisible(ctx, d, log)
	start := time.Now()
	resp, err := w.classify(ctx, req)
	resp.Attempt = d.Attempt()
	stop()
	var perm permanent
	switch {
	case errors.As(err, &perm):
		w.giveUp(ctx, d, log, perm.Error())
		return
	case err != nil:
		log.Warn("transient failure; will retry", "err", err)
		if err := d.Nack(ctx, time.Duration(d.Attempt())*time.Second); err != nil {
			log.Warn("nack failed; the request comes back after the visibility timeout", "err", err)
		}
		return
	}
	if req.ReplyTo != "" {
		if err := w.cfg.Queue.Reply(ctx, req.ReplyTo, resp); err != nil {
			log.Warn("reply failed; the result is in the output bucket", "err", err)
		}
	}
	if err := d.Ack(ctx); err != nil {
		// The request will be redelivered and recomputed; the stored result is idempotent.
		log.Warn("ack failed", "err", err)
		return
	}
	log.Info("done", "label", resp.Label, "seconds", time.Since(start).Seconds())
}

func (w *Worker) classify(ctx context.Context, req imgrec.Request) (imgrec.Response, error) {
	data, err := w.cfg.Input.Get(ctx, req.Key)
	if imgrec.ErrorCode(err) == imgrec.ENOTFOUND {
		return imgrec.Response{}, permanent{fmt.Errorf("input image %q is not in the input bucket", req.Key)}
	} else if err != nil {
		return imgrec.Response{}, err
	}
	img, err := w.cfg.Decode(data)
	if err != nil {
		return imgrec.Response{}, permanent{err}
	}
	t0 := time.Now()
	preds, err := w.cfg.Classifier.Classify(ctx, []*imgrec.Image{img}, w.cfg.TopK)
	if imgrec.ErrorCode(err) == imgrec.EINVALID {
		return imgrec.Response{}, permanent{err}
	} else if err != nil {
		return imgrec.Response{}, err
	}
	inference := time.Since(t0).Seconds()
	key := OutputKey(req.Key)
	label := preds[0][0].Label
	if err := w.cfg.Output.Put(ctx, key, []byte(OutputValue(key, label))); err != nil {
		return imgrec.Response{}, fmt.Errorf("store result %s: %w", key, err)
	}
	return imgrec.Response{ID: req.ID, Key: key, Label: label, Top: preds[0], Worker: w.cfg.ID, Inference: inference}, nil
}

// giveUp dead-letters the request and tells the waiting client why, so it
// gets an answer now rather than a timeout.
func (w *Worker) giveUp(ctx context.Context, d imgrec.Delivery, log *slog.Logger, reason string) {
	req := d.Request()
	log.Warn("dead-lettering", "reason", reason)
	if err := d.DeadLetter(ctx, reason); err != nil {
		log.Error("dead-letter failed; the request will come back", "err", err)
		return
	}
	if req.ReplyTo != "" {
		resp := imgrec.Response{ID: req.ID, Key: OutputKey(req.Key), Error: reason, Worker: w.cfg.ID, Attempt: d.Attempt()}
		if err := w.cfg.Queue.Reply(ctx, req.ReplyTo, resp); err != nil {
			log.Warn("reply failed", "err", err)
		}
	}
}

// keepInvisible extends the visibility timeout until the returned stop is called.
func (w *Worker) keepInvisible(ctx context.Context, d imgrec.Delivery, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.cfg.ExtendEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := d.Extend(ctx); err != nil {
					log.Warn("extend failed", "err", err)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// setBusy counts requests in hand and reports the edges: "busy" when the
// first arrives, "idle" when the last is done.
func (w *Worker) setBusy(delta int) {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	before := w.busy
	w.busy += delta
	switch {
	case before == 0 && w.busy > 0:
		w.writeStatus("busy")
	case before > 0 && w.busy == 0:
		w.writeStatus("idle")
	}
}

func (w *Worker) status(word string) {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	w.writeStatus(word)
}

func (w *Worker) writeStatus(word string) {
	if w.cfg.Status != nil {
		io.WriteString(w.cfg.Status, word+"\n")
	}
}
