package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// newRequest returns a request unique to i, with every field set.
func newRequest(i int) imgrec.Request {
	return imgrec.Request{
		ID:      fmt.Sprintf("req-%03d", i),
		Key:     fmt.Sprintf("test_%d.JPEG", i),
		ReplyTo: fmt.Sprintf("reply-to-%d", i),
		Sent:    time.Now().Add(time.Duration(i) * time.Nanosecond),
	}
}

func mustSend(t *testing.T, q imgrec.Queue, r imgrec.Request) {
	t.Helper()
	if err := q.Send(t.Context(), r); err != nil {
		t.Fatalf("Send %s: %v", r.ID, err)
	}
}

// ReceiveWithin fails t unless a request arrives within d.
func ReceiveWithin(t *testing.T, q imgrec.Queue, d time.Duration, what string) imgrec.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	got, err := q.Receive(ctx)
	if err != nil {
		t.Fatalf("%s: no request within %v: %v", what, d, err)
	}
	return got
}

// receiveNone fails t if a request arrives within d.
func receiveNone(t *testing.T, q imgrec.Queue, d time.Duration, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	got, err := q.Receive(ctx)
	switch {
	case got != nil:
		t.Errorf("%s: got request %+v (attempt %d), want none within %v", what, got.Request(), got.Attempt(), d)
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s: got error %v, want context.DeadlineExceeded", what, err)
	}
}

// wantRequest checks a delivery's request and attempt.
func wantRequest(t *testing.T, d imgrec.Delivery, want imgrec.Request, attempt int) {
	t.Helper()
	if got := d.Request(); !sameRequest(got, want) {
		t.Errorf("received %+v, want %+v", got, want)
	}
	if got := d.Attempt(); got != attempt {
		t.Errorf("request %s: attempt %d, want %d", want.ID, got, attempt)
	}
}

// sameRequest compares times as instants: a backend may change the zone.
func sameRequest(a, b imgrec.Request) bool {
	return a.ID == b.ID && a.Key == b.Key && a.ReplyTo == b.ReplyTo && a.Sent.Equal(b.Sent)
}

func sameResponse(a, b imgrec.Response) bool {
	return a.ID == b.ID && a.Key == b.Key && a.Label == b.Label && a.Error == b.Error &&
		a.Worker == b.Worker && a.Attempt == b.Attempt && a.Inference == b.Inference && slices.Equal(a.Top, b.Top)
}

func receiveResponse(t *testing.T, in imgrec.Inbox, d time.Duration) imgrec.Response {
	t.Helper()
	select {
	case r, ok := <-in.Responses():
		if !ok {
			t.Fatalf("inbox %s closed while waiting for a response", in.Address())
		}
		return r
	case <-time.After(d):
	}
	t.Fatalf("inbox %s: no response within %v", in.Address(), d)
	return imgrec.Response{}
}

// waitStats polls Stats until ok holds, for up to opt.StatsLag.
func waitStats(s *queueSuite, q imgrec.Queue, when string, ok func(imgrec.QueueStats) bool) {
	s.t.Helper()
	deadline := time.Now().Add(s.opt.StatsLag)
	for {
		st, err := q.Stats(s.t.Context())
		if err != nil {
			s.t.Fatalf("Stats %s: %v", when, err)
		}
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("Stats %s: got %+v (depth %d), not what was expected", when, st, st.Depth())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
