package natsq_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/natsq"
)

// generous bounds every wait for something that must happen: only a hang,
// never a slow or loaded machine, reaches it.
const generous = time.Minute

// TestEmbeddedRestart reopens the embedded server on the same directory:
// waiting and in-flight requests and dead letters are all still there.
func TestEmbeddedRestart(t *testing.T) {
	t.Parallel()
	// The visibility timeout is what the test waits for held to come back;
	// it must also outlast any stall between receiving a request and
	// settling it.
	cfg := natsq.Config{DataDir: t.TempDir(), Visibility: 3 * time.Second}
	q := mustEmbedded(t, cfg)
	for _, id := range []string{"a", "b", "c"} {
		send(t, q, id)
	}
	dead := receive(t, q)
	if err := dead.DeadLetter(t.Context(), "before restart"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	held := receive(t, q) // never settled: in flight across the restart
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	q = mustEmbedded(t, cfg)
	defer q.Close()
	waitStats(t, q, "after restart", func(st imgrec.QueueStats) bool { return st.Depth() == 2 && st.DeadLetters == 1 })
	letters, err := q.DeadLetters(t.Context(), 10)
	if err != nil || len(letters) != 1 || letters[0].Request.ID != dead.Request().ID || letters[0].Reason != "before restart" {
		t.Errorf("DeadLetters after restart: %+v, %v; want %s", letters, err, dead.Request().ID)
	}
	got := map[string]int{}
	for range 2 {
		d := receive(t, q)
		got[d.Request().ID] = d.Attempt()
		if err := d.Ack(t.Context()); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if got[held.Request().ID] != 2 || len(got) != 2 {
		t.Errorf("after restart received %v (id: attempt), want %s again on attempt 2 and the waiting one", got, held.Request().ID)
	}
}

// TestReconnect restarts an external server under a connected queue: a
// Receive waiting through the restart gets the request sent after it.
func TestReconnect(t *testing.T) {
	t.Parallel()
	port, dir := freePort(t), t.TempDir()
	url, stop := startServer(t, port, dir)
	q := mustDial(t, url, natsq.Config{Visibility: 5 * time.Second})
	defer q.Close()
	waiting := receiveAsync(t, q, url)

	stop()
	startServer(t, port, dir)
	restarted := time.Now()
	sendEventually(t, q, "after-restart")
	select {
	case d := <-waiting:
		t.Logf("received %v after the restart", time.Since(restarted))
		if d.Request().ID != "after-restart" || d.Attempt() != 1 {
			t.Errorf("received %s on attempt %d, want after-restart on attempt 1", d.Request().ID, d.Attempt())
		}
	case <-time.After(generous):
		t.Fatalf("the Receive waiting through the restart got nothing within %v", generous)
	}
	send(t, q, "later")
	if d := receive(t, q); d.Request().ID != "later" {
		t.Errorf("received %s, want later", d.Request().ID)
	}
}

// TestServerLostStore restarts an external server without its store: the
// queue recreates its streams and consumer and goes on.
func TestServerLostStore(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	url, stop := startServer(t, port, t.TempDir())
	q := mustDial(t, url, natsq.Config{Visibility: 5 * time.Second})
	defer q.Close()
	waiting := receiveAsync(t, q, url)

	stop()
	startServer(t, port, t.TempDir())
	restarted := time.Now()
	sendEventually(t, q, "after-restart")
	select {
	case d := <-waiting:
		t.Logf("received %v after the restart", time.Since(restarted))
		if d.Request().ID != "after-restart" {
			t.Errorf("received %s, want after-restart", d.Request().ID)
		}
	case <-time.After(generous):
		t.Fatalf("the Receive waiting through the restart got nothing within %v", generous)
	}
}

// receiveAsync starts a Receive on q, a queue with the default prefix on the
// server at url, and waits until the server reports its pull waiting on the
// consumer.
func receiveAsync(t *testing.T, q imgrec.Queue, url string) <-chan imgrec.Delivery {
	t.Helper()
	got := make(chan imgrec.Delivery, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*generous)
		defer cancel()
		d, err := q.Receive(ctx)
		if err != nil {
			t.Errorf("Receive: %v", err)
			return
		}
		got <- d
	}()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, consumer := natsq.DefaultPrefix+"_requests", natsq.DefaultPrefix+"_workers"
	var last error
	for deadline := time.Now().Add(generous); ; time.Sleep(10 * time.Millisecond) {
		c, err := js.Consumer(t.Context(), stream, consumer)
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = c.Info(t.Context()); err == nil && info.NumWaiting > 0 {
				return got
			}
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("no pull waiting on consumer %s within %v (last error %v)", consumer, generous, last)
		}
	}
}

// sendEventually retries Send while the connection comes back.
func sendEventually(t *testing.T, q imgrec.Queue, id string) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := q.Send(ctx, imgrec.Request{ID: id, Key: id + ".JPEG", Sent: time.Now()})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Send %s after the restart: %v", id, err)
		}
		t.Logf("Send %s: %v (code %s); retrying", id, err, imgrec.ErrorCode(err))
		time.Sleep(100 * time.Millisecond)
	}
}

func send(t *testing.T, q imgrec.Queue, id string) {
	t.Helper()
	if err := q.Send(t.Context(), imgrec.Request{ID: id, Key: id + ".JPEG", Sent: time.Now()}); err != nil {
		t.Fatalf("Send %s: %v", id, err)
	}
}

// receive waits for the next request, failing t after generous.
func receive(t *testing.T, q imgrec.Queue) imgrec.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	d, err := q.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return d
}

// waitStats polls Stats until ok holds, failing t after generous.
func waitStats(t *testing.T, q imgrec.Queue, when string, ok func(imgrec.QueueStats) bool) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for {
		st, err := q.Stats(t.Context())
		if err != nil {
			t.Fatalf("Stats %s: %v", when, err)
		}
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats %s: %+v, not what was expected", when, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
