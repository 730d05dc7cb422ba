// Package natsq is the imgrec.Queue on NATS JetStream, against an external
// server (Dial) or one started in this process (Embedded).
//
// Requests go to a work-queue stream (<prefix>_requests, subject
// <prefix>.requests) read through one durable pull consumer that every
// worker of every process shares (<prefix>_workers): explicit acks, AckWait
// = the visibility timeout. Dead letters are JSON imgrec.DeadLetter values
// on a second stream (<prefix>_dead). Responses are plain core NATS messages
// on <prefix>.reply.<id>, lost when nobody listens.
package natsq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imgrec/imgrec"
)

const (
	// maxAckPending is far above any number of workers: requests waiting
	// out a Nack delay count as pending too, and reaching the limit would
	// stop all deliveries.
	maxAckPending = 100_000
	// maxDeadLetters bounds the dead-letter stream; the oldest go first.
	maxDeadLetters = 100_000
	// setupTimeout bounds connecting and creating the streams.
	setupTimeout = 10 * time.Second
)

// Queue is an imgrec.Queue on NATS JetStream, safe for concurrent use.
type Queue struct {
	cfg Config
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
	srv *server.Server // the server Embedded started; nil after Dial
	log *slog.Logger

	mu       sync.Mutex
	requests jetstream.Stream
	dead     jetstream.Stream
	consumer jetstream.Consumer
	inboxes  map[*inbox]struct{}
	closed   bool

	abandoned sync.WaitGroup // cancelled Receives handing back late messages
}

var _ imgrec.Queue = (*Queue)(nil)

// Dial connects to the NATS server at url (e.g. nats://127.0.0.1:4222) and
// creates the queue's streams and consumer unless they exist. The connection
// survives server restarts: it reconnects forever and Receive resumes.
func Dial(url string, cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, connectOptions(cfg)...)
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "natsq: connect to %s", url)
	}
	return open(nc, url, cfg)
}

func connectOptions(cfg Config) []nats.Option {
	log := cfg.Logger
	return []nats.Option{
		nats.Name(cfg.Prefix),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil { // our own Close
				log.Debug("nats disconnected")
				return
			}
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrl())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats error", "subject", subject, "err", err)
		}),
	}
}

// open finishes a Queue on a connection; it closes nc if it fails.
func open(nc *nats.Conn, url string, cfg Config) (*Queue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsq: jetstream: %w", err)
	}
	q := &Queue{cfg: cfg, url: url, nc: nc, js: js, log: cfg.Logger, inboxes: make(map[*inbox]struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := q.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
}

// URL is where other processes Dial this queue's server.
func (q *Queue) URL() string { return q.url }

// Close closes the inboxes and the connection, and shuts the server down if
// Embedded started it.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	inboxes := q.inboxes
	q.inboxes = nil
	q.mu.Unlock()

	for ib := range inboxes {
		ib.Close()
	}
	q.abandoned.Wait()
	q.nc.Close() // flushes what is buffered, e.g. a last Nack
	if q.srv != nil {
		q.srv.Shutdown()
		q.srv.WaitForShutdown()
	}
	return nil
}

// unavailable wraps err with the operation, coded EUNAVAILABLE when the
// server is unreachable or not answering.
func unavailable(err error, format string, args ...any) error {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrNoServers) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return imgrec.WrapError(imgrec.EUNAVAILABLE, err, format, args...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
