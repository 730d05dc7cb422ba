package sqsq

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imgrec/imgrec"
)

const (
	// maxReason keeps a dead letter far inside the message size limit.
	maxReason = 4 << 10
	// maxScan bounds how many letters DeadLetters reads to find the
	// oldest: SQS lists a queue in no particular order.
	maxScan = 1000
	// scanVisibility hides the letters already read while a scan goes on.
	scanVisibility = 30
)

// DeadLetter sends the letter to the dead-letter queue, then deletes the
// request. Should the delete fail, the request comes back and may be
// dead-lettered twice.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "")
	}
	body, err := json.Marshal(imgrec.DeadLetter{Request: d.req, Reason: reason, Attempts: d.attempt, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("sqsq: dead-letter %s: %w", d.req.ID, err)
	}
	q := d.q
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.dlqURL, MessageBody: aws.String(string(body))}); err != nil {
		return wrapErr(err, "sqsq: dead-letter %s to %s", d.req.ID, queueNameOfURL(q.dlqURL))
	}
	if _, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.url, ReceiptHandle: &d.receipt}); err != nil {
		return wrapErr(err, "sqsq: dead-letter %s: delete from %s", d.req.ID, q.name)
	}
	return nil
}

// DeadLetters lists up to max letters, oldest first, without removing
// them: it receives the dead-letter queue's visible messages (up to
// maxScan), then makes them visible again. Letters that another listing
// holds meanwhile are missed.
func (q *Queue) DeadLetters(ctx context.Context, max int) ([]imgrec.DeadLetter, error) {
	if max <= 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "sqsq: dead letters of %s: max %d: want at least 1", q.name, max)
	}
	dlq := queueNameOfURL(q.dlqURL)
	c, err := counts(ctx, q.client, q.dlqURL)
	if err != nil {
		return nil, wrapErr(err, "sqsq: dead letters in %s", dlq)
	}
	var letters []imgrec.DeadLetter
	var receipts []*string
	defer func() { q.release(receipts) }()
	for len(letters) < min(c.Visible, maxScan) {
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            &q.dlqURL,
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     1, // a long poll asks every SQS server, a short one only some
			VisibilityTimeout:   scanVisibility,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameSentTimestamp,
			},
		})
		if err != nil {
			return nil, wrapErr(err, "sqsq: dead letters in %s", dlq)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			receipts = append(receipts, m.ReceiptHandle)
			letters = append(letters, q.letter(m))
		}
	}
	slices.SortStableFunc(letters, func(a, b imgrec.DeadLetter) int { return a.At.Compare(b.At) })
	return letters[:min(len(letters), max)], nil
}

// letter reads a dead-letter queue message: a letter DeadLetter wrote, or a
// request the redrive policy moved there as it was.
func (q *Queue) letter(m types.Message) imgrec.DeadLetter {
	body := []byte(aws.ToString(m.Body))
	var dl imgrec.DeadLetter
	if err := json.Unmarshal(body, &dl); err == nil && dl.Request.ID != "" {
		return dl
	}
	// SQS does not say when it moved a message; when it was sent is the
	// nearest it tells.
	ms, _ := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
	sent := time.UnixMilli(ms).UTC()
	var req imgrec.Request
	if err := json.Unmarshal(body, &req); err == nil && req.ID != "" {
		return imgrec.DeadLetter{Request: req, Attempts: q.maxReceive, At: sent,
			Reason: fmt.Sprintf("sqsq: moved by the redrive policy of %s after %d receives", q.name, q.maxReceive)}
	}
	return imgrec.DeadLetter{Request: imgrec.Request{ID: aws.ToString(m.MessageId)}, At: sent,
		Reason: fmt.Sprintf("sqsq: not a request: %.200q", body)}
}

// release makes the messages of a listing visible again.
func (q *Queue) release(receipts []*string) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	for batch := range slices.Chunk(receipts, 10) {
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(batch))
		for i, r := range batch {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: r}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &q.dlqURL, Entries: entries})
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("%d of %d failed: %s", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
		}
		if err != nil {
			q.log.Warn("sqsq: releasing listed dead letters failed; they reappear after the scan's visibility timeout",
				"queue", queueNameOfURL(q.dlqURL), "visibility_seconds", scanVisibility, "err", err)
		}
	}
}
