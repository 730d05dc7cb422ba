package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/imgrec/imgrec"
)

// inboxBuffer is how many responses an inbox holds before the subscription
// itself buffers (up to nats.go's pending limits).
const inboxBuffer = 256

// Listen subscribes to a new <prefix>.reply.<id> subject.
func (q *Queue) Listen(ctx context.Context) (imgrec.Inbox, error) {
	ib := &inbox{
		q:       q,
		address: q.cfg.replyPrefix() + nuid.Next(),
		ch:      make(chan imgrec.Response, inboxBuffer),
		done:    make(chan struct{}),
	}
	sub, err := q.nc.Subscribe(ib.address, ib.receive)
	if err != nil {
		return nil, unavailable(err, "natsq: listen on %s", ib.address)
	}
	ib.sub = sub
	// The server must know the subscription before requests name it, or
	// the first responses could go nowhere.
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := q.nc.FlushWithContext(ctx); err != nil {
		sub.Unsubscribe()
		return nil, unavailable(err, "natsq: listen on %s", ib.address)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		sub.Unsubscribe()
		return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "natsq: listen: queue closed")
	}
	q.inboxes[ib] = struct{}{}
	return ib, nil
}

// Reply publishes r to an inbox's address; nobody listening is no error.
func (q *Queue) Reply(ctx context.Context, to string, r imgrec.Response) error {
	id, ok := strings.CutPrefix(to, q.cfg.replyPrefix())
	if !ok || id == "" || strings.ContainsAny(id, ".*> \t\r\n") {
		return imgrec.Errorf(imgrec.EINVALID, "natsq: reply %s: %q is no inbox address of this queue", r.ID, to)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("natsq: reply %s: %w", r.ID, err)
	}
	if err := q.fits(data); err != nil {
		return imgrec.WrapError(imgrec.ETOOLARGE, err, "natsq: reply %s", r.ID)
	}
	if err := q.nc.Publish(to, data); err != nil {
		return unavailable(err, "natsq: reply %s", r.ID)
	}
	return nil
}

type inbox struct {
	q       *Queue
	address string
	sub     *nats.Subscription
	ch      chan imgrec.Response
	done    chan struct{} // closed first by Close, to free a blocked receive

	once   sync.Once
	mu     sync.Mutex
	closed bool
}

func (ib *inbox) Address() string                   { return ib.address }
func (ib *inbox) Responses() <-chan imgrec.Response { return ib.ch }

// receive runs on the subscription's goroutine; while the channel is full it
// blocks, and nats.go buffers behind it.
func (ib *inbox) receive(m *nats.Msg) {
	var r imgrec.Response
	if err := json.Unmarshal(m.Data, &r); err != nil {
		ib.q.log.Warn("natsq: dropping a reply that is no response", "inbox", ib.address, "err", err)
		return
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if ib.closed {
		return
	}
	select {
	case ib.ch <- r:
	case <-ib.done:
	}
}

// Close unsubscribes and closes the Responses channel.
func (ib *inbox) Close() error {
	var err error
	ib.once.Do(func() {
		close(ib.done)
		err = ib.sub.Unsubscribe()
		ib.mu.Lock()
		ib.closed = true
		close(ib.ch)
		ib.mu.Unlock()
		ib.q.mu.Lock()
		delete(ib.q.inboxes, ib)
		ib.q.mu.Unlock()
	})
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("natsq: close inbox %s: %w", ib.address, err)
	}
	return nil
}
