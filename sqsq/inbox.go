package sqsq

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imgrec/imgrec"
)

const (
	// respRetention (seconds) is how long a response waits in a response
	// queue: a live web tier reads it within one poll, so only the
	// responses of a web tier that crashed expire.
	respRetention = 300
	// inboxBuffer is how many responses an inbox holds before it stops
	// receiving.
	inboxBuffer = 256
)

// Listen creates a response queue for this process; its URL is the
// address requests carry in ReplyTo.
func (q *Queue) Listen(ctx context.Context) (imgrec.Inbox, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	name := newRespName(q.name)
	out, err := q.client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  &name,
		Attributes: map[string]string{string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(respRetention)},
	})
	if err != nil {
		return nil, wrapErr(err, "sqsq: listen: create %s", name)
	}
	pollCtx, stop := context.WithCancel(context.Background())
	ib := &inbox{q: q, name: name, url: aws.ToString(out.QueueUrl),
		ch: make(chan imgrec.Response, inboxBuffer), stop: stop, done: make(chan struct{})}
	go ib.run(pollCtx)
	q.mu.Lock()
	closed := q.closed
	if !closed {
		q.inboxes[ib] = struct{}{}
	}
	q.mu.Unlock()
	if closed {
		ib.Close()
		return nil, errClosed
	}
	return ib, nil
}

// Reply sends r to a response queue of this queue; one that no longer
// exists (its web tier closed it) is no error: the result is stored anyway.
func (q *Queue) Reply(ctx context.Context, to string, r imgrec.Response) error {
	if u, err := url.Parse(to); err != nil || u.Host == "" || !isRespName(q.name, queueNameOfURL(to)) {
		return imgrec.Errorf(imgrec.EINVALID, "sqsq: reply %s: %q is no response queue URL of %s", r.ID, to, q.name)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sqsq: reply %s: %w", r.ID, err)
	}
	if err := q.fits(body); err != nil {
		return imgrec.WrapError(imgrec.ETOOLARGE, err, "sqsq: reply %s", r.ID)
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &to, MessageBody: aws.String(string(body))})
	if err != nil && !isNoQueue(err) {
		return wrapErr(err, "sqsq: reply %s to %s", r.ID, queueNameOfURL(to))
	}
	return nil
}

// inbox is one response queue and the goroutine that receives from it.
type inbox struct {
	q    *Queue
	name string
	url  string
	ch   chan imgrec.Response
	stop context.CancelFunc
	done chan struct{} // closed when run returns
	once sync.Once
	err  error
}

func (ib *inbox) Address() string                   { return ib.url }
func (ib *inbox) Responses() <-chan imgrec.Response { return ib.ch }

// run receives until ctx ends. Its polls may be cut short: Close deletes
// the queue, so a message taken by an abandoned poll was nobody's anyway.
func (ib *inbox) run(ctx context.Context) {
	defer close(ib.done)
	log := ib.q.log
	for ctx.Err() == nil {
		out, err := ib.q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &ib.url, MaxNumberOfMessages: 10, WaitTimeSeconds: ib.q.wait,
		})
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("sqsq: receiving responses failed", "queue", ib.name, "err", err)
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		// Deleted before they are handed on: this process is their only
		// reader, and a response lost with it would have had nobody to go to.
		entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := ib.q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &ib.url, Entries: entries}); err != nil && ctx.Err() == nil {
			log.Warn("sqsq: deleting received responses failed; they may arrive twice", "queue", ib.name, "err", err)
		}
		for _, m := range out.Messages {
			var r imgrec.Response
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r); err != nil {
				log.Warn("sqsq: dropping a message that is no response", "queue", ib.name, "err", err)
				continue
			}
			select {
			case ib.ch <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Close stops receiving, closes the Responses channel and deletes the
// response queue.
func (ib *inbox) Close() error {
	ib.once.Do(func() {
		ib.stop()
		<-ib.done
		close(ib.ch)
		ib.q.mu.Lock()
		delete(ib.q.inboxes, ib)
		ib.q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		if _, err := ib.q.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &ib.url}); err != nil && !isNoQueue(err) {
			ib.err = wrapErr(err, "sqsq: close inbox: delete %s", ib.name)
		}
	})
	return ib.err
}
