package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// QueueOptions adapts the Queue suite to a backend.
type QueueOptions struct {
	// Visibility is the visibility timeout of the subtests that wait for it
	// to pass (default 1s; whole seconds suit SQS): Redelivery and
	// DeadLetter have it, Extend three times it. The other subtests give
	// their queues StableVisibility, so no delay on a slow machine can
	// make them see a request come back. open must give each queue the
	// Visibility of the options it is called with.
	Visibility time.Duration
	// StatsLag is how long Stats may trail the operations it counts; the
	// suite polls that long before failing (default 0: exact at once).
	StatsLag time.Duration
}

// StableVisibility is the visibility timeout of the subtests that do not
// wait for it: beyond any test, so a request comes back only when a test
// hands it back.
const StableVisibility = 10 * time.Minute

// Generous bounds the suite's waits for what must happen (a request to
// arrive, Receive to return after its ctx ended): long enough that only a
// hang, never a slow or loaded machine, reaches it. The suite asserts no
// speed; how fast a backend does these things is for benchmarks to measure.
// What must not happen (a request coming back too soon) is watched for a
// fixed time: a slow machine can only make such a check pass, never fail.
const Generous = time.Minute

// Queue runs the imgrec.Queue suite; its subtests run in parallel. For each,
// open sets up a new, empty queue with opt.Visibility and returns connect,
// which returns a new handle to that queue on each call, as separate
// processes (web tier, workers) would open it. The suite closes every handle,
// in reverse order of connecting.
//
// Besides the work-queue semantics, the suite expects: EINVALID for a
// request without an ID, for DeadLetters(0) and for Reply to ""; ETOOLARGE
// for a 4 MiB request; no error for a Reply nobody listens to; Receive to
// return ctx.Err() once its ctx ends. Order is not checked.
// Waiting and InFlight are checked only where every backend agrees (a
// request awaiting redelivery may count as either); Depth everywhere.
func Queue(t *testing.T, opt QueueOptions, open func(t *testing.T, opt QueueOptions) (connect func(t *testing.T) imgrec.Queue)) {
	if opt.Visibility <= 0 {
		opt.Visibility = time.Second
	}
	tests := []struct {
		name string
		run  func(s *queueSuite)
		// visibility in opt.Visibility; 0 for StableVisibility
		visibility float64
	}{
		{"RoundTrip", queueRoundTrip, 0},
		{"Invalid", queueInvalid, 0},
		{"ExactlyOneReceiver", queueExactlyOne, 0},
		{"Redelivery", queueRedelivery, 1},
		{"Extend", queueExtend, 3},
		{"Nack", queueNack, 0},
		{"DeadLetter", queueDeadLetter, 1},
		{"Stats", queueStats, 0},
		{"Purge", queuePurge, 0},
		{"Reply", queueReply, 0},
		{"Cancel", queueCancel, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := opt
			o.Visibility = StableVisibility
			if tc.visibility > 0 {
				o.Visibility = time.Duration(tc.visibility * float64(opt.Visibility))
			}
			tc.run(&queueSuite{t: t, opt: o, connect: open(t, o)})
		})
	}
}

// queueSuite is one subtest's queue; opt.Visibility is its queue's.
type queueSuite struct {
	t       *testing.T
	opt     QueueOptions
	connect func(t *testing.T) imgrec.Queue
}

// handle connects a new handle that the suite closes at the end.
func (s *queueSuite) handle() imgrec.Queue {
	s.t.Helper()
	q := s.connect(s.t)
	s.t.Cleanup(func() {
		if err := q.Close(); err != nil {
			s.t.Errorf("Close: %v", err)
		}
	})
	return q
}

// v scales the visibility timeout.
func (s *queueSuite) v(n float64) time.Duration {
	return time.Duration(n * float64(s.opt.Visibility))
}

// nothingFor is how long the subtests with StableVisibility watch for what
// must not arrive: enough for a backend to deliver what it wrongly holds.
const nothingFor = 1500 * time.Millisecond

func queueRoundTrip(s *queueSuite) {
	t, q := s.t, s.handle()
	sent := imgrec.Request{
		ID:      "id-ü 1",
		Key:     "test_0 ünïcode/√.JPEG",
		ReplyTo: "some reply address",
		Sent:    time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("X", 5*3600+1800)),
	}
	mustSend(t, q, sent)
	waitStats(s, q, "after one Send", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{Waiting: 1} })

	d := ReceiveWithin(t, q, Generous, "Receive")
	wantRequest(t, d, sent, 1)
	waitStats(s, q, "after Receive", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{InFlight: 1} })
	if err := d.Ack(t.Context()); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	waitStats(s, q, "after Ack", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
	receiveNone(t, q, nothingFor, "Receive after Ack") // for good even after the visibility timeout: see Redelivery
}

func queueInvalid(s *queueSuite) {
	t, q := s.t, s.handle()
	ctx := t.Context()
	wantCode(t, q.Send(ctx, imgrec.Request{Key: "k", Sent: time.Now()}), imgrec.EINVALID, "Send without an ID")
	wantCode(t, q.Send(ctx, imgrec.Request{ID: "big", Key: strings.Repeat("k", 4<<20), Sent: time.Now()}), imgrec.ETOOLARGE, "Send of a 4 MiB request")
	_, err := q.DeadLetters(ctx, 0)
	wantCode(t, err, imgrec.EINVALID, "DeadLetters(0)")
	wantCode(t, q.Reply(ctx, "", imgrec.Response{ID: "r"}), imgrec.EINVALID, `Reply to ""`)
	waitStats(s, q, "after refused Sends", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
}

// queueExactlyOne sends from two handles while four others receive: every
// request must reach exactly one receiver, and none come back once acked.
func queueExactlyOne(s *queueSuite) {
	const n, receivers = 200, 4
	t := s.t
	senders := []imgrec.Queue{s.handle(), s.handle()}
	ctx, cancel := context.WithTimeout(t.Context(), Generous)
	defer cancel()

	var mu sync.Mutex
	got := make(map[string]int)
	var wg sync.WaitGroup
	errs := make(chan error, receivers)
	for range receivers {
		q := s.handle()
		wg.Go(func() {
			for {
				d, err := q.Receive(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("Receive: %w", err)
					return
				}
				if err := d.Ack(ctx); err != nil {
					errs <- fmt.Errorf("Ack %s: %w", d.Request().ID, err)
					return
				}
				mu.Lock()
				got[d.Request().ID]++
				if len(got) == n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	parallel(t, 4, n, func(i int) error {
		return senders[i%2].Send(t.Context(), newRequest(i))
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if len(got) != n {
		t.Fatalf("received %d distinct requests of %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("request %s received %d times", id, k)
		}
	}
	receiveNone(t, senders[0], nothingFor, "Receive after all were acked")
	waitStats(s, senders[0], "after all were acked", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
}

func queueRedelivery(s *queueSuite) {
	t, q, other := s.t, s.handle(), s.handle()
	sent := newRequest(1)
	mustSend(t, q, sent)
	start := time.Now() // no later than the delivery
	first := ReceiveWithin(t, q, Generous, "Receive")
	wantRequest(t, first, sent, 1)

	// Unsettled, it comes back (to any handle) after the visibility timeout.
	again := ReceiveWithin(t, other, Generous, "Receive after the visibility timeout")
	if waited := time.Since(start); waited < s.v(0.8) {
		t.Errorf("redelivered after %v, before the visibility timeout of %v", waited, s.opt.Visibility)
	}
	wantRequest(t, again, sent, 2)
	// In flight, or waiting again if this machine was slower than the
	// visibility timeout: either way one request.
	waitStats(s, q, "while redelivered", func(st imgrec.QueueStats) bool { return st.Depth() == 1 && st.DeadLetters == 0 })
	if err := again.Ack(t.Context()); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	waitStats(s, q, "after Ack", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
	// Acked, it is gone for good: it never comes back after the timeout.
	receiveNone(t, other, s.v(1.5), "Receive after Ack, past the visibility timeout")
}

// queueExtend holds a request, extending it, for 1.5 visibility timeouts
// while another handle waits for it. It extends 30 times per timeout, so a
// stall of most of a timeout on a slow machine still leaves it extended.
func queueExtend(s *queueSuite) {
	t, q, other := s.t, s.handle(), s.handle()
	sent := newRequest(1)
	mustSend(t, q, sent)
	d := ReceiveWithin(t, q, Generous, "Receive")

	stop := make(chan struct{})
	extended := make(chan error, 1)
	var extensions int
	go func() {
		tick := time.NewTicker(s.v(1.0 / 30))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				extended <- nil
				return
			case <-tick.C:
				if err := d.Extend(t.Context()); err != nil {
					extended <- fmt.Errorf("Extend: %w", err)
					return
				}
				extensions++
			}
		}
	}()
	receiveNone(t, other, s.v(1.5), "Receive while extended")
	waitStats(s, q, "while extended", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{InFlight: 1} })
	close(stop)
	if err := <-extended; err != nil {
		t.Fatal(err)
	}
	if extensions == 0 {
		t.Fatalf("no Extend in %v", s.v(1.5))
	}
	if err := d.Ack(t.Context()); err != nil {
		t.Fatalf("Ack after extending: %v", err)
	}
	waitStats(s, q, "after Ack", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
}

// queueNack runs with a visibility timeout beyond the test, so a request
// that comes back was handed back by Nack, not by the timeout.
func queueNack(s *queueSuite) {
	t, q := s.t, s.handle()
	sent := newRequest(1)
	mustSend(t, q, sent)
	d := ReceiveWithin(t, q, Generous, "Receive")

	// Nack(0) hands it back at once, long before the visibility timeout.
	start := time.Now()
	if err := d.Nack(t.Context(), 0); err != nil {
		t.Fatalf("Nack(0): %v", err)
	}
	waitStats(s, q, "after Nack", func(st imgrec.QueueStats) bool { return st.Depth() == 1 && st.DeadLetters == 0 })
	d = ReceiveWithin(t, q, Generous, "Receive after Nack(0)")
	wantRequest(t, d, sent, 2)
	t.Logf("redelivered %v after Nack(0)", time.Since(start))

	// Nack(delay) keeps it away for about delay.
	const delay = 2 * time.Second
	start = time.Now()
	if err := d.Nack(t.Context(), delay); err != nil {
		t.Fatalf("Nack(%v): %v", delay, err)
	}
	receiveNone(t, q, delay/2, fmt.Sprintf("Receive within half of Nack(%v)", delay))
	d = ReceiveWithin(t, q, Generous, fmt.Sprintf("Receive after Nack(%v)", delay))
	t.Logf("redelivered %v after Nack(%v)", time.Since(start), delay)
	wantRequest(t, d, sent, 3)
	if err := d.Ack(t.Context()); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	waitStats(s, q, "after Ack", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
}

func queueDeadLetter(s *queueSuite) {
	t, q, other := s.t, s.handle(), s.handle()
	ctx := t.Context()
	a, b, c := newRequest(1), newRequest(2), newRequest(3)

	// a is dead-lettered on its second attempt, then b on its first.
	start := time.Now()
	mustSend(t, q, a)
	d := ReceiveWithin(t, q, Generous, "Receive a")
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	d = ReceiveWithin(t, q, Generous, "Receive a again")
	wantRequest(t, d, a, 2)
	if err := d.DeadLetter(ctx, "reason a: ünïcode"); err != nil {
		t.Fatalf("DeadLetter a: %v", err)
	}
	mustSend(t, q, b)
	d = ReceiveWithin(t, q, Generous, "Receive b")
	wantRequest(t, d, b, 1)
	if err := d.DeadLetter(ctx, "reason b"); err != nil {
		t.Fatalf("DeadLetter b: %v", err)
	}
	mustSend(t, q, c)
	waitStats(s, q, "after two DeadLetters", func(st imgrec.QueueStats) bool {
		return st == imgrec.QueueStats{Waiting: 1, DeadLetters: 2}
	})

	letters, err := other.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(letters) != 2 {
		t.Fatalf("DeadLetters: got %d letters, want 2: %+v", len(letters), letters)
	}
	for i, want := range []struct {
		req      imgrec.Request
		reason   string
		attempts int
	}{{a, "reason a: ünïcode", 2}, {b, "reason b", 1}} {
		got := letters[i]
		if !sameRequest(got.Request, want.req) || got.Reason != want.reason || got.Attempts != want.attempts {
			t.Errorf("dead letter %d: got %+v, want request %+v, reason %q, %d attempts", i, got, want.req, want.reason, want.attempts)
		}
		if got.At.Before(start.Add(-time.Minute)) || got.At.After(time.Now().Add(time.Minute)) {
			t.Errorf("dead letter %d: At %v, not around now", i, got.At)
		}
	}
	if letters, err := q.DeadLetters(ctx, 1); err != nil || len(letters) != 1 || letters[0].Request.ID != a.ID {
		t.Errorf("DeadLetters(1): got %+v, %v; want the oldest, %s", letters, err, a.ID)
	}

	// Only c is left to receive, even after the visibility timeout.
	d = ReceiveWithin(t, other, Generous, "Receive c")
	wantRequest(t, d, c, 1)
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack c: %v", err)
	}
	receiveNone(t, other, s.v(1.5), "Receive after dead-lettering")
	waitStats(s, q, "at the end", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{DeadLetters: 2} })
}

// queueStats follows the counts through each kind of settlement.
func queueStats(s *queueSuite) {
	t, q, worker := s.t, s.handle(), s.handle()
	ctx := t.Context()
	for i := range 4 {
		mustSend(t, q, newRequest(i))
	}
	waitStats(s, q, "after 4 Sends", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{Waiting: 4} })
	var ds []imgrec.Delivery
	for range 3 {
		ds = append(ds, ReceiveWithin(t, worker, Generous, "Receive"))
	}
	waitStats(s, q, "after 3 Receives", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{Waiting: 1, InFlight: 3} })
	if err := ds[0].Nack(ctx, StableVisibility); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	waitStats(s, q, "after a Nack", func(st imgrec.QueueStats) bool { return st.Depth() == 4 && st.DeadLetters == 0 })
	if err := ds[1].Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	waitStats(s, q, "after an Ack", func(st imgrec.QueueStats) bool { return st.Depth() == 3 && st.DeadLetters == 0 })
	if err := ds[2].DeadLetter(ctx, "stats"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	waitStats(s, q, "after a DeadLetter", func(st imgrec.QueueStats) bool { return st.Depth() == 2 && st.DeadLetters == 1 })
	d := ReceiveWithin(t, worker, Generous, "Receive the last waiting")
	waitStats(s, q, "with none waiting", func(st imgrec.QueueStats) bool {
		return st.Depth() == 2 && st.InFlight >= 1 && st.DeadLetters == 1
	})
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	waitStats(s, q, "with only the nacked one left", func(st imgrec.QueueStats) bool { return st.Depth() == 1 && st.DeadLetters == 1 })
}

func queuePurge(s *queueSuite) {
	t, q, other := s.t, s.handle(), s.handle()
	ctx := t.Context()
	for i := range 5 {
		mustSend(t, q, newRequest(i))
	}
	d := ReceiveWithin(t, q, Generous, "Receive")
	if err := d.DeadLetter(ctx, "purge"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	waitStats(s, q, "before Purge", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{Waiting: 4, DeadLetters: 1} })
	if err := other.Purge(ctx); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	waitStats(s, q, "after Purge", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
	if letters, err := q.DeadLetters(ctx, 10); err != nil || len(letters) != 0 {
		t.Errorf("DeadLetters after Purge: got %+v, %v; want none", letters, err)
	}
	receiveNone(t, q, nothingFor, "Receive after Purge")

	// The queue works as before.
	sent := newRequest(9)
	mustSend(t, other, sent)
	d = ReceiveWithin(t, q, Generous, "Receive after Purge and Send")
	wantRequest(t, d, sent, 1)
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	waitStats(s, q, "at the end", func(st imgrec.QueueStats) bool { return st == imgrec.QueueStats{} })
}

// queueReply has a worker answer two web tiers: each sees its own responses,
// all of them, and nothing else.
func queueReply(s *queueSuite) {
	const n = 50
	t, webA, webB, worker := s.t, s.handle(), s.handle(), s.handle()
	ctx := t.Context()
	a, err := webA.Listen(ctx)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	b, err := webB.Listen(ctx)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	a2, err := webA.Listen(ctx)
	if err != nil {
		t.Fatalf("second Listen: %v", err)
	}
	if a.Address() == "" || a.Address() == b.Address() || a.Address() == a2.Address() || b.Address() == a2.Address() {
		t.Fatalf("addresses %q, %q, %q: want distinct, non-empty ones", a.Address(), b.Address(), a2.Address())
	}
	if err := a2.Close(); err != nil {
		t.Errorf("Close inbox: %v", err)
	}

	full := imgrec.Response{
		ID: "r-ü", Key: "test_0", Label: "bathtub", Worker: "w1", Attempt: 2, Inference: 0.0123,
		Top: []imgrec.Prediction{{Index: 435, Label: "bathtub", Logit: 9.5}, {Index: 876, Label: "tub", Logit: -0.25}},
	}
	for i := range n {
		ra, rb := full, full
		ra.ID, rb.ID = fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		ra.Top, rb.Top = nil, nil
		if i == 0 {
			ra.Top, rb.Top = full.Top, full.Top
		}
		if err := worker.Reply(ctx, a.Address(), ra); err != nil {
			t.Fatalf("Reply to A: %v", err)
		}
		if err := worker.Reply(ctx, b.Address(), rb); err != nil {
			t.Fatalf("Reply to B: %v", err)
		}
	}
	// An inbox that was closed is no error: the result is stored anyway.
	if err := worker.Reply(ctx, a2.Address(), full); err != nil {
		t.Errorf("Reply to a closed inbox: %v", err)
	}

	for name, in := range map[string]imgrec.Inbox{"a": a, "b": b} {
		for i := range n {
			r := receiveResponse(t, in, Generous)
			want := full
			want.ID = fmt.Sprintf("%s%d", name, i)
			if i != 0 {
				want.Top = nil
			}
			if !sameResponse(r, want) {
				t.Errorf("inbox %s: got %+v, want %+v (each inbox sees only its responses, all fields kept)", name, r, want)
			}
		}
	}
	select {
	case r := <-a.Responses():
		t.Errorf("inbox a: unexpected extra response %+v", r)
	case r := <-b.Responses():
		t.Errorf("inbox b: unexpected extra response %+v", r)
	case <-time.After(200 * time.Millisecond): // nothing more: a slow machine can only miss a wrong one
	}

	if err := a.Close(); err != nil {
		t.Errorf("Close inbox: %v", err)
	}
	select {
	case r, ok := <-a.Responses():
		if ok {
			t.Errorf("Responses after Close: got %+v, want a closed channel", r)
		}
	case <-time.After(Generous):
		t.Errorf("Responses not closed by Close within %v", Generous)
	}
	if err := worker.Reply(ctx, a.Address(), full); err != nil {
		t.Errorf("Reply after the inbox closed: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close inbox: %v", err)
	}
}

// queueCancel checks that a waiting Receive returns ctx.Err() when its ctx
// ends, and that the abandoned waits keep nothing sent later. How soon
// Receive returns is a promise about time, not checked here; it is logged.
func queueCancel(s *queueSuite) {
	t, q := s.t, s.handle()

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	wantEnded(t, ctx, q, "Receive on an empty queue, cancelled", context.Canceled)

	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	wantEnded(t, ctx, q, "Receive on an empty queue past its deadline", context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	wantEnded(t, ctx, q, "Receive with a cancelled ctx", context.Canceled)

	// With a visibility timeout beyond the test, a request an abandoned
	// wait kept would not come back in time. One that such a wait took
	// and handed back at once costs an attempt, which is allowed.
	sent := newRequest(1)
	mustSend(t, q, sent)
	d := ReceiveWithin(t, q, Generous, "Receive after cancelled Receives")
	if !sameRequest(d.Request(), sent) || d.Attempt() > 2 {
		t.Errorf("received %+v on attempt %d, want %+v on attempt 1 (or 2, handed back by an abandoned wait)", d.Request(), d.Attempt(), sent)
	}
	if d.Attempt() != 1 {
		t.Logf("attempt %d: an abandoned wait took the request and handed it back", d.Attempt())
	}
	if err := d.Ack(t.Context()); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

// wantEnded runs q.Receive(ctx), with nothing to receive, and fails t
// unless it returns want, and only once ctx has ended. It logs how long
// Receive took to return after that.
func wantEnded(t *testing.T, ctx context.Context, q imgrec.Queue, what string, want error) {
	t.Helper()
	ended := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { ended <- time.Now() })
	type result struct {
		d   imgrec.Delivery
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := q.Receive(ctx)
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		if !errors.Is(r.err, want) || r.d != nil {
			t.Errorf("%s: got %v, %v; want %v", what, r.d, r.err, want)
		}
		if ctx.Err() == nil {
			t.Errorf("%s: returned before its ctx ended", what)
			return
		}
		t.Logf("%s: returned %v after its ctx ended", what, time.Since(<-ended))
	case <-time.After(Generous):
		t.Fatalf("%s: Receive still waiting after %v, its ctx long ended", what, Generous)
	}
}
