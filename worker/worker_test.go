package worker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
)

const shared = "../../shared"

// Waits in these tests. A request is never redelivered behind a test's back
// (noRedelivery is beyond any test's length), and a wait for something that
// must happen fails only after generous, which no slow or loaded machine
// reaches: how fast things happen is for benchmarks to measure.
const (
	noRedelivery = 10 * time.Minute
	generous     = time.Minute
)

var (
	modelOnce sync.Once
	model     *resnet.Model
	modelErr  error
)

type rig struct {
	q       *inmem.Queue // the client's handle; the worker has its own
	in, out imgrec.BlobStore
	inbox   imgrec.Inbox
	cfg     Config
}

// newRig wires a worker config to the in-memory queue and buckets. The
// worker and the test, its client, hold separate handles on the queue, as
// separate processes would.
func newRig(t *testing.T, visibility time.Duration) *rig {
	t.Helper()
	modelOnce.Do(func() { model, modelErr = resnet.Load(filepath.Join(shared, "models/resnet18-standin.pth")) })
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	q, err := inmem.NewQueue(inmem.Config{Visibility: visibility})
	if err != nil {
		t.Fatal(err)
	}
	workerQ := q.Connect()
	t.Cleanup(func() { workerQ.Close(); q.Close() })
	in, out := inmem.NewStore(), inmem.NewStore()
	inbox, err := q.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{q: q, in: in, out: out, inbox: inbox, cfg: Config{
		Queue: workerQ, Input: in, Output: out, ID: "w-test",
		Classifier: &resnet.Classifier{Model: model, Profile: vision.ProfileReference},
		Decode:     func(b []byte) (*imgrec.Image, error) { return vision.Decode(b, vision.Limits{}) },
	}}
}

func (r *rig) send(t *testing.T, id, key string, data []byte) {
	t.Helper()
	if data != nil {
		if err := r.in.Put(context.Background(), key, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.q.Send(context.Background(), imgrec.Request{ID: id, Key: key, ReplyTo: r.inbox.Address(), Sent: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) run(t *testing.T, cfg Config) (stop func()) {
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after drain: %v", err)
		}
	}
}

func (r *rig) reply(t *testing.T) imgrec.Response {
	t.Helper()
	select {
	case resp := <-r.inbox.Responses():
		return resp
	case <-time.After(generous):
		t.Fatalf("no reply within %v", generous)
	}
	return imgrec.Response{}
}

func course(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(shared, "data/imagenet-100", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStoresRepliesThenAcks(t *testing.T) {
	r := newRig(t, noRedelivery)
	status := &syncBuffer{b: &bytes.Buffer{}} // the worker writes while the test reads
	cfg := r.cfg
	cfg.Status = status
	defer r.run(t, cfg)()
	r.send(t, "id-1", "test_0.JPEG", course(t, "test_0.JPEG"))
	resp := r.reply(t)
	if resp.ID != "id-1" || resp.Key != "test_0" || resp.Label != "electric guitar" || len(resp.Top) != DefaultTopK || resp.Attempt != 1 || resp.Worker != "w-test" {
		t.Fatalf("response %+v", resp)
	}
	got, err := r.out.Get(context.Background(), "test_0")
	if err != nil || string(got) != "(test_0, electric guitar)" {
		t.Fatalf("output: %q %v", got, err)
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s == imgrec.QueueStats{} })
	// "idle" follows the ack, a moment after the queue has it.
	waitUntil(t, "status lines ready, busy, idle", func() bool { return status.String() == "ready\nbusy\nidle\n" })
}

// failingStore fails its first n Puts, then behaves as the store it wraps.
type failingStore struct {
	imgrec.BlobStore
	n atomic.Int32
}

func (f *failingStore) Put(ctx context.Context, key string, data []byte) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("disk on fire")
	}
	return f.BlobStore.Put(ctx, key, data)
}

func TestNoAckUntilStored(t *testing.T) {
	r := newRig(t, noRedelivery)
	out := &failingStore{BlobStore: r.out}
	out.n.Store(1)
	cfg := r.cfg
	cfg.Output = out
	defer r.run(t, cfg)()
	r.send(t, "id-2", "test_1.JPEG", course(t, "test_1.JPEG"))
	resp := r.reply(t)
	if resp.Attempt != 2 || resp.Label == "" {
		t.Fatalf("want the answer from the second attempt, got %+v", resp)
	}
	if _, err := r.out.Get(context.Background(), "test_1"); err != nil {
		t.Fatal(err)
	}
}

func TestPermanentFailuresAreDeadLettered(t *testing.T) {
	r := newRig(t, noRedelivery)
	defer r.run(t, r.cfg)()
	r.send(t, "bad", "junk.jpg", []byte("not an image"))
	r.send(t, "gone", "missing.jpg", nil)
	for range 2 {
		resp := r.reply(t)
		if resp.Error == "" || resp.Label != "" || resp.Attempt != 1 {
			t.Fatalf("want an error on the first attempt, got %+v", resp)
		}
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 && s.DeadLetters == 2 })
	dl, err := r.q.DeadLetters(context.Background(), 10)
	if err != nil || len(dl) != 2 || dl[0].Reason == "" {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
}

// TestGivesUpAfterMaxAttempts: a request whose earlier deliveries all ended
// unfinished (workers died) is dead-lettered on the next one, not retried
// forever.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	r := newRig(t, noRedelivery)
	r.send(t, "poison", "test_2.JPEG", course(t, "test_2.JPEG"))
	// Two deliveries handed back unfinished. A worker that died would leave
	// them to time out instead, which takes the visibility timeout; to the
	// next worker both look the same: a third attempt.
	for range 2 {
		d := receiveWithin(t, r.q)
		if err := d.Nack(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	cfg := r.cfg
	cfg.MaxAttempts = 2
	defer r.run(t, cfg)()
	resp := r.reply(t)
	if resp.Error == "" || resp.Attempt != 3 {
		t.Fatalf("want a give-up error on attempt 3, got %+v", resp)
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 && s.DeadLetters == 1 })
}

// heldClassifier holds every call until the test releases it, so work in
// hand lasts exactly as long as the test wants, whatever this machine's speed.
type heldClassifier struct {
	imgrec.Classifier
	entered chan struct{} // one value per call
	release chan struct{} // closed by releaseOnce
	once    sync.Once
	calls   atomic.Int32
}

func newHeld(c imgrec.Classifier) *heldClassifier {
	return &heldClassifier{Classifier: c, entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (h *heldClassifier) Classify(ctx context.Context, imgs []*imgrec.Image, k int) ([][]imgrec.Prediction, error) {
	h.calls.Add(1)
	h.entered <- struct{}{}
	<-h.release
	return h.Classifier.Classify(ctx, imgs, k)
}

// releaseOnce lets every call, held or to come, go on.
func (h *heldClassifier) releaseOnce() { h.once.Do(func() { close(h.release) }) }

// waitEntered waits for the worker to call the classifier.
func (h *heldClassifier) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(generous):
		t.Fatalf("the classifier was not called within %v", generous)
	}
}

// watchedQueue is the worker's queue handle, counting what the worker does
// with it: the deliveries it receives (by attempt) and its Extend calls.
type watchedQueue struct {
	imgrec.Queue
	mu       sync.Mutex
	attempts []int
	extends  atomic.Int32
}

func (q *watchedQueue) Receive(ctx context.Context) (imgrec.Delivery, error) {
	d, err := q.Queue.Receive(ctx)
	if err != nil {
		return d, err
	}
	q.mu.Lock()
	q.attempts = append(q.attempts, d.Attempt())
	q.mu.Unlock()
	return &watchedDelivery{Delivery: d, q: q}, nil
}

// received returns the attempt of every delivery received so far.
func (q *watchedQueue) received() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.attempts)
}

type watchedDelivery struct {
	imgrec.Delivery
	q *watchedQueue
}

func (d *watchedDelivery) Extend(ctx context.Context) error {
	d.q.extends.Add(1)
	return d.Delivery.Extend(ctx)
}

// TestExtendsVisibilityWhileWorking: work that outlasts the visibility
// timeout is never handed to anyone else, thanks to extension; the same work
// unextended is handed out again.
func TestExtendsVisibilityWhileWorking(t *testing.T) {
	const visibility = 3 * time.Second
	t.Run("extended", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, visibility)
		cfg := r.cfg
		// Extensions thirty times as often as needed: the worker may stall
		// for most of the visibility timeout before the request would be
		// handed out again.
		cfg.ExtendEvery = visibility / 30
		q := &watchedQueue{Queue: cfg.Queue}
		held := newHeld(cfg.Classifier)
		cfg.Queue, cfg.Classifier = q, held
		defer r.run(t, cfg)()
		defer held.releaseOnce() // before the drain, which waits for the held call
		r.send(t, "slow", "test_3.JPEG", course(t, "test_3.JPEG"))
		held.waitEntered(t)
		// Received before the classifier was called, the request is held
		// for well over its visibility timeout, and extended meanwhile.
		start := time.Now()
		waitUntil(t, "work held for 1.5 visibility timeouts and extended 3 times", func() bool {
			return time.Since(start) > visibility*3/2 && q.extends.Load() >= 3
		})
		if got := q.received(); !slices.Equal(got, []int{1}) {
			t.Fatalf("deliveries received while the work was in hand, by attempt: %v; want the first only", got)
		}
		held.releaseOnce()
		resp := r.reply(t)
		if resp.Attempt != 1 || resp.Label == "" {
			t.Fatalf("want one delivery, got %+v", resp)
		}
		waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 })
		if n := held.calls.Load(); n != 1 {
			t.Fatalf("classified %d times: the request was handed out again while in hand", n)
		}
		t.Logf("%d extensions", q.extends.Load())
	})
	// The control: the same work held, never extended, is handed out again,
	// so the check above would see a redelivery if extension did nothing.
	t.Run("not extended", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, visibility)
		cfg := r.cfg
		cfg.ExtendEvery = noRedelivery
		q := &watchedQueue{Queue: cfg.Queue}
		held := newHeld(cfg.Classifier)
		cfg.Queue, cfg.Classifier = q, held
		defer r.run(t, cfg)()
		defer held.releaseOnce()
		r.send(t, "slow", "test_3.JPEG", course(t, "test_3.JPEG"))
		held.waitEntered(t)
		waitUntil(t, "the unextended request handed out again", func() bool { return slices.Contains(q.received(), 2) })
		if n := q.extends.Load(); n != 0 {
			t.Fatalf("%d extensions, with ExtendEvery beyond the test", n)
		}
	})
}

func TestDrainFinishesWorkInHand(t *testing.T) {
	r := newRig(t, noRedelivery)
	status := &syncBuffer{b: &bytes.Buffer{}}
	cfg := r.cfg
	cfg.Status = status
	stop := r.run(t, cfg)
	r.send(t, "slow", "big.png", largePNG(t))
	// Wait until the worker holds it: a request still on its way to the
	// worker when the drain begins is rightly handed back to the queue.
	waitUntil(t, "the worker busy", func() bool { return strings.Contains(status.String(), "busy") })
	stop() // SIGTERM, then wait for Run to return
	if resp := r.reply(t); resp.Label == "" {
		t.Fatalf("drain abandoned the request: %+v", resp)
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 })
}

func waitStats(t *testing.T, q imgrec.Queue, cond func(imgrec.QueueStats) bool) {
	t.Helper()
	var s imgrec.QueueStats
	for deadline := time.Now().Add(generous); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if s, err = q.Stats(context.Background()); err == nil && cond(s) {
			return
		}
	}
	t.Fatalf("queue stats never met the condition within %v; last %+v", generous, s)
}

// waitUntil polls cond until it holds, failing t after generous.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(generous); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, generous)
		}
	}
}

// receiveWithin receives the next request on q, failing t after generous.
func receiveWithin(t *testing.T, q imgrec.Queue) imgrec.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	d, err := q.Receive(ctx)
	if err != nil {
		t.Fatalf("no request within %v: %v", generous, err)
	}
	return d
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
