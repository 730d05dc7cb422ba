package inmem_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/internal/conformance"
)

// TestQueueConformance runs the suite with each further handle from
// Connect, as natsq's further handles Dial the first one's server.
func TestQueueConformance(t *testing.T) {
	conformance.Queue(t, conformance.QueueOptions{}, func(t *testing.T, opt conformance.QueueOptions) func(t *testing.T) imgrec.Queue {
		var first *inmem.Queue
		return func(t *testing.T) imgrec.Queue {
			if first == nil {
				first = newQueue(t, inmem.Config{Visibility: opt.Visibility})
				return first
			}
			return first.Connect()
		}
	})
}

func newQueue(t *testing.T, cfg inmem.Config) *inmem.Queue {
	t.Helper()
	q, err := inmem.NewQueue(cfg)
	if err != nil {
		t.Fatalf("NewQueue(%+v): %v", cfg, err)
	}
	return q
}

func listen(t *testing.T, q imgrec.Queue) imgrec.Inbox {
	t.Helper()
	in, err := q.Listen(t.Context())
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func request(id string) imgrec.Request {
	return imgrec.Request{ID: id, Key: id + ".jpg", Sent: time.Now()}
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := imgrec.ErrorCode(err); got != code {
		t.Errorf("%s: got %v (code %q), want code %q", what, err, got, code)
	}
}

func TestQueueConfig(t *testing.T) {
	for _, cfg := range []inmem.Config{{Visibility: -time.Second}, {MaxDeliver: 1}, {MaxMessageBytes: -1}} {
		_, err := inmem.NewQueue(cfg)
		wantCode(t, err, imgrec.EINVALID, fmt.Sprintf("NewQueue(%+v)", cfg))
	}
}

// TestMaxDeliver: a request on its MaxDeliver-th delivery is dead-lettered
// by Receive instead of handed out, and its client hears why.
func TestMaxDeliver(t *testing.T) {
	q := newQueue(t, inmem.Config{Visibility: 50 * time.Millisecond, MaxDeliver: 3})
	defer q.Close()
	in := listen(t, q)
	req := request("poison")
	req.ReplyTo = in.Address()
	if err := q.Send(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt < 3; attempt++ { // never settled, as if each worker died
		if d := conformance.ReceiveWithin(t, q, conformance.Generous, "Receive"); d.Attempt() != attempt {
			t.Fatalf("delivery %d: attempt %d", attempt, d.Attempt())
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	received := make(chan imgrec.Delivery, 1)
	go func() { d, _ := q.Receive(ctx); received <- d }()
	select {
	case r := <-in.Responses():
		if r.ID != "poison" || r.Attempt != 3 || !strings.Contains(r.Error, "delivered 3 times") {
			t.Errorf("response %+v; want the reason for attempt 3", r)
		}
	case <-time.After(conformance.Generous):
		t.Fatalf("no response within %v", conformance.Generous)
	}
	cancel()
	if d := <-received; d != nil {
		t.Errorf("Receive handed out attempt %d, past MaxDeliver", d.Attempt())
	}
	letters, err := q.DeadLetters(t.Context(), 10)
	if err != nil || len(letters) != 1 || letters[0].Attempts != 3 || letters[0].Request.ID != "poison" {
		t.Errorf("DeadLetters: %+v, %v; want poison after 3 attempts", letters, err)
	}
	if st, err := q.Stats(t.Context()); err != nil || st != (imgrec.QueueStats{DeadLetters: 1}) {
		t.Errorf("Stats: %+v, %v; want one dead letter only", st, err)
	}
}

// TestMaxMessageBytes: Send and Reply refuse what exceeds the limit, as
// JSON, and stating it; below it they go.
func TestMaxMessageBytes(t *testing.T) {
	q := newQueue(t, inmem.Config{MaxMessageBytes: 1000})
	defer q.Close()
	in := listen(t, q)
	big := request("big")
	big.Image = make([]byte, 1000)
	err := q.Send(t.Context(), big)
	wantCode(t, err, imgrec.ETOOLARGE, "Send over the limit")
	if err != nil && !strings.Contains(err.Error(), "1000 bytes") {
		t.Errorf("Send over the limit: %q does not state it", err)
	}
	big.Image = make([]byte, 500) // 668 bytes of base64
	if err := q.Send(t.Context(), big); err != nil {
		t.Errorf("Send under the limit: %v", err)
	}
	err = q.Reply(t.Context(), in.Address(), imgrec.Response{ID: "r", Error: strings.Repeat("x", 1000)})
	wantCode(t, err, imgrec.ETOOLARGE, "Reply over the limit")
	if st, _ := q.Stats(t.Context()); st != (imgrec.QueueStats{Waiting: 1}) {
		t.Errorf("Stats: %+v; want the one request under the limit", st)
	}
}

// TestHandles: closing a handle ends its waiting Receives and closes its
// inboxes, and leaves the queue, and what it sent, to the other handles.
func TestHandles(t *testing.T) {
	web := newQueue(t, inmem.Config{})
	worker := web.Connect()
	defer worker.Close()
	in := listen(t, web)
	if err := web.Send(t.Context(), request("a")); err != nil {
		t.Fatal(err)
	}
	d := conformance.ReceiveWithin(t, worker, conformance.Generous, "Receive")
	waiting := make(chan error, 1)
	go func() { _, err := web.Receive(t.Context()); waiting <- err }()
	time.Sleep(50 * time.Millisecond) // usually waiting by now; either way it must end
	if err := web.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiting:
		wantCode(t, err, imgrec.EUNAVAILABLE, "Receive on a handle closed meanwhile")
	case <-time.After(conformance.Generous):
		t.Fatalf("Receive still waiting %v after its handle closed", conformance.Generous)
	}
	if _, ok := <-in.Responses(); ok {
		t.Error("inbox of a closed handle still open")
	}
	wantCode(t, web.Send(t.Context(), request("b")), imgrec.EUNAVAILABLE, "Send on a closed handle")
	_, err := web.Listen(t.Context())
	wantCode(t, err, imgrec.EUNAVAILABLE, "Listen on a closed handle")

	if st, err := worker.Stats(t.Context()); err != nil || st != (imgrec.QueueStats{InFlight: 1}) {
		t.Errorf("Stats on the other handle: %+v, %v; want the request in hand", st, err)
	}
	if err := d.Ack(t.Context()); err != nil {
		t.Errorf("Ack on the other handle: %v", err)
	}
	if err := worker.Send(t.Context(), request("c")); err != nil {
		t.Fatalf("Send on the other handle: %v", err)
	}
	if d := conformance.ReceiveWithin(t, worker, conformance.Generous, "Receive"); d.Request().ID != "c" {
		t.Errorf("received %s, want c", d.Request().ID)
	}
}

// TestStaleDelivery: only a request's latest delivery settles it.
func TestStaleDelivery(t *testing.T) {
	q := newQueue(t, inmem.Config{Visibility: 50 * time.Millisecond})
	defer q.Close()
	ctx := t.Context()
	if err := q.Send(ctx, request("a")); err != nil {
		t.Fatal(err)
	}
	first := conformance.ReceiveWithin(t, q, conformance.Generous, "Receive")
	second := conformance.ReceiveWithin(t, q, conformance.Generous, "Receive") // after the visibility timeout
	if second.Attempt() != 2 {
		t.Fatalf("second delivery: attempt %d", second.Attempt())
	}
	wantCode(t, first.Extend(ctx), imgrec.ENOTFOUND, "Extend of a superseded delivery")
	wantCode(t, first.Ack(ctx), imgrec.ENOTFOUND, "Ack of a superseded delivery")
	wantCode(t, first.DeadLetter(ctx, "late"), imgrec.ENOTFOUND, "DeadLetter of a superseded delivery")
	if err := second.Ack(ctx); err != nil {
		t.Fatalf("Ack of the latest delivery: %v", err)
	}
	wantCode(t, second.Ack(ctx), imgrec.ENOTFOUND, "a second Ack")

	if err := q.Send(ctx, request("b")); err != nil {
		t.Fatal(err)
	}
	d := conformance.ReceiveWithin(t, q, conformance.Generous, "Receive")
	if err := q.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.Nack(ctx, 0), imgrec.ENOTFOUND, "Nack after Purge")
	if st, _ := q.Stats(ctx); st != (imgrec.QueueStats{}) {
		t.Errorf("Stats: %+v; want an empty queue", st)
	}
}

// TestInboxHoldsEverything: Reply never waits for the reader, and the
// reader gets every response in order.
func TestInboxHoldsEverything(t *testing.T) {
	q := newQueue(t, inmem.Config{})
	defer q.Close()
	in := listen(t, q)
	const n = 10_000
	for i := range n {
		if err := q.Reply(t.Context(), in.Address(), imgrec.Response{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case r := <-in.Responses():
			if r.ID != fmt.Sprint(i) {
				t.Fatalf("response %d: got %s", i, r.ID)
			}
		case <-time.After(conformance.Generous):
			t.Fatalf("response %d not there after %v", i, conformance.Generous)
		}
	}
	wantCode(t, q.Reply(t.Context(), "nats.reply.x", imgrec.Response{ID: "r"}), imgrec.EINVALID, "Reply to another queue's address")
	if err := q.Reply(t.Context(), "inmem-inbox-999999", imgrec.Response{ID: "r"}); err != nil {
		t.Errorf("Reply to an inbox nobody opened: %v", err)
	}
}
