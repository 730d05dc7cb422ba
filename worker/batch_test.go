package worker

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/vision"
)

// gatedClassifier records the size of every batch and holds its first call
// until open is closed, so the test decides what is in hand when batching
// starts.
type gatedClassifier struct {
	imgrec.Classifier
	open    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	batches []int
	entered chan struct{}
}

func newGated(c imgrec.Classifier) *gatedClassifier {
	return &gatedClassifier{Classifier: c, open: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (g *gatedClassifier) Classify(ctx context.Context, imgs []*imgrec.Image, k int) ([][]imgrec.Prediction, error) {
	g.mu.Lock()
	g.batches = append(g.batches, len(imgs))
	first := len(g.batches) == 1
	g.mu.Unlock()
	if first {
		g.entered <- struct{}{}
		<-g.open
	}
	return g.Classifier.Classify(ctx, imgs, k)
}

// countDecodes wraps cfg.Decode to count the images decoded, which are
// then ready to batch.
func countDecodes(cfg *Config) *atomic.Int32 {
	var n atomic.Int32
	decode := cfg.Decode
	cfg.Decode = func(b []byte) (*imgrec.Image, error) {
		defer n.Add(1)
		return decode(b)
	}
	return &n
}

// release lets the held call go on; safe to call more than once.
func (g *gatedClassifier) release() { g.once.Do(func() { close(g.open) }) }

func (g *gatedClassifier) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.batches)
}

func expectedLabels(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join(shared, "models/resnet18-standin-expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range rows {
		m[r[0]] = r[1]
	}
	return m
}

// TestBatchesWhatIsInHand: while the classifier is busy, the worker takes
// requests up to Concurrency and no more, then classifies them in batches
// of at most MaxBatch, and every answer is the image's own.
func TestBatchesWhatIsInHand(t *testing.T) {
	r := newRig(t, noRedelivery)
	gate := newGated(r.cfg.Classifier)
	cfg := r.cfg
	cfg.Classifier, cfg.MaxBatch, cfg.Concurrency = gate, 4, 8
	decoded := countDecodes(&cfg)
	const n = 14
	for i := range n {
		name := fmt.Sprintf("test_%d.JPEG", i)
		r.send(t, fmt.Sprint("id-", i), name, course(t, name))
	}
	defer r.run(t, cfg)()
	defer gate.release() // before the drain, which waits for the held call
	<-gate.entered
	// The first batch is held: the worker fills its hand and stops there.
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Waiting == n-cfg.Concurrency })
	if s, _ := r.q.Stats(context.Background()); s.InFlight != cfg.Concurrency {
		t.Fatalf("in hand %d, want Concurrency = %d", s.InFlight, cfg.Concurrency)
	}
	// Every image in hand is ready before the first batch is let go, so
	// what follows is batched however slowly this machine decodes.
	waitUntil(t, "every image in hand decoded", func() bool { return decoded.Load() == int32(cfg.Concurrency) })
	gate.release()
	want := expectedLabels(t)
	for range n {
		resp := r.reply(t)
		if resp.Label != want[resp.Key+".JPEG"] || resp.ID != "id-"+resp.Key[len("test_"):] {
			t.Errorf("%s (%s): label %q, want %q", resp.Key, resp.ID, resp.Label, want[resp.Key+".JPEG"])
		}
	}
	sizes := gate.sizes()
	total := 0
	for _, s := range sizes {
		total += s
		if s > cfg.MaxBatch {
			t.Errorf("batch of %d, above MaxBatch %d", s, cfg.MaxBatch)
		}
	}
	if total != n || slices.Max(sizes) < 2 {
		t.Fatalf("batches %v: want %d images in all, some batched together", sizes, n)
	}
}

// TestInvalidImageDoesNotFailItsBatch: an image the classifier refuses
// (too small) is dead-lettered alone; the rest of its batch is answered.
func TestInvalidImageDoesNotFailItsBatch(t *testing.T) {
	r := newRig(t, noRedelivery)
	gate := newGated(r.cfg.Classifier)
	cfg := r.cfg
	cfg.Classifier, cfg.MaxBatch, cfg.Concurrency = gate, 4, 5
	decoded := countDecodes(&cfg)
	var tiny bytes.Buffer
	png.Encode(&tiny, image.NewGray(image.Rect(0, 0, 8, 8)))
	r.send(t, "warm-up", "test_9.JPEG", course(t, "test_9.JPEG")) // held in the first call
	defer r.run(t, cfg)()
	defer gate.release() // before the drain, which waits for the held call
	<-gate.entered
	r.send(t, "tiny", "tiny.png", tiny.Bytes())
	for i := range 3 {
		name := fmt.Sprintf("test_%d.JPEG", i)
		r.send(t, fmt.Sprint("id-", i), name, course(t, name))
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Waiting == 0 && s.InFlight == 5 })
	waitUntil(t, "every image in hand decoded", func() bool { return decoded.Load() == 5 })
	gate.release()
	answers := map[string]imgrec.Response{}
	for range 5 {
		resp := r.reply(t)
		answers[resp.ID] = resp
	}
	if a := answers["tiny"]; a.Error == "" || a.Label != "" {
		t.Errorf("tiny image: %+v, want an error", a)
	}
	for _, id := range []string{"warm-up", "id-0", "id-1", "id-2"} {
		if a := answers[id]; a.Label == "" || a.Error != "" {
			t.Errorf("%s: %+v, want a label", id, a)
		}
	}
	if sizes := gate.sizes(); slices.Max(sizes) < 2 {
		t.Errorf("batches %v: the tiny image was never batched with others", sizes)
	}
	waitStats(t, r.q, func(s imgrec.QueueStats) bool { return s.Depth() == 0 && s.DeadLetters == 1 })
}

// TestPixelBudget: decoded images wait within MaxPixelsInHand, so batches
// stay within it whatever MaxBatch and Concurrency allow; an image larger
// than the whole budget still goes, alone.
func TestPixelBudget(t *testing.T) {
	r := newRig(t, noRedelivery)
	gate := newGated(r.cfg.Classifier)
	cfg := r.cfg
	cfg.Classifier, cfg.MaxBatch, cfg.Concurrency = gate, 8, 8
	cfg.Size = func(b []byte) (int, int, error) {
		_, w, h, err := vision.Config(b)
		return w, h, err
	}
	cfg.MaxPixelsInHand = 2 * 64 * 64 // two course images
	r.send(t, "big", "big.png", largePNG(t))
	for i := range 6 {
		name := fmt.Sprintf("test_%d.JPEG", i)
		r.send(t, fmt.Sprint("id-", i), name, course(t, name))
	}
	defer r.run(t, cfg)()
	defer gate.release()
	<-gate.entered
	gate.release()
	for range 7 {
		if resp := r.reply(t); resp.Label == "" {
			t.Fatalf("%s: %+v", resp.ID, resp)
		}
	}
	for _, n := range gate.sizes() {
		if n > 2 {
			t.Fatalf("batches %v: more than the two images the budget holds", gate.sizes())
		}
	}
}
