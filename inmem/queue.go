package inmem

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxDeliver = 10
	// DefaultMaxMessageBytes is NATS's default max payload.
	DefaultMaxMessageBytes = 1 << 20
)

// Config describes one queue.
type Config struct {
	// Visibility is how long a received request stays invisible to other
	// receivers before it is delivered again.
	Visibility time.Duration
	// MaxDeliver is a backstop, as natsq's: Receive dead-letters a request
	// on its MaxDeliver-th delivery instead of handing it out, and answers
	// its ReplyTo with the reason.
	MaxDeliver int
	// MaxMessageBytes bounds a request or response as JSON, the form the
	// real backends carry it in; Send and Reply refuse a larger one with
	// ETOOLARGE. Set it low to see what a queue with a small limit (SQS:
	// 256 KiB) refuses.
	MaxMessageBytes int
}

func (c Config) withDefaults() (Config, error) {
	if c.Visibility == 0 {
		c.Visibility = imgrec.DefaultVisibility
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	switch {
	case c.Visibility < 0:
		return c, imgrec.Errorf(imgrec.EINVALID, "inmem: visibility %v: want a positive duration", c.Visibility)
	case c.MaxDeliver < 2:
		return c, imgrec.Errorf(imgrec.EINVALID, "inmem: max deliver %d: want at least 2", c.MaxDeliver)
	case c.MaxMessageBytes < 0:
		return c, imgrec.Errorf(imgrec.EINVALID, "inmem: max message bytes %d: want a positive size", c.MaxMessageBytes)
	}
	return c, nil
}

// Queue is one handle on an in-memory queue, safe for concurrent use.
// Closing it closes its inboxes and ends its waiting Receives; the queue
// and its other handles go on.
type Queue struct {
	b    *broker
	done chan struct{} // closed by Close

	mu      sync.Mutex
	inboxes map[*inbox]struct{}
	closed  bool
}

var _ imgrec.Queue = (*Queue)(nil)

// broker is the state every handle of a queue shares.
type broker struct {
	cfg Config

	mu       sync.Mutex
	messages []*message // unsettled requests, in the order sent
	dead     [][]byte   // imgrec.DeadLetter as JSON, oldest first
	inboxes  map[string]*inbox
	changed  chan struct{} // closed, and replaced, when a request may have become visible
	serial   uint64        // numbers deliveries and inboxes
}

// message is a request on the queue.
type message struct {
	data      []byte    // the request as JSON, as a real queue carries it
	visibleAt time.Time // waiting from then on, in flight before
	attempts  int
	receipt   uint64 // the latest delivery's number; earlier ones settle nothing
}

// NewQueue makes an empty queue and returns its first handle.
func NewQueue(cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &broker{cfg: cfg, inboxes: make(map[string]*inbox), changed: make(chan struct{})}
	return b.handle(), nil
}

// Connect returns a new handle on the same queue.
func (q *Queue) Connect() *Queue { return q.b.handle() }

func (b *broker) handle() *Queue {
	return &Queue{b: b, done: make(chan struct{}), inboxes: make(map[*inbox]struct{})}
}

// Close closes this handle and the inboxes it opened.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	inboxes := q.inboxes
	q.inboxes = nil
	q.mu.Unlock()
	for ib := range inboxes {
		ib.Close()
	}
	return nil
}

// check fails an operation whose ctx has ended or whose handle is closed.
func (q *Queue) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: %s: %w", op, err)
	}
	select {
	case <-q.done:
		return imgrec.Errorf(imgrec.EUNAVAILABLE, "inmem: %s: queue closed", op)
	default:
	}
	return nil
}

// encode turns v into the JSON a real queue would carry, within the limit.
func (b *broker) encode(v any, op string) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("inmem: %s: %w", op, err)
	}
	if len(data) > b.cfg.MaxMessageBytes {
		return nil, imgrec.Errorf(imgrec.ETOOLARGE, "inmem: %s: message of %d bytes exceeds the queue's maximum of %d bytes",
			op, len(data), b.cfg.MaxMessageBytes)
	}
	return data, nil
}

// signal wakes the waiting Receives; b.mu must be held.
func (b *broker) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Send enqueues r.
func (q *Queue) Send(ctx context.Context, r imgrec.Request) error {
	op := "send " + r.ID
	if err := q.check(ctx, op); err != nil {
		return err
	}
	if r.ID == "" || r.Key == "" {
		return imgrec.Errorf(imgrec.EINVALID, "inmem: send: a request needs an ID and a key (got %q, %q)", r.ID, r.Key)
	}
	data, err := q.b.encode(r, op)
	if err != nil {
		return err
	}
	b := q.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.messages = append(b.messages, &message{data: data})
	b.signal()
	return nil
}

// Stats counts the requests visible now as waiting and the others (received,
// or waiting out a Nack delay) as in flight. It is exact at once.
func (q *Queue) Stats(ctx context.Context) (imgrec.QueueStats, error) {
	if err := q.check(ctx, "stats"); err != nil {
		return imgrec.QueueStats{}, err
	}
	b := q.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	st := imgrec.QueueStats{DeadLetters: len(b.dead)}
	for _, m := range b.messages {
		if m.visibleAt.After(now) {
			st.InFlight++
		} else {
			st.Waiting++
		}
	}
	return st, nil
}

// Purge drops every request, in flight too, and every dead letter. The
// deliveries of dropped requests can settle nothing.
func (q *Queue) Purge(ctx context.Context) error {
	if err := q.check(ctx, "purge"); err != nil {
		return err
	}
	b := q.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.messages, b.dead = nil, nil
	return nil
}

// DeadLetters lists up to max dead letters, oldest first.
func (q *Queue) DeadLetters(ctx context.Context, max int) ([]imgrec.DeadLetter, error) {
	if err := q.check(ctx, "dead letters"); err != nil {
		return nil, err
	}
	if max < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "inmem: dead letters: max %d: want at least 1", max)
	}
	b := q.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var letters []imgrec.DeadLetter
	for _, data := range b.dead[:min(max, len(b.dead))] {
		var l imgrec.DeadLetter
		if err := json.Unmarshal(data, &l); err != nil {
			return nil, fmt.Errorf("inmem: dead letters: %w", err)
		}
		letters = append(letters, l)
	}
	return letters, nil
}
