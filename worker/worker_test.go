package worker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
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
	case <-time.After(time.Minute):
		t.Fatal("no reply within a minute")
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
	r := newRig(t, 5*time.Second)
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
	for deadline := time.Now().Add(10 * time.Second); status.String() != "ready\nbusy\nidle\n"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("status lines %q", status.String())
		}
	}
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
	r := newRig(t, 5*time.Second)
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
	r := newRig(t, 5*time.Second)
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

// TestGivesUpAfterMaxAttempts: a request whose earlier deliveries all timed
// out (workers died) is dead-lettered on the next one, not retried forever.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	r := newRig(t, 300*time.Millisecond)
	r.send(t, "poison", "test_2.JPEG", course(t, "test_2.JPEG"))
	for range 2 { // two deliveries that are never settled, as if the worker died
		d, err := r.q.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = d
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

// slowClassifier takes at least delay per call, like a large image on a
// slow machine, whatever this machine's speed.
type slowClassifier struct {
	imgrec.Classifier
	delay time.Duration
	calls atomic.Int32
}

func (s *slowClassifier) Classify(ctx context.Context, imgs []*imgrec.Image, k int) ([][]imgrec.Prediction, error) {
	s.calls.Add(1)
	time.Sleep(s.delay)
	return s.Classifier.Classify(ctx, imgs, k)
}

// TestExtendsVisibilityWhileWorking: work three times longer than the
// visibility timeout is never handed to anyone else, thanks to extension.
func TestExtendsVisibilityWhileWorking(t *testing.T) {
	r := newRig(t, 500*time.Millisecond)
	cfg := r.cfg
	cfg.ExtendEvery = 100 * time.Millisecond
	slow := &slowClassifier{Classifier: cfg.Classifier, delay: 1500 * time.Millisecond}
	cfg.Classifier = slow
	defer r.run(t, cfg)()
	r.send(t, "slow", "test_3.JPEG", course(t, "test_3.JPEG"))
	resp := r.reply(t)
	if resp.Attempt != 1 || resp.Label == "" {
		t.Fatalf("want one delivery, got %+v", resp)
	}
	if resp.Inference < 1.5 {
		t.Fatalf("inference took %.2fs; the test needs work longer than the 0.5s visibility", resp.Inference)
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 })
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("classified %d times: the request was handed out again while in hand", n)
	}
}

func TestDrainFinishesWorkInHand(t *testing.T) {
	r := newRig(t, 5*time.Second)
	status := &syncBuffer{b: &bytes.Buffer{}}
	cfg := r.cfg
	cfg.Status = status
	stop := r.run(t, cfg)
	r.send(t, "slow", "big.png", largePNG(t))
	// Wait until the worker holds it: a request still on its way to the
	// worker when the drain begins is rightly handed back to the queue.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(status.String(), "busy"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("worker never became busy")
		}
	}
	stop() // SIGTERM, then wait for Run to return
	if resp := r.reply(t); resp.Label == "" {
		t.Fatalf("drain abandoned the request: %+v", resp)
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 })
}

func waitStats(t *testing.T, q imgrec.Queue, cond func(imgrec.QueueStats) bool) {
	t.Helper()
	var s imgrec.QueueStats
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if s, err = q.Stats(context.Background()); err == nil && cond(s) {
			return
		}
	}
	t.Fatalf("queue stats never met the condition; last %+v", s)
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
