package inmem

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/imgrec/imgrec"
)

// Receive waits for the next visible request until ctx ends, and then
// returns ctx.Err() at once. A request on its MaxDeliver-th delivery is
// dead-lettered here, and its ReplyTo told why, instead of handed out.
func (q *Queue) Receive(ctx context.Context) (imgrec.Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := q.check(ctx, "receive"); err != nil {
			return nil, err
		}
		d, next, changed := q.b.take(q)
		switch {
		case d != nil && d.reason != "":
			q.replyBackstop(ctx, d)
			continue
		case d != nil:
			return d, nil
		}
		if err := wait(ctx, q.done, changed, next); err != nil {
			return nil, err
		}
	}
}

// wait waits until ctx ends (returning its error), the handle closes,
// changed is closed, or the time next (if not zero) comes.
func wait(ctx context.Context, done, changed <-chan struct{}, next time.Time) error {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
	case <-changed:
	case <-timer:
	}
	return nil
}

// take hands out the oldest visible request. With none, it returns when the
// next in-flight one becomes visible (zero if none will), and the channel
// closed when a request may become visible sooner. A request past
// MaxDeliver is dead-lettered, and returned with the reason.
func (b *broker) take(q *Queue) (d *delivery, next time.Time, changed <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for i, m := range b.messages {
		if m.visibleAt.After(now) {
			if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
			continue
		}
		b.serial++
		m.attempts++
		m.receipt = b.serial
		m.visibleAt = now.Add(b.cfg.Visibility)
		d = &delivery{q: q, m: m, receipt: m.receipt, req: m.request(), attempt: m.attempts}
		if m.attempts >= b.cfg.MaxDeliver {
			d.reason = fmt.Sprintf("inmem: delivered %d times without being settled", m.attempts)
			b.bury(i, d.reason)
		}
		return d, time.Time{}, nil
	}
	return nil, next, b.changed
}

// replyBackstop tells the client of a request the backstop dead-lettered.
func (q *Queue) replyBackstop(ctx context.Context, d *delivery) {
	if d.req.ReplyTo == "" {
		return
	}
	resp := imgrec.Response{ID: d.req.ID, Error: d.reason, Attempt: d.attempt}
	q.Reply(context.WithoutCancel(ctx), d.req.ReplyTo, resp) // nobody listening is no error; a bad address is the sender's
}

// bury moves message i to the dead letters; b.mu must be held.
func (b *broker) bury(i int, reason string) {
	m := b.messages[i]
	letter := imgrec.DeadLetter{Reason: reason, Attempts: m.attempts, At: time.Now().UTC()}
	letter.Request = m.request()
	data, err := json.Marshal(letter)
	if err != nil {
		panic(fmt.Sprintf("inmem: encoding a dead letter: %v", err))
	}
	b.messages = slices.Delete(b.messages, i, i+1)
	b.dead = append(b.dead, data)
}

// request decodes a copy of m's request.
func (m *message) request() imgrec.Request {
	var r imgrec.Request
	if err := json.Unmarshal(m.data, &r); err != nil {
		panic(fmt.Sprintf("inmem: a request this queue encoded does not decode: %v", err)) // a bug here, not the caller's
	}
	return r
}

// delivery is one delivery of a request.
type delivery struct {
	q       *Queue
	m       *message
	receipt uint64
	req     imgrec.Request
	attempt int
	reason  string // why Receive's backstop dead-lettered it; "" for a delivery handed out
}

func (d *delivery) Request() imgrec.Request { return d.req }
func (d *delivery) Attempt() int            { return d.attempt }

// Extend restarts the visibility timeout.
func (d *delivery) Extend(ctx context.Context) error {
	return d.settle(ctx, "extend", func(b *broker, _ int) {
		d.m.visibleAt = time.Now().Add(b.cfg.Visibility)
	})
}

// Ack removes the request.
func (d *delivery) Ack(ctx context.Context) error {
	return d.settle(ctx, "ack", func(b *broker, i int) {
		b.messages = slices.Delete(b.messages, i, i+1)
	})
}

// Nack makes the request visible again after delay.
func (d *delivery) Nack(ctx context.Context, delay time.Duration) error {
	return d.settle(ctx, "nack", func(b *broker, _ int) {
		d.m.visibleAt = time.Now().Add(max(delay, 0))
		b.signal()
	})
}

// DeadLetter moves the request to the dead letters with reason.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	return d.settle(ctx, "dead-letter", func(b *broker, i int) {
		b.bury(i, reason)
	})
}

// settle applies f to the delivery's request if this is still its latest
// delivery; otherwise the request was settled, purged or delivered again
// (after the visibility timeout), and the error is ENOTFOUND.
func (d *delivery) settle(ctx context.Context, op string, f func(b *broker, i int)) error {
	op = op + " " + d.req.ID
	if err := d.q.check(ctx, op); err != nil {
		return err
	}
	b := d.q.b
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.messages, d.m)
	if i < 0 || d.m.receipt != d.receipt {
		return imgrec.Errorf(imgrec.ENOTFOUND, "inmem: %s: delivery %d is no longer current: the request was settled, purged or delivered again", op, d.attempt)
	}
	f(b, i)
	return nil
}
