package natsq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imgrec/imgrec"
)

const (
	// settleTimeout bounds a settlement whose ctx has no deadline.
	settleTimeout = 5 * time.Second
	// maxReason keeps a dead letter well inside the server's max payload.
	maxReason = 4 << 10
)

// delivery is one delivery of a request message.
type delivery struct {
	q       *Queue
	msg     jetstream.Msg
	req     imgrec.Request
	attempt int    // the server's delivery count, plus a copy's prior deliveries (see handBack)
	seq     uint64 // stream sequence: names the request across deliveries
}

func (d *delivery) Request() imgrec.Request { return d.req }
func (d *delivery) Attempt() int            { return d.attempt }

// Extend restarts the server's ack timer (a +WPI ack, not waited for).
func (d *delivery) Extend(ctx context.Context) error {
	if err := d.msg.InProgress(); err != nil {
		return fmt.Errorf("natsq: extend %s: %w", d.req.ID, err)
	}
	return nil
}

// Ack waits for the server to confirm, so an acknowledged request is never
// redelivered.
func (d *delivery) Ack(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := d.msg.DoubleAck(ctx); err != nil {
		return unavailable(err, "natsq: ack %s", d.req.ID)
	}
	return nil
}

// Nack asks for redelivery after delay; if the Nak is lost, the visibility
// timeout brings the request back anyway.
func (d *delivery) Nack(ctx context.Context, delay time.Duration) error {
	if err := d.msg.NakWithDelay(max(delay, 0)); err != nil {
		return fmt.Errorf("natsq: nack %s: %w", d.req.ID, err)
	}
	return nil
}

// DeadLetter stores the letter, then terminates the message.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	data, err := json.Marshal(imgrec.DeadLetter{Request: d.req, Reason: reason, Attempts: d.attempt, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("natsq: dead-letter %s: %w", d.req.ID, err)
	}
	// The message ID makes the server keep one letter if a DeadLetter whose
	// Term was lost is repeated on the next delivery.
	msgID := fmt.Sprintf("%s-%d", d.q.cfg.requestStream(), d.seq)
	if _, err := d.q.js.Publish(ctx, d.q.cfg.deadSubject(), data, jetstream.WithMsgID(msgID)); err != nil {
		return unavailable(err, "natsq: dead-letter %s", d.req.ID)
	}
	// A Term sent as a request is answered once the server has dropped the
	// message, so Stats agree when DeadLetter returns; jetstream's Term does
	// not wait.
	if _, err := d.q.nc.RequestWithContext(ctx, d.msg.Reply(), []byte("+TERM "+reason)); err != nil {
		return unavailable(err, "natsq: dead-letter %s: terminate", d.req.ID)
	}
	return nil
}

// bounded gives ctx a deadline if it has none, so no settlement waits
// forever for a server that will not answer.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, settleTimeout)
}
