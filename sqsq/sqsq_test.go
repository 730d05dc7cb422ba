package sqsq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/sqsq"
)

var queueCount atomic.Int32

// newQueues creates a fresh request queue and DLQ on the shared moto
// server, deleted when the test ends.
func newQueues(t testing.TB, opt sqsq.CreateOptions) (*sqs.Client, string) {
	t.Helper()
	client := sqs.NewFromConfig(moto.Shared(t).Config())
	name := fmt.Sprintf("test%d", queueCount.Add(1))
	if err := sqsq.CreateQueues(moto.Context(t), client, name, opt); err != nil {
		t.Fatalf("CreateQueues %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := sqsq.DeleteQueues(context.Background(), client, name); err != nil {
			t.Errorf("DeleteQueues %s: %v", name, err)
		}
	})
	return client, name
}

func mustOpen(t testing.TB, client *sqs.Client, name string, cfg sqsq.Config) *sqsq.Queue {
	t.Helper()
	q, err := sqsq.Open(moto.Context(t), client, name, cfg)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	return q
}

// TestConformance runs the Queue suite on moto. Every handle is a Queue of
// its own, as in separate processes. moto's counts are exact and at once,
// where AWS's are approximate and may trail by a minute; moto's long polls
// notice a message made visible again (a Nack, an expired visibility
// timeout) only within a second, AWS's at once. A 1 s long poll keeps
// Close, which waits for the polls still running, quick.
func TestConformance(t *testing.T) {
	conformance.Queue(t, conformance.QueueOptions{}, func(t *testing.T, opt conformance.QueueOptions) func(t *testing.T) imgrec.Queue {
		client, name := newQueues(t, sqsq.CreateOptions{Visibility: opt.Visibility})
		return func(t *testing.T) imgrec.Queue {
			return mustOpen(t, client, name, sqsq.Config{Visibility: opt.Visibility, WaitTime: time.Second})
		}
	})
}

func TestOpenMissingQueue(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(moto.Shared(t).Config())
	_, err := sqsq.Open(moto.Context(t), client, "never-created", sqsq.Config{})
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), `"never-created"`) || !strings.Contains(err.Error(), "infra up") {
		t.Errorf("Open of a missing queue: %v (code %q); want ENOTFOUND naming the queue and how to create it", err, imgrec.ErrorCode(err))
	}
	for _, name := range []string{"", "has space", "dot.fifo", strings.Repeat("n", 59)} {
		if _, err := sqsq.Open(moto.Context(t), client, name, sqsq.Config{}); imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("Open(%q): %v, want EINVALID", name, err)
		}
	}
}

// TestTooLarge follows the queue's own MaximumMessageSize.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	client, name := newQueues(t, sqsq.CreateOptions{})
	ctx := moto.Context(t)
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: url.QueueUrl, Attributes: map[string]string{"MaximumMessageSize": "2048"},
	}); err != nil {
		t.Fatal(err)
	}
	q := mustOpen(t, client, name, sqsq.Config{})
	defer q.Close()
	req := imgrec.Request{ID: "big", Key: strings.Repeat("k", 2048), Sent: time.Now()}
	if err := q.Send(ctx, req); imgrec.ErrorCode(err) != imgrec.ETOOLARGE || !strings.Contains(err.Error(), "2048 bytes") {
		t.Errorf("Send over the queue's 2048 bytes: %v, want ETOOLARGE stating the limit", err)
	}
	req.Key = strings.Repeat("k", 1000)
	if err := q.Send(ctx, req); err != nil {
		t.Errorf("Send under the limit: %v", err)
	}
}

// TestCreateDescribeDelete manages a name's queues, leaving a neighbour's
// alone: "NAME-resp" has the DLQ "NAME-resp-dlq", no response queue of NAME.
func TestCreateDescribeDelete(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(moto.Shared(t).Config())
	ctx := moto.Context(t)
	name := fmt.Sprintf("manage%d", queueCount.Add(1))
	neighbour := name + "-resp"
	if s, err := sqsq.ReadSettings(ctx, client, name); s != nil || err != nil {
		t.Errorf("ReadSettings before CreateQueues: %+v, %v; want nil, nil", s, err)
	}
	if ok, err := sqsq.Exists(ctx, client, sqsq.DeadLetterQueueName(name)); ok || err != nil {
		t.Errorf("Exists before CreateQueues: %v, %v", ok, err)
	}
	for _, n := range []string{name, neighbour} {
		if err := sqsq.CreateQueues(ctx, client, n, sqsq.CreateOptions{}); err != nil {
			t.Fatalf("CreateQueues %s: %v", n, err)
		}
	}
	defer sqsq.DeleteQueues(context.Background(), client, neighbour)
	// Again, with other settings: the existing queues take them.
	if err := sqsq.CreateQueues(ctx, client, name, sqsq.CreateOptions{Visibility: 30 * time.Second, MaxReceiveCount: 4}); err != nil {
		t.Fatalf("CreateQueues again: %v", err)
	}
	url, _ := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	if v, rp := attrs.Attributes["VisibilityTimeout"], attrs.Attributes["RedrivePolicy"]; v != "30" || !strings.Contains(rp, name+"-dlq") || !strings.Contains(rp, "4") {
		t.Errorf("after the second CreateQueues: VisibilityTimeout %q, RedrivePolicy %q", v, rp)
	}
	want := sqsq.Settings{Visibility: 30 * time.Second, MaxReceiveCount: 4, DeadLetterQueue: name + "-dlq"}
	if s, err := sqsq.ReadSettings(ctx, client, name); err != nil || s == nil || *s != want {
		t.Errorf("ReadSettings: %+v, %v; want %+v", s, err, want)
	}
	if ok, err := sqsq.Exists(ctx, client, sqsq.DeadLetterQueueName(name)); !ok || err != nil {
		t.Errorf("Exists of the dead-letter queue: %v, %v", ok, err)
	}

	// A web tier that crashed left its response queue behind.
	q := mustOpen(t, client, name, sqsq.Config{})
	inbox, err := q.Listen(ctx)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := q.Send(ctx, imgrec.Request{ID: "r1", Key: "k", Sent: time.Now()}); err != nil {
		t.Fatal(err)
	}
	infos, err := sqsq.Describe(ctx, client, name)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	var roles []string
	for _, in := range infos {
		roles = append(roles, in.Role)
	}
	if !slices.Equal(roles, []string{sqsq.RoleRequests, sqsq.RoleDeadLetters, sqsq.RoleResponses}) ||
		infos[0].Name != name || infos[0].Visible != 1 || infos[2].URL != inbox.Address() {
		t.Errorf("Describe: %+v", infos)
	}

	deleted, err := sqsq.DeleteQueues(ctx, client, name)
	if err != nil {
		t.Fatalf("DeleteQueues: %v", err)
	}
	if len(deleted) != 3 || deleted[0] != name || deleted[1] != name+"-dlq" {
		t.Errorf("DeleteQueues deleted %q, want %s, its DLQ and its response queue", deleted, name)
	}
	q.Close() // its inbox's queue is gone already: no error to report
	if infos, err := sqsq.Describe(ctx, client, name); err != nil || len(infos) != 0 {
		t.Errorf("Describe after DeleteQueues: %+v, %v; want nothing", infos, err)
	}
	if deleted, err := sqsq.DeleteQueues(ctx, client, name); err != nil || len(deleted) != 0 {
		t.Errorf("DeleteQueues again: %q, %v; want nothing and no error", deleted, err)
	}
	if infos, err := sqsq.Describe(ctx, client, neighbour); err != nil || len(infos) != 2 {
		t.Errorf("the neighbour %s after deleting %s: %+v, %v; want its 2 queues", neighbour, name, infos, err)
	}
}

// TestReceiveSettlesWhatNoWorkerCan: a request on its maxReceiveCount-th
// receipt and a message that is no request are dead-lettered by Receive,
// with a reason, and the waiting client hears it. A request the redrive
// policy moved by itself is listed too.
func TestReceiveSettlesWhatNoWorkerCan(t *testing.T) {
	t.Parallel()
	client, name := newQueues(t, sqsq.CreateOptions{Visibility: time.Second, MaxReceiveCount: 2})
	ctx := moto.Context(t)
	q := mustOpen(t, client, name, sqsq.Config{})
	defer q.Close()
	inbox, err := q.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := imgrec.Request{ID: "tired", Key: "k.jpg", ReplyTo: inbox.Address(), Sent: time.Now()}
	if err := q.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	d := conformance.ReceiveWithin(t, q, conformance.Generous, "Receive")
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	url, _ := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("no json")}); err != nil {
		t.Fatal(err)
	}
	dlqURL, _ := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name + "-dlq")})
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: dlqURL.QueueUrl, MessageBody: aws.String(`{"id":"moved","key":"m.jpg"}`)}); err != nil {
		t.Fatal(err)
	}

	// One Receive waits, however long this machine takes, until both are
	// dead-lettered; it must hand out neither.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	returned := make(chan string, 1)
	go func() {
		d, err := q.Receive(rctx)
		if d != nil {
			returned <- fmt.Sprintf("request %+v on attempt %d", d.Request(), d.Attempt())
			return
		}
		returned <- fmt.Sprint(err)
	}()
	for deadline := time.Now().Add(conformance.Generous); ; time.Sleep(50 * time.Millisecond) {
		select {
		case got := <-returned:
			t.Fatalf("Receive returned %s; want both messages dead-lettered and none handed out", got)
		default:
		}
		st, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st == (imgrec.QueueStats{DeadLetters: 3}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats %+v after %v; want both messages dead-lettered beside the one moved", st, conformance.Generous)
		}
	}
	cancel()
	if got := <-returned; got != context.Canceled.Error() {
		t.Errorf("Receive returned %s, want %v", got, context.Canceled)
	}
	select {
	case r := <-inbox.Responses():
		if r.ID != sent.ID || !strings.Contains(r.Error, "received 2 times") {
			t.Errorf("response %+v, want the reason for %s", r, sent.ID)
		}
	case <-time.After(conformance.Generous):
		t.Fatalf("no response for the dead-lettered request within %v", conformance.Generous)
	}
	letters, err := q.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, l := range letters {
		reasons[l.Request.ID] = fmt.Sprintf("%s (%d attempts)", l.Reason, l.Attempts)
	}
	if len(letters) != 3 || !strings.Contains(reasons["tired"], "received 2 times") ||
		!strings.Contains(reasons["moved"], "redrive policy") || !strings.Contains(reasons["moved"], "(2 attempts)") {
		t.Errorf("dead letters: %q", reasons)
	}
	for id, r := range reasons {
		if id != "tired" && id != "moved" && !strings.Contains(r, `not a request: "no json"`) {
			t.Errorf("dead letter %s: %s; want the non-request's reason", id, r)
		}
	}
}

// TestCloseHandsBackAbandonedPoll: SQS serves a long poll whose Receive
// gave up; Close must hand back what it takes, so the request comes back
// at once rather than after the visibility timeout.
func TestCloseHandsBackAbandonedPoll(t *testing.T) {
	t.Parallel()
	client, name := newQueues(t, sqsq.CreateOptions{})
	ctx := moto.Context(t)
	cfg := sqsq.Config{Visibility: 10 * time.Minute, WaitTime: 2 * time.Second}
	leaving, staying := mustOpen(t, client, name, cfg), mustOpen(t, client, name, cfg)
	defer staying.Close()
	rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if d, err := leaving.Receive(rctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive on an empty queue: %v, %v", d, err)
	}
	// The abandoned poll, still running, takes the request.
	sent := imgrec.Request{ID: "r", Key: "k", Sent: time.Now()}
	if err := staying.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	d := conformance.ReceiveWithin(t, staying, conformance.Generous, "Receive")
	if d.Request().ID != sent.ID {
		t.Errorf("received %+v, want %+v", d.Request(), sent)
	}
	// The abandoned poll's receipt was nobody's attempt.
	if d.Attempt() != 1 {
		t.Errorf("attempt %d, want 1: a receipt handed back unused counted", d.Attempt())
	}
}

// TestHandedBackAmongClosingQueues: a request sent as several queues close,
// each with abandoned polls still running that take it and hand it on, is
// received once, as its first attempt, and nothing else is left behind. A
// real attempt still counts.
func TestHandedBackAmongClosingQueues(t *testing.T) {
	t.Parallel()
	client, name := newQueues(t, sqsq.CreateOptions{})
	ctx := moto.Context(t)
	cfg := sqsq.Config{Visibility: 10 * time.Minute, WaitTime: 3 * time.Second}
	staying := mustOpen(t, client, name, cfg)
	defer staying.Close()
	var leaving []*sqsq.Queue
	for range 4 {
		q := mustOpen(t, client, name, cfg)
		leaving = append(leaving, q)
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 4 { // four Receives at once: four polls
			wg.Go(func() { q.Receive(rctx) })
		}
		time.Sleep(50 * time.Millisecond) // let the polls start; a slow start only makes the test prove less
		cancel()
		wg.Wait()
	}
	sent := imgrec.Request{ID: "r", Key: "k", Sent: time.Now()}
	if err := staying.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, q := range leaving {
		wg.Go(func() {
			if err := q.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d := conformance.ReceiveWithin(t, staying, conformance.Generous, "Receive")
	if d.Request().ID != sent.ID || d.Attempt() != 1 {
		t.Fatalf("received %+v, attempt %d; want %+v, attempt 1", d.Request(), d.Attempt(), sent)
	}
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	again := conformance.ReceiveWithin(t, staying, conformance.Generous, "Receive after a Nack")
	if again.Request().ID != sent.ID || again.Attempt() != 2 {
		t.Fatalf("after a Nack: %+v, attempt %d; want %+v, attempt 2", again.Request(), again.Attempt(), sent)
	}
	if err := again.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := staying.Stats(ctx); err != nil || st != (imgrec.QueueStats{}) {
		t.Errorf("stats after the ack: %+v, %v; want nothing left", st, err)
	}
}

// TestPing: a queue that exists answers; one deleted since does not.
func TestPing(t *testing.T) {
	t.Parallel()
	client, name := newQueues(t, sqsq.CreateOptions{})
	q := mustOpen(t, client, name, sqsq.Config{})
	defer q.Close()
	ctx := moto.Context(t)
	if err := q.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := sqsq.DeleteQueues(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	if err := q.Ping(ctx); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("Ping of a deleted queue: %v; want an error naming it", err)
	}
}
