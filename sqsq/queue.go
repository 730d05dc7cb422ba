// Package sqsq is the imgrec.Queue on Amazon SQS (or an SQS-compatible
// endpoint).
//
// A queue NAME is three kinds of SQS standard queues, made by CreateQueues
// (`imgrec infra up`) and removed by DeleteQueues:
//
//   - NAME, the request queue. Its visibility timeout is the Queue's
//     (ReceiveMessage asks for it on every call, so Config.Visibility wins
//     over the queue's attribute); Extend and Nack change it per message;
//     Attempt is the message's ApproximateReceiveCount, plus the receipts
//     of the messages it replaced (a message received for nobody is handed
//     back as a copy, and that receipt is not counted).
//   - NAME-dlq, the dead-letter queue. DeadLetter sends an imgrec.DeadLetter
//     (request, reason, attempts, time) there and deletes the request. The
//     request queue's redrive policy is only a backstop: Receive itself
//     dead-letters a request on its maxReceiveCount-th receipt, with a
//     reason, as SQS would move it without one on the next.
//   - NAME-resp-<16 hex digits>, one response queue per web-tier process:
//     Listen creates it, its URL is the inbox address, Reply sends to it
//     and Inbox.Close deletes it. One queue per listener, rather than one
//     shared queue with correlation ids, means no web tier ever receives
//     (and must hand back) another's responses. A crashed web tier's queue
//     stays until DeleteQueues removes it; its messages expire after
//     respRetention.
//
// SQS keeps serving a long poll whose client went away, and a message it
// takes then stays invisible for the visibility timeout (see
// aws/aws-sdk-go-v2#2068). So a Receive whose ctx ends returns at once but
// leaves its ReceiveMessage running; the next Receive takes over the same
// poll, a message that arrives with nobody waiting is held for a moment
// and then handed back, and Close waits for the polls still running, up to
// Config.WaitTime.
package sqsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/imgrec/imgrec"
)

// Defaults and limits.
const (
	// DefaultWaitTime is the long poll of a waiting Receive: one request per
	// idle receiver every 5 s costs next to nothing, and bounds Close.
	DefaultWaitTime = 5 * time.Second
	// maxWaitTime is the longest long poll SQS allows.
	maxWaitTime = 20 * time.Second
	// maxVisibility is the longest visibility timeout SQS allows (12 h).
	maxVisibility = 12 * time.Hour
	// defaultMaxMessageSize applies when the queue does not say its own.
	defaultMaxMessageSize = 256 << 10
	// settleTimeout bounds a call whose ctx has no deadline.
	settleTimeout = 10 * time.Second
)

// Config tunes a Queue.
type Config struct {
	// Visibility is how long a received request stays invisible to other
	// receivers; SQS counts whole seconds, so it is rounded up. Zero: the
	// queue's VisibilityTimeout attribute.
	Visibility time.Duration
	// WaitTime is the long poll of Receive and of inboxes, 1 s to 20 s in
	// whole seconds (default DefaultWaitTime). Close may wait this long.
	WaitTime time.Duration
	// Logger receives the messages Receive settles by itself.
	Logger *slog.Logger
}

// Queue is an imgrec.Queue on SQS, safe for concurrent use.
type Queue struct {
	client     *sqs.Client
	name       string
	url        string
	dlqURL     string
	visibility int32 // seconds
	wait       int32 // seconds
	maxReceive int   // the redrive policy's maxReceiveCount; 0 without one
	maxSize    int   // the request queue's MaximumMessageSize
	log        *slog.Logger

	mu      sync.Mutex
	waiters []*waiter  // Receives waiting, oldest first
	polls   int        // ReceiveMessage calls in flight for them
	held    []*heldMsg // messages received while nobody waited
	inboxes map[*inbox]struct{}
	closed  bool
	running sync.WaitGroup // polls and hand-backs
}

var (
	_ imgrec.Queue  = (*Queue)(nil)
	_ imgrec.Pinger = (*Queue)(nil)
)

// Open opens the request queue name and its dead-letter queue, which must
// exist (see CreateQueues). The dead-letter queue is the target of the
// request queue's redrive policy, or NAME-dlq without one.
func Open(ctx context.Context, client *sqs.Client, name string, cfg Config) (*Queue, error) {
	if err := checkName("open", name); err != nil {
		return nil, err
	}
	if cfg.Visibility < 0 || cfg.Visibility > maxVisibility {
		return nil, imgrec.Errorf(imgrec.EINVALID, "sqsq: open %s: visibility %v: want 1s to 12h", name, cfg.Visibility)
	}
	if cfg.WaitTime == 0 {
		cfg.WaitTime = DefaultWaitTime
	}
	if cfg.WaitTime < time.Second || cfg.WaitTime > maxWaitTime {
		return nil, imgrec.Errorf(imgrec.EINVALID, "sqsq: open %s: wait time %v: want 1s to 20s", name, cfg.WaitTime)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	url, err := queueURL(ctx, client, name)
	if err != nil {
		return nil, err
	}
	attrs, err := attributes(ctx, client, url, types.QueueAttributeNameVisibilityTimeout,
		types.QueueAttributeNameRedrivePolicy, types.QueueAttributeNameMaximumMessageSize)
	if err != nil {
		return nil, wrapErr(err, "sqsq: open %s", name)
	}
	q := &Queue{
		client: client, name: name, url: url,
		visibility: seconds(cfg.Visibility), wait: seconds(cfg.WaitTime),
		maxSize: defaultMaxMessageSize, log: cfg.Logger, inboxes: make(map[*inbox]struct{}),
	}
	if cfg.Visibility == 0 {
		if q.visibility, err = int32Attr(attrs, types.QueueAttributeNameVisibilityTimeout); err != nil || q.visibility < 1 {
			return nil, imgrec.Errorf(imgrec.EINVALID, "sqsq: open %s: visibility timeout %q: want at least 1 s", name, attrs[string(types.QueueAttributeNameVisibilityTimeout)])
		}
	}
	if v, ok := attrs[string(types.QueueAttributeNameMaximumMessageSize)]; ok {
		if q.maxSize, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("sqsq: open %s: MaximumMessageSize %q: %w", name, v, err)
		}
	}
	dlq := DeadLetterQueueName(name)
	if v := attrs[string(types.QueueAttributeNameRedrivePolicy)]; v != "" {
		if dlq, q.maxReceive, err = parseRedrivePolicy(v); err != nil {
			return nil, fmt.Errorf("sqsq: open %s: %w", name, err)
		}
	}
	if q.dlqURL, err = queueURL(ctx, client, dlq); err != nil {
		return nil, err
	}
	return q, nil
}

// Name is the request queue's name.
func (q *Queue) Name() string { return q.name }

// Close closes the inboxes, hands back the messages held for nobody, and
// waits for the polls still running (up to Config.WaitTime), handing back
// what they bring.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	for _, w := range q.waiters {
		w.got <- pollResult{err: errClosed}
	}
	q.waiters = nil
	held := q.held
	q.held = nil
	inboxes := q.inboxes
	q.inboxes = nil
	q.mu.Unlock()

	var errs []error
	for ib := range inboxes {
		errs = append(errs, ib.Close())
	}
	for _, h := range held {
		h.timer.Stop()
		q.handBack(h.msg)
		q.running.Done()
	}
	q.running.Wait()
	return errors.Join(errs...)
}

var errClosed = imgrec.Errorf(imgrec.EUNAVAILABLE, "sqsq: queue closed")

// Send enqueues r. A request larger than the queue's MaximumMessageSize
// (256 KiB unless raised) is refused before it is sent.
func (q *Queue) Send(ctx context.Context, r imgrec.Request) error {
	if r.ID == "" || r.Key == "" {
		return imgrec.Errorf(imgrec.EINVALID, "sqsq: send to %s: a request needs an ID and a key (got %q, %q)", q.name, r.ID, r.Key)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sqsq: send %s to %s: %w", r.ID, q.name, err)
	}
	if err := q.fits(body); err != nil {
		return imgrec.WrapError(imgrec.ETOOLARGE, err, "sqsq: send %s to %s", r.ID, q.name)
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: aws.String(string(body))})
	if err != nil {
		return wrapErr(err, "sqsq: send %s to %s", r.ID, q.name)
	}
	return nil
}

func (q *Queue) fits(body []byte) error {
	if len(body) > q.maxSize {
		return fmt.Errorf("message of %d bytes exceeds the queue's maximum of %d bytes", len(body), q.maxSize)
	}
	return nil
}

// Stats reads the approximate counts of both queues (two requests). SQS's
// counts are eventually consistent: they may trail by a minute on AWS.
// A request waiting out a Nack delay counts as in flight.
func (q *Queue) Stats(ctx context.Context) (imgrec.QueueStats, error) {
	main, err := counts(ctx, q.client, q.url)
	if err != nil {
		return imgrec.QueueStats{}, wrapErr(err, "sqsq: stats of %s", q.name)
	}
	dead, err := counts(ctx, q.client, q.dlqURL)
	if err != nil {
		return imgrec.QueueStats{}, wrapErr(err, "sqsq: stats of %s", queueNameOfURL(q.dlqURL))
	}
	return imgrec.QueueStats{
		Waiting:     main.Visible + main.Delayed,
		InFlight:    main.InFlight,
		DeadLetters: dead.total(),
	}, nil
}

// Ping reads one attribute of the request queue: what every tier may do
// (a worker may not read the dead-letter queue's counts, so not Stats).
func (q *Queue) Ping(ctx context.Context) error {
	if _, err := attributes(ctx, q.client, q.url, types.QueueAttributeNameApproximateNumberOfMessages); err != nil {
		return wrapErr(err, "sqsq: ping %s", q.name)
	}
	return nil
}

// Purge empties the request queue, in-flight requests included, and the
// dead-letter queue. SQS allows one PurgeQueue per queue every 60 s, so a
// Purge soon after another deletes what is visible by receiving it
// instead. On AWS, a purge takes up to 60 s to finish, and may take
// requests sent meanwhile with it.
func (q *Queue) Purge(ctx context.Context) error {
	for _, url := range []string{q.url, q.dlqURL} {
		_, err := q.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
		var inProgress *types.PurgeQueueInProgress
		if errors.As(err, &inProgress) {
			err = drain(ctx, q.client, url)
		}
		if err != nil {
			return wrapErr(err, "sqsq: purge %s", queueNameOfURL(url))
		}
	}
	return nil
}

// drain receives and deletes every visible message of the queue at url.
func drain(ctx context.Context, client *sqs.Client, url string) error {
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30,
		})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			return nil
		}
		entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: entries}); err != nil {
			return err
		}
	}
}

// parseRedrivePolicy reads the RedrivePolicy attribute.
func parseRedrivePolicy(v string) (dlq string, maxReceive int, err error) {
	var rp struct {
		DeadLetterTargetARN string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"` // SQS writes a number; some tools a string
	}
	if err := json.Unmarshal([]byte(v), &rp); err != nil {
		return "", 0, fmt.Errorf("redrive policy %q: %w", v, err)
	}
	if maxReceive, err = strconv.Atoi(fmt.Sprint(rp.MaxReceiveCount)); err != nil || rp.DeadLetterTargetARN == "" {
		return "", 0, fmt.Errorf("redrive policy %q: want a deadLetterTargetArn and a numeric maxReceiveCount", v)
	}
	return queueNameOfARN(rp.DeadLetterTargetARN), maxReceive, nil
}

// queueURL looks a queue up by name.
func queueURL(ctx context.Context, client *sqs.Client, name string) (string, error) {
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if isNoQueue(err) {
		return "", imgrec.WrapError(imgrec.ENOTFOUND, err, "sqsq: queue %q does not exist (run imgrec infra up)", name)
	}
	if err != nil {
		return "", wrapErr(err, "sqsq: look up queue %q", name)
	}
	return aws.ToString(out.QueueUrl), nil
}

func attributes(ctx context.Context, client *sqs.Client, url string, names ...types.QueueAttributeName) (map[string]string, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: names})
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

func int32Attr(attrs map[string]string, name types.QueueAttributeName) (int32, error) {
	n, err := strconv.ParseInt(attrs[string(name)], 10, 32)
	return int32(n), err
}

// messageCounts are a queue's approximate message counts.
type messageCounts struct{ Visible, Delayed, InFlight int }

func (c messageCounts) total() int { return c.Visible + c.Delayed + c.InFlight }

func counts(ctx context.Context, client *sqs.Client, url string) (messageCounts, error) {
	attrs, err := attributes(ctx, client, url, types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	if err != nil {
		return messageCounts{}, err
	}
	var c messageCounts
	for name, n := range map[types.QueueAttributeName]*int{
		types.QueueAttributeNameApproximateNumberOfMessages:           &c.Visible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed:    &c.Delayed,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible: &c.InFlight,
	} {
		v, err := int32Attr(attrs, name)
		if err != nil {
			return messageCounts{}, fmt.Errorf("attribute %s = %q: %w", name, attrs[string(name)], err)
		}
		*n = int(v)
	}
	return c, nil
}

// seconds rounds d up to whole seconds, as SQS counts them.
func seconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}

// bounded gives ctx a deadline if it has none, so no call waits forever for
// an endpoint that does not answer.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, settleTimeout)
}

func isNoQueue(err error) bool {
	var noQueue *types.QueueDoesNotExist
	var apiErr smithy.APIError
	return errors.As(err, &noQueue) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode() == "AWS.SimpleQueueService.NonExistentQueue"
}

// wrapErr says which operation failed, coded: ENOTFOUND for a missing
// queue, EINVALID for contents SQS refuses, EUNAVAILABLE when SQS cannot be
// reached, fails or throttles.
func wrapErr(err error, format string, args ...any) error {
	var apiErr smithy.APIError
	var netErr net.Error
	switch {
	case isNoQueue(err):
		return imgrec.WrapError(imgrec.ENOTFOUND, err, format, args...)
	case errors.As(err, &apiErr):
		switch {
		case apiErr.ErrorFault() == smithy.FaultServer, apiErr.ErrorCode() == "RequestThrottled", apiErr.ErrorCode() == "ThrottlingException":
			return imgrec.WrapError(imgrec.EUNAVAILABLE, err, format, args...)
		case apiErr.ErrorCode() == "InvalidMessageContents":
			return imgrec.WrapError(imgrec.EINVALID, err, format, args...)
		}
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return imgrec.WrapError(imgrec.EUNAVAILABLE, err, format, args...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
