package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imgrec/imgrec"
)

const (
	// A waiting Receive keeps one pull request open on the server, renewed
	// every pullExpiry. The server sends heartbeats meanwhile; two missed
	// ones mean the pull was lost (the server restarted) and Receive asks
	// again. After a reconnect, jetstream renews the pull by itself.
	pullExpiry    = 30 * time.Second
	pullHeartbeat = 2 * time.Second
	// A cancelled Receive waits up to abandonWait for its pull to be
	// dropped (a round trip); the drain goes on for up to drainWait.
	abandonWait = 200 * time.Millisecond
	drainWait   = 5 * time.Second
)

// Receive waits for the next request until ctx ends and then returns
// ctx.Err() at once. Requests that cannot be handed out are settled here: a
// message that is no JSON request, and one on its MaxDeliver-th delivery
// (after which the server would never deliver it again), are dead-lettered.
func (q *Queue) Receive(ctx context.Context) (imgrec.Delivery, error) {
	for {
		msg, err := q.next(ctx)
		if err != nil {
			return nil, err
		}
		d, err := q.deliver(ctx, msg)
		if d != nil || err != nil {
			return d, err
		}
	}
}

// next waits for one message. Each call opens its own pull for exactly one
// message: a prefetched request would wait in a busy worker's buffer, its
// visibility timeout running, while idle workers see nothing.
func (q *Queue) next(ctx context.Context) (jetstream.Msg, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, _, consumer := q.handles()
		it, err := consumer.Messages(jetstream.PullMaxMessages(1), jetstream.StopAfter(1),
			jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
		if err != nil {
			return nil, unavailable(err, "natsq: receive")
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err == nil {
			it.Stop()
			return msg, nil
		}
		q.abandon(it)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			// The pull was lost, or the server no longer knows the consumer
			// (it restarted without its store) and drops every pull.
			if _, err := consumer.Info(ctx); err != nil {
				q.healed(ctx, err)
			}
			continue
		case q.healed(ctx, err):
			continue
		}
		return nil, unavailable(err, "natsq: receive")
	}
}

// abandon closes a pull that ended without a message, and waits (briefly)
// until the server has dropped it, so that a request sent after Receive
// returns does not go to the dead pull. A message the server sent just
// before is caught by the drain and handed back (see handBack) rather than
// left invisible for the visibility timeout; one
// on its MaxDeliver-th delivery is dead-lettered instead, as Receive would,
// since the server would never deliver it again.
func (q *Queue) abandon(it jetstream.MessagesContext) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		it.Stop()
		return
	}
	q.abandoned.Add(1)
	q.mu.Unlock()
	it.Drain()
	drained := make(chan struct{})
	go func() {
		defer q.abandoned.Done()
		defer close(drained)
		for {
			msg, err := it.Next(jetstream.NextMaxWait(drainWait))
			if err != nil {
				it.Stop()
				return
			}
			// What no worker could take (its last delivery, or no request)
			// is settled here, as Receive would; the rest goes back.
			d, _ := q.deliver(context.Background(), msg)
			if d == nil {
				continue
			}
			q.handBack(d.(*delivery))
		}
	}()
	select {
	case <-drained:
	case <-time.After(abandonWait):
	}
}

// headerPriorDeliveries, on a copy that handBack published, counts the
// deliveries of the messages it replaces that were attempts: a delivery's
// Attempt is it plus the copy's own NumDelivered.
const headerPriorDeliveries = "Imgrec-Prior-Deliveries"

// handBack returns a request that reached a cancelled Receive's pull to the
// queue, as a copy that carries its deliveries so far but not this one,
// and acknowledges the original. A delivery nobody used is no attempt:
// when many workers drain at once, a request sent at that moment may meet
// several of their abandoned pulls in turn, and counted, that could give
// up on a request no worker tried. Should the copy fail, the original is
// handed back with a Nak instead, one delivery higher; should the ack
// fail, the original comes back too and is worked on twice, which results
// being stored idempotently makes harmless.
func (q *Queue) handBack(d *delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	copied := &nats.Msg{Subject: q.cfg.requestSubject(), Data: d.msg.Data(), Header: nats.Header{}}
	copied.Header.Set(headerPriorDeliveries, strconv.Itoa(d.attempt-1))
	if _, err := q.js.PublishMsg(ctx, copied); err != nil {
		q.log.Warn("natsq: handing back a message as a copy failed; handing it back as it is", "id", d.req.ID, "err", err)
		if err := d.msg.Nak(); err != nil {
			q.log.Warn("natsq: handing back a message after a cancelled receive failed", "id", d.req.ID, "err", err)
		}
		return
	}
	if err := d.msg.DoubleAck(ctx); err != nil {
		q.log.Warn("natsq: acknowledging a message handed back as a copy failed; both will be worked on", "id", d.req.ID, "err", err)
	}
}

// deliver turns msg into a Delivery, or settles it and returns nil.
func (q *Queue) deliver(ctx context.Context, msg jetstream.Msg) (imgrec.Delivery, error) {
	md, err := msg.Metadata()
	if err != nil {
		msg.Nak()
		return nil, fmt.Errorf("natsq: receive: %w", err)
	}
	d := &delivery{q: q, msg: msg, attempt: int(md.NumDelivered), seq: md.Sequence.Stream}
	if prior, err := strconv.Atoi(msg.Headers().Get(headerPriorDeliveries)); err == nil && prior > 0 {
		d.attempt += prior
	}
	var reason string
	if err := json.Unmarshal(msg.Data(), &d.req); err != nil {
		reason = fmt.Sprintf("natsq: not a request (%v): %.200q", err, msg.Data())
	} else if d.attempt >= q.cfg.MaxDeliver {
		reason = fmt.Sprintf("natsq: delivered %d times without being settled", d.attempt)
	} else {
		return d, nil
	}
	q.log.Warn("natsq: dead-lettering", "id", d.req.ID, "seq", d.seq, "reason", reason)
	ctx = context.WithoutCancel(ctx)
	if err := d.DeadLetter(ctx, reason); err != nil {
		q.log.Error("natsq: dead-lettering failed", "id", d.req.ID, "seq", d.seq, "err", err)
		return nil, nil
	}
	// No worker will answer, so the waiting client hears it from here.
	if d.req.ReplyTo != "" {
		resp := imgrec.Response{ID: d.req.ID, Error: reason, Attempt: d.attempt}
		if err := q.Reply(ctx, d.req.ReplyTo, resp); err != nil {
			q.log.Warn("natsq: reply failed", "id", d.req.ID, "err", err)
		}
	}
	return nil, nil
}
