package sqsq

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imgrec/imgrec"
)

// maxHold is the longest a message received for nobody waits for the next
// Receive before it is handed back: long enough to bridge the moment
// between one Receive giving up and the next one starting.
const maxHold = time.Second

// pollResult is what a poll hands to a waiting Receive.
type pollResult struct {
	msg types.Message
	err error
}

// waiter is a waiting Receive; got has room for one result, so a poll
// never blocks handing it over.
type waiter struct{ got chan pollResult }

// heldMsg is a message that arrived when no Receive was waiting.
type heldMsg struct {
	msg   types.Message
	timer *time.Timer // hands it back after the hold
}

// Receive waits for the next request until ctx ends and then returns
// ctx.Err() at once; its long poll runs on for the next Receive (see the
// package documentation). A request on its maxReceiveCount-th receipt, and
// a message that is no request, are dead-lettered here, not handed out.
func (q *Queue) Receive(ctx context.Context) (imgrec.Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg, err := q.next(ctx)
		if err != nil {
			return nil, err
		}
		if d := q.deliver(msg); d != nil {
			return d, nil
		}
	}
}

// next takes a held message or waits for a poll to bring one.
func (q *Queue) next(ctx context.Context) (types.Message, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return types.Message{}, errClosed
	}
	if len(q.held) > 0 {
		h := q.held[0]
		q.held = q.held[1:]
		q.mu.Unlock()
		h.timer.Stop()
		q.running.Done()
		return h.msg, nil
	}
	w := &waiter{got: make(chan pollResult, 1)}
	q.waiters = append(q.waiters, w)
	q.startPolls()
	q.mu.Unlock()

	select {
	case r := <-w.got:
		return r.msg, r.err
	case <-ctx.Done():
	}
	q.mu.Lock()
	waiting := remove(&q.waiters, w)
	q.mu.Unlock()
	if waiting {
		return types.Message{}, ctx.Err()
	}
	// A poll handed a message over just as ctx ended: it is ours to settle.
	r := <-w.got
	return r.msg, r.err
}

// startPolls starts polls until every waiter has one. Called with q.mu held.
func (q *Queue) startPolls() {
	for q.polls < len(q.waiters) {
		q.polls++
		q.running.Add(1)
		go q.poll()
	}
}

// poll long-polls for one message at a time, for as long as some Receive
// waits without a poll of its own. Its ctx is not the Receive's: an
// abandoned poll would take a message nobody sees (see the package
// documentation).
func (q *Queue) poll() {
	defer q.running.Done()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(q.wait)*time.Second+settleTimeout)
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            &q.url,
			MaxNumberOfMessages: 1, // more would wait, invisible, behind the one being worked on
			WaitTimeSeconds:     q.wait,
			VisibilityTimeout:   q.visibility,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameApproximateReceiveCount,
			},
			MessageAttributeNames: []string{attrPriorReceipts},
		})
		cancel()
		q.mu.Lock()
		q.polls--
		switch {
		case err != nil:
			if len(q.waiters) > 0 {
				q.popWaiter().got <- pollResult{err: wrapErr(err, "sqsq: receive from %s", q.name)}
			}
		case len(out.Messages) == 0:
		case q.closed:
			q.mu.Unlock()
			q.handBack(out.Messages[0])
			return
		case len(q.waiters) > 0:
			q.popWaiter().got <- pollResult{msg: out.Messages[0]}
		default:
			q.hold(out.Messages[0])
		}
		if q.closed || q.polls >= len(q.waiters) {
			q.mu.Unlock()
			return
		}
		q.polls++
		q.mu.Unlock()
	}
}

// popWaiter removes the oldest waiter. Called with q.mu held.
func (q *Queue) popWaiter() *waiter {
	w := q.waiters[0]
	q.waiters = q.waiters[1:]
	return w
}

// hold keeps msg for the next Receive, for a quarter of the visibility
// timeout at most, so whoever takes it has time to extend it. Called with
// q.mu held; whoever removes it from q.held owns it.
func (q *Queue) hold(msg types.Message) {
	h := &heldMsg{msg: msg}
	q.running.Add(1)
	q.held = append(q.held, h)
	h.timer = time.AfterFunc(min(maxHold, time.Duration(q.visibility)*time.Second/4), func() {
		q.mu.Lock()
		held := remove(&q.held, h)
		q.mu.Unlock()
		if held {
			q.handBack(h.msg)
			q.running.Done()
		}
	})
}

// attrPriorReceipts, on a copy that handBack sent, counts the receipts of
// the messages it replaces that were attempts: a delivery's Attempt is it
// plus the copy's own ApproximateReceiveCount.
const attrPriorReceipts = "imgrec-prior-receipts"

// receipts is how many times msg has been received as an attempt: this
// receipt and those before it, of msg and of the messages it replaced.
func receipts(msg types.Message) int {
	n, _ := strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	n = max(n, 1)
	if a, ok := msg.MessageAttributes[attrPriorReceipts]; ok {
		prior, _ := strconv.Atoi(aws.ToString(a.StringValue))
		n += max(prior, 0)
	}
	return n
}

// handBack returns msg, received for nobody, to the queue at once, as a
// copy that carries its receipts so far but not this one, and deletes
// msg. A receipt nobody used is no attempt: the lingering long polls of
// draining workers may each take a message that arrives as they close and
// hand it on to the next (a dozen times in a second with a few workers),
// and counted, that would dead-letter a request no worker ever tried.
// Should the copy fail, msg is made visible again instead, one receipt
// higher; should the delete fail, a second copy is worked on too, which
// results being stored idempotently makes harmless.
func (q *Queue) handBack(msg types.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &q.url, MessageBody: msg.Body,
		MessageAttributes: map[string]types.MessageAttributeValue{attrPriorReceipts: {
			DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(receipts(msg) - 1)),
		}},
	})
	if err != nil {
		q.log.Warn("sqsq: handing back a message as a copy failed; making it visible again", "queue", q.name, "err", err)
		_, err = q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &q.url, ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 0,
		})
		if err != nil {
			q.log.Warn("sqsq: handing back a message failed; it comes back after the visibility timeout", "queue", q.name, "err", err)
		}
		return
	}
	if _, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.url, ReceiptHandle: msg.ReceiptHandle}); err != nil {
		q.log.Warn("sqsq: deleting a message handed back as a copy failed; both will be worked on", "queue", q.name, "err", err)
	}
}

// deliver turns msg into a Delivery, or settles it and returns nil.
func (q *Queue) deliver(msg types.Message) imgrec.Delivery {
	d := &delivery{q: q, receipt: aws.ToString(msg.ReceiptHandle), attempt: receipts(msg)}
	body := aws.ToString(msg.Body)
	var reason string
	if err := json.Unmarshal([]byte(body), &d.req); err != nil || d.req.ID == "" {
		d.req = imgrec.Request{ID: aws.ToString(msg.MessageId)}
		reason = fmt.Sprintf("sqsq: not a request: %.200q", body)
	} else if q.maxReceive > 0 && d.attempt >= q.maxReceive {
		reason = fmt.Sprintf("sqsq: received %d times without being settled", d.attempt)
	} else {
		return d
	}
	q.log.Warn("sqsq: dead-lettering", "queue", q.name, "id", d.req.ID, "reason", reason)
	ctx := context.Background()
	if err := d.DeadLetter(ctx, reason); err != nil {
		q.log.Error("sqsq: dead-lettering failed", "queue", q.name, "id", d.req.ID, "err", err)
		return nil
	}
	// No worker will answer, so the waiting client hears it from here.
	if d.req.ReplyTo != "" {
		resp := imgrec.Response{ID: d.req.ID, Error: reason, Attempt: d.attempt}
		if err := q.Reply(ctx, d.req.ReplyTo, resp); err != nil {
			q.log.Warn("sqsq: reply failed", "queue", q.name, "id", d.req.ID, "err", err)
		}
	}
	return nil
}

// delivery is one receipt of a request message.
type delivery struct {
	q       *Queue
	req     imgrec.Request
	receipt string
	attempt int // receipts(msg)
}

func (d *delivery) Request() imgrec.Request { return d.req }
func (d *delivery) Attempt() int            { return d.attempt }

// Extend restarts the visibility timeout.
func (d *delivery) Extend(ctx context.Context) error {
	return d.setVisibility(ctx, "extend", d.q.visibility)
}

// Nack makes the request visible again after delay (whole seconds, at most
// 12 h).
func (d *delivery) Nack(ctx context.Context, delay time.Duration) error {
	return d.setVisibility(ctx, "nack", seconds(min(max(delay, 0), maxVisibility)))
}

func (d *delivery) setVisibility(ctx context.Context, op string, secs int32) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err := d.q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &d.q.url, ReceiptHandle: &d.receipt, VisibilityTimeout: secs,
	})
	if err != nil {
		return wrapErr(err, "sqsq: %s %s in %s", op, d.req.ID, d.q.name)
	}
	return nil
}

// Ack deletes the request. SQS ignores a receipt handle that a later
// receipt replaced; the request then comes back and is worked on again,
// which is harmless because results are stored idempotently.
func (d *delivery) Ack(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err := d.q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &d.q.url, ReceiptHandle: &d.receipt})
	if err != nil {
		return wrapErr(err, "sqsq: ack %s in %s", d.req.ID, d.q.name)
	}
	return nil
}

// remove deletes x from *s and reports whether it was there.
func remove[T comparable](s *[]T, x T) bool {
	i := slices.Index(*s, x)
	if i < 0 {
		return false
	}
	*s = slices.Delete(*s, i, i+1)
	return true
}
