package inmem

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/imgrec/imgrec"
)

// inboxPrefix starts every inbox address.
const inboxPrefix = "inmem-inbox-"

// Listen opens a new inbox. It holds any number of responses until they are
// read: Reply never blocks and never drops one while the inbox is open.
func (q *Queue) Listen(ctx context.Context) (imgrec.Inbox, error) {
	if err := q.check(ctx, "listen"); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "inmem: listen: queue closed")
	}
	b := q.b
	b.mu.Lock()
	b.serial++
	ib := &inbox{
		q:       q,
		address: fmt.Sprintf("%s%d", inboxPrefix, b.serial),
		ch:      make(chan imgrec.Response),
		more:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pumped:  make(chan struct{}),
	}
	b.inboxes[ib.address] = ib
	b.mu.Unlock()
	q.inboxes[ib] = struct{}{}
	go ib.pump()
	return ib, nil
}

// Reply hands r to the inbox at address to; an inbox closed, or never
// opened, is no error, as on a real queue nobody would hear it.
func (q *Queue) Reply(ctx context.Context, to string, r imgrec.Response) error {
	op := "reply " + r.ID
	if err := q.check(ctx, op); err != nil {
		return err
	}
	if !strings.HasPrefix(to, inboxPrefix) {
		return imgrec.Errorf(imgrec.EINVALID, "inmem: %s: %q is no inbox address of this queue", op, to)
	}
	data, err := q.b.encode(r, op)
	if err != nil {
		return err
	}
	var copied imgrec.Response // shares nothing with r, as on a real queue
	if err := json.Unmarshal(data, &copied); err != nil {
		return fmt.Errorf("inmem: %s: %w", op, err)
	}
	q.b.mu.Lock()
	ib := q.b.inboxes[to]
	q.b.mu.Unlock()
	if ib != nil {
		ib.push(copied)
	}
	return nil
}

type inbox struct {
	q       *Queue
	address string
	ch      chan imgrec.Response
	more    chan struct{} // holds a token when pending may have grown
	done    chan struct{} // closed by Close
	pumped  chan struct{} // closed when pump has closed ch
	once    sync.Once

	mu      sync.Mutex
	pending []imgrec.Response
}

func (ib *inbox) Address() string                   { return ib.address }
func (ib *inbox) Responses() <-chan imgrec.Response { return ib.ch }

func (ib *inbox) push(r imgrec.Response) {
	ib.mu.Lock()
	ib.pending = append(ib.pending, r)
	ib.mu.Unlock()
	select {
	case ib.more <- struct{}{}:
	default: // a token is there already
	}
}

// pump moves pending responses to ch, in order, until Close.
func (ib *inbox) pump() {
	defer close(ib.pumped)
	defer close(ib.ch)
	for {
		ib.mu.Lock()
		batch := ib.pending
		ib.pending = nil
		ib.mu.Unlock()
		for _, r := range batch {
			select {
			case ib.ch <- r:
			case <-ib.done:
				return
			}
		}
		select {
		case <-ib.more:
		case <-ib.done:
			return
		}
	}
}

// Close stops the inbox and closes the Responses channel before it returns;
// responses not yet read are dropped.
func (ib *inbox) Close() error {
	ib.once.Do(func() {
		b := ib.q.b
		b.mu.Lock()
		delete(b.inboxes, ib.address)
		b.mu.Unlock()
		ib.q.mu.Lock()
		delete(ib.q.inboxes, ib)
		ib.q.mu.Unlock()
		close(ib.done)
	})
	<-ib.pumped
	return nil
}
