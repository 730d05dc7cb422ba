package natsq_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/natsq"
)

// TestMaxDeliver: the delivery the server would never repeat is
// dead-lettered by Receive, not handed out.
func TestMaxDeliver(t *testing.T) {
	t.Parallel()
	q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir(), Visibility: time.Second, MaxDeliver: 2})
	defer q.Close()
	inbox, err := q.Listen(t.Context())
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := q.Send(t.Context(), imgrec.Request{ID: "a", Key: "a.JPEG", ReplyTo: inbox.Address(), Sent: time.Now()}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	receive(t, q) // attempt 1, never settled

	// Attempt 2 of 2 comes after the visibility timeout, whenever that is
	// on this machine. One Receive waits through it, and must not hand it
	// out, until Stats show it dead-lettered.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	returned := make(chan string, 1)
	go func() {
		d, err := q.Receive(ctx)
		if d != nil {
			returned <- fmt.Sprintf("request %s on attempt %d", d.Request().ID, d.Attempt())
			return
		}
		returned <- fmt.Sprint(err)
	}()
	for deadline := time.Now().Add(generous); ; time.Sleep(20 * time.Millisecond) {
		select {
		case got := <-returned:
			t.Fatalf("Receive returned %s before the request was dead-lettered; want nothing: attempt 2 of 2 is dead-lettered", got)
		default:
		}
		st, err := q.Stats(t.Context())
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if st == (imgrec.QueueStats{DeadLetters: 1}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats %+v: attempt 2 not dead-lettered within %v", st, generous)
		}
	}
	cancel()
	if got := <-returned; got != context.Canceled.Error() {
		t.Errorf("Receive returned %s, want %v", got, context.Canceled)
	}
	letters, err := q.DeadLetters(t.Context(), 10)
	if err != nil || len(letters) != 1 || letters[0].Attempts != 2 || !strings.Contains(letters[0].Reason, "delivered 2 times") {
		t.Errorf("DeadLetters: %+v, %v; want a on attempt 2, delivered 2 times", letters, err)
	}
	select {
	case r := <-inbox.Responses():
		if r.ID != "a" || r.Attempt != 2 || !strings.Contains(r.Error, "delivered 2 times") {
			t.Errorf("response %+v, want a's error on attempt 2", r)
		}
	case <-time.After(generous):
		t.Errorf("no response for the dead-lettered request within %v", generous)
	}
}

// TestNotARequest: whatever else lands on the request subject is
// dead-lettered, and the next request still comes through.
func TestNotARequest(t *testing.T) {
	t.Parallel()
	q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir(), Visibility: time.Second})
	defer q.Close()
	nc, err := nats.Connect(q.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("imgrec.requests", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	send(t, q, "a")
	if d := receive(t, q); d.Request().ID != "a" {
		t.Errorf("received %+v, want a", d.Request())
	}
	letters, err := q.DeadLetters(t.Context(), 10)
	if err != nil || len(letters) != 1 || !strings.Contains(letters[0].Reason, "not a request") {
		t.Errorf("DeadLetters: %+v, %v; want the non-request", letters, err)
	}
}

// TestCancelledReceives races many Receives whose ctx ends against a
// stream of requests, with a visibility timeout far beyond the test: a
// request lost to an abandoned pull would be missing at the end. Every
// fourth Receive waits long enough for whatever is waiting, so the test
// gets through however slow this machine is.
func TestCancelledReceives(t *testing.T) {
	t.Parallel()
	const n = 100
	q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir(), Visibility: 10 * time.Minute})
	defer q.Close()
	sender := mustDial(t, q.URL(), natsq.Config{})
	defer sender.Close()

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			if err := sender.Send(t.Context(), imgrec.Request{ID: fmt.Sprint(i), Key: "k", Sent: time.Now()}); err != nil {
				t.Errorf("Send: %v", err)
			}
		}
	})
	got := map[string]int{}
	deadline := time.Now().Add(generous)
	for i := 0; len(got) < n && time.Now().Before(deadline); i++ {
		wait := time.Duration(rand.IntN(3000)) * time.Microsecond
		if i%4 == 3 {
			wait = time.Second
		}
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		d, err := q.Receive(ctx)
		cancel()
		if err != nil {
			continue
		}
		got[d.Request().ID] = max(got[d.Request().ID], d.Attempt())
		if err := d.Ack(t.Context()); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("received %d of %d requests; the rest are stuck in abandoned pulls", len(got), n)
	}
	retried := 0
	for _, attempt := range got {
		if attempt > 1 {
			retried++
		}
	}
	t.Logf("%d of %d requests were handed back by a cancelled Receive", retried, n)
}

// TestDrainingWorkersLoseNothing: requests sent while 15 queues (as many
// draining workers) abandon 8 pulls each are each received once, within a
// minute though the visibility timeout is 10 minutes, and far below the
// workers' five attempts: a delivery an abandoned pull caught goes back
// as a copy that does not count it. (The server itself may count one it
// sent to a pull already gone.) Before, requests waited out the visibility
// timeout and reached a fifth attempt. A slower machine only makes fewer
// pulls catch one.
func TestDrainingWorkersLoseNothing(t *testing.T) {
	t.Parallel()
	const rounds, requests = 8, 40
	q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir(), Visibility: 10 * time.Minute})
	defer q.Close()
	var mu sync.Mutex
	got := map[string][]int{} // id → attempts received
	take := func(d imgrec.Delivery) {
		mu.Lock()
		got[d.Request().ID] = append(got[d.Request().ID], d.Attempt())
		mu.Unlock()
		if err := d.Ack(t.Context()); err != nil {
			t.Errorf("Ack: %v", err)
		}
	}
	for round := range rounds {
		var cancels []context.CancelFunc
		var receives sync.WaitGroup
		for range 15 {
			l := mustDial(t, q.URL(), natsq.Config{Visibility: 10 * time.Minute})
			defer l.Close()
			ctx, cancel := context.WithCancel(t.Context())
			cancels = append(cancels, cancel)
			for range 8 {
				receives.Go(func() {
					if d, err := l.Receive(ctx); err == nil {
						take(d) // a worker finishes what it received, draining or not
					}
				})
			}
		}
		time.Sleep(200 * time.Millisecond) // the pulls reach the server; if not, the test proves less
		var sends sync.WaitGroup
		sends.Go(func() {
			for i := range requests {
				if err := q.Send(t.Context(), imgrec.Request{ID: fmt.Sprint(round, "-", i), Key: "k", Sent: time.Now()}); err != nil {
					t.Errorf("Send: %v", err)
				}
			}
		})
		for _, cancel := range cancels {
			cancel()
		}
		receives.Wait()
		sends.Wait()
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == (round+1)*requests {
				break
			}
			ctx, cancel := context.WithTimeout(t.Context(), generous)
			d, err := q.Receive(ctx)
			cancel()
			if err != nil {
				t.Fatalf("round %d: received %d of %d requests within %v: the rest wait out the visibility timeout: %v", round, n, (round+1)*requests, generous, err)
			}
			take(d)
		}
	}
	worst := 0
	for id, attempts := range got {
		if len(attempts) != 1 || attempts[0] >= 5 {
			t.Errorf("request %s received at attempts %v, want once, below 5", id, attempts)
		}
		worst = max(worst, slices.Max(attempts))
	}
	t.Logf("highest attempt: %d", worst)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]natsq.Config{
		"prefix with a dot":   {DataDir: t.TempDir(), Prefix: "a.b"},
		"negative visibility": {DataDir: t.TempDir(), Visibility: -time.Second},
		"max deliver 1":       {DataDir: t.TempDir(), MaxDeliver: 1},
		"no data directory":   {},
	} {
		if _, err := natsq.Embedded(cfg); imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("%s: got %v, want code %s", name, err, imgrec.EINVALID)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := natsq.Embedded(natsq.Config{DataDir: t.TempDir(), Port: busy.Addr().(*net.TCPAddr).Port}); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE {
		t.Errorf("Embedded on a busy port: got %v, want code %s", err, imgrec.EUNAVAILABLE)
	}
	if _, err := natsq.Dial(fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), natsq.Config{}); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE {
		t.Errorf("Dial with no server: got %v, want code %s", err, imgrec.EUNAVAILABLE)
	}
}

func TestEmbeddedURL(t *testing.T) {
	t.Parallel()
	q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir()})
	defer q.Close()
	if !strings.HasPrefix(q.URL(), "nats://127.0.0.1:") {
		t.Errorf("URL %q, want nats://127.0.0.1:<port>", q.URL())
	}
	if err := q.Reply(t.Context(), "other.reply.x", imgrec.Response{ID: "r"}); imgrec.ErrorCode(err) != imgrec.EINVALID {
		t.Errorf("Reply to another queue's address: got %v, want code %s", err, imgrec.EINVALID)
	}
}

// TestReplyWildcardSeesEveryReply: a plain NATS subscription to the
// wildcard receives the responses sent to any inbox of the queue, as the
// validation benchmark taps them.
func TestReplyWildcardSeesEveryReply(t *testing.T) {
	t.Parallel()
	q := mustEmbedded(t, natsq.Config{DataDir: t.TempDir(), Prefix: "tap"})
	defer q.Close()
	if got := (natsq.Config{}).ReplyWildcard(); got != natsq.DefaultPrefix+".reply.>" {
		t.Errorf("default wildcard %q", got)
	}
	nc, err := nats.Connect(q.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(natsq.Config{Prefix: "tap"}.ReplyWildcard())
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	ib, err := q.Listen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	if err := q.Reply(t.Context(), ib.Address(), imgrec.Response{ID: "r-1", Inference: 0.25}); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `"inference_seconds":0.25`) || !strings.Contains(string(msg.Data), `"id":"r-1"`) {
		t.Errorf("tapped %s", msg.Data)
	}
}
