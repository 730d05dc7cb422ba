package fsblob

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// heldFlush holds the first flush until release, counting flushes and the
// files each one covered.
type heldFlush struct {
	entered, release chan struct{}
	mu               sync.Mutex
	sizes            []int
	fail             error
}

func (h *heldFlush) flush(files []*os.File, dir *os.File) error {
	h.mu.Lock()
	h.sizes = append(h.sizes, len(files))
	first := len(h.sizes) == 1
	h.mu.Unlock()
	if first {
		close(h.entered)
		<-h.release
	}
	if h.fail != nil {
		return h.fail
	}
	return flush(files, dir)
}

func newHeld(t *testing.T, fail error) (*groupCommit, *heldFlush, func() *os.File) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	h := &heldFlush{entered: make(chan struct{}), release: make(chan struct{}), fail: fail}
	g := newGroupCommit(d)
	g.flush = h.flush
	n := 0
	file := func() *os.File {
		n++
		f, err := os.Create(filepath.Join(dir, "f"+string(rune('a'+n))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	return g, h, file
}

// TestGroupCommitSharesFlushes: writers that arrive while a flush runs are
// all covered by the next single flush, and none returns before it.
func TestGroupCommitSharesFlushes(t *testing.T) {
	g, h, file := newHeld(t, nil)
	first := make(chan error)
	go func() { first <- g.commit(file()) }()
	<-h.entered
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		f := file()
		wg.Go(func() { errs <- g.commit(f) })
	}
	// Wait until all n are queued behind the held flush.
	for {
		g.mu.Lock()
		queued := len(g.pending)
		g.mu.Unlock()
		if queued == n {
			break
		}
		runtime.Gosched()
	}
	select {
	case err := <-errs:
		t.Fatalf("a commit returned (%v) before any flush covered it", err)
	default:
	}
	close(h.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(h.sizes) != 2 || h.sizes[0] != 1 || h.sizes[1] != n {
		t.Fatalf("flushes covered %v files, want [1 %d]", h.sizes, n)
	}
}

// TestGroupCommitReportsFailure: every writer a failed flush covered hears
// of it.
func TestGroupCommitReportsFailure(t *testing.T) {
	disk := errors.New("disk on fire")
	g, h, file := newHeld(t, disk)
	first := make(chan error)
	go func() { first <- g.commit(file()) }()
	<-h.entered
	second := make(chan error)
	go func() { second <- g.commit(file()) }()
	for {
		g.mu.Lock()
		queued := len(g.pending)
		g.mu.Unlock()
		if queued == 1 {
			break
		}
		runtime.Gosched()
	}
	close(h.release)
	if err := <-first; !errors.Is(err, disk) {
		t.Fatalf("first: %v, want %v", err, disk)
	}
	if err := <-second; !errors.Is(err, disk) {
		t.Fatalf("second: %v, want %v", err, disk)
	}
}
