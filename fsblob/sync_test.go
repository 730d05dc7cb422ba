package fsblob

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
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

// TestPutOfStoredBytes: a Put of the bytes an object already holds leaves
// the file alone, and flushes only if no flush of this process has covered
// the object since it last changed (another process wrote it).
func TestPutOfStoredBytes(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	flushes := 0
	s.sync.flush = func(files []*os.File, dir *os.File) error { flushes++; return flush(files, dir) }
	s.sync.slack = 0
	ctx := t.Context()

	// Written by "another process": never flushed by this one.
	path := filepath.Join(dir, "k")
	if err := os.WriteFile(path, []byte("(k, bathtub)"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the kernel's coarse clock tick
	for range 3 {
		if err := s.Put(ctx, "k", []byte("(k, bathtub)")); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("a Put of the stored bytes replaced the file")
	}
	want := 1 // the first Put must make the other process's file durable
	if !flushCoversAll {
		want = 3
	}
	if flushes != want {
		t.Errorf("%d flushes for three Puts of stored bytes, want %d", flushes, want)
	}

	// Different bytes, even of the same length, are written.
	if err := s.Put(ctx, "k", []byte("(k, bathtum)")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "(k, bathtum)" {
		t.Fatalf("after a Put of other bytes: %q, %v", got, err)
	}
	if flushes != want+1 {
		t.Errorf("a Put of new bytes flushed %d times, want 1", flushes-want)
	}
}
