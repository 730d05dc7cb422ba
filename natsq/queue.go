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
	"encoding/json"
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

// setup creates or updates the streams and the consumer. It runs again when
// they vanish, e.g. after an external server restarted without its store.
func (q *Queue) setup(ctx context.Context) error {
	requests, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      q.cfg.requestStream(),
		Subjects:  []string{q.cfg.requestSubject()},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
	})
	if err != nil {
		return unavailable(err, "natsq: create stream %s", q.cfg.requestStream())
	}
	dead, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     q.cfg.deadStream(),
		Subjects: []string{q.cfg.deadSubject()},
		Storage:  jetstream.FileStorage,
		MaxMsgs:  maxDeadLetters,
		Discard:  jetstream.DiscardOld,
	})
	if err != nil {
		return unavailable(err, "natsq: create stream %s", q.cfg.deadStream())
	}
	consumer, err := q.js.CreateOrUpdateConsumer(ctx, q.cfg.requestStream(), jetstream.ConsumerConfig{
		Durable:       q.cfg.consumerName(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.Visibility,
		MaxDeliver:    q.cfg.MaxDeliver,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		return unavailable(err, "natsq: create consumer %s", q.cfg.consumerName())
	}
	q.mu.Lock()
	q.requests, q.dead, q.consumer = requests, dead, consumer
	q.mu.Unlock()
	return nil
}

// handles returns the current stream and consumer handles.
func (q *Queue) handles() (requests, dead jetstream.Stream, consumer jetstream.Consumer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.requests, q.dead, q.consumer
}

// healed reports whether err means the streams or consumer are gone and
// setup recreated them, so the failed operation is worth one more try.
func (q *Queue) healed(ctx context.Context, err error) bool {
	if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrConsumerNotFound) &&
		!errors.Is(err, jetstream.ErrConsumerDeleted) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		return false
	}
	if err := q.setup(ctx); err != nil {
		q.log.Warn("natsq: recreating streams failed", "err", err)
		return false
	}
	q.log.Info("natsq: recreated streams", "prefix", q.cfg.Prefix)
	return true
}

// URL is where other processes Dial this queue's server.
func (q *Queue) URL() string { return q.url }

// Send enqueues r once the server has stored it.
func (q *Queue) Send(ctx context.Context, r imgrec.Request) error {
	if r.ID == "" || r.Key == "" {
		return imgrec.Errorf(imgrec.EINVALID, "natsq: send: a request needs an ID and a key (got %q, %q)", r.ID, r.Key)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("natsq: send %s: %w", r.ID, err)
	}
	if err := q.fits(data); err != nil {
		return imgrec.WrapError(imgrec.ETOOLARGE, err, "natsq: send %s", r.ID)
	}
	_, err = q.js.Publish(ctx, q.cfg.requestSubject(), data)
	if err != nil && q.healed(ctx, err) {
		_, err = q.js.Publish(ctx, q.cfg.requestSubject(), data)
	}
	if err != nil {
		return unavailable(err, "natsq: send %s", r.ID)
	}
	return nil
}

// fits checks a message against the server's max_payload, which the server
// would enforce by closing the connection.
func (q *Queue) fits(data []byte) error {
	if limit := q.nc.MaxPayload(); int64(len(data)) > limit {
		return fmt.Errorf("message of %d bytes exceeds the server's max payload of %d bytes", len(data), limit)
	}
	return nil
}

// Stats costs two small requests to the server.
func (q *Queue) Stats(ctx context.Context) (imgrec.QueueStats, error) {
	_, dead, consumer := q.handles()
	ci, err := consumer.Info(ctx)
	if err != nil && q.healed(ctx, err) {
		_, dead, consumer = q.handles()
		ci, err = consumer.Info(ctx)
	}
	if err != nil {
		return imgrec.QueueStats{}, unavailable(err, "natsq: stats of %s", q.cfg.consumerName())
	}
	di, err := dead.Info(ctx)
	if err != nil {
		return imgrec.QueueStats{}, unavailable(err, "natsq: stats of %s", q.cfg.deadStream())
	}
	// A request waiting for redelivery after a Nack or a missed ack stays
	// in NumAckPending (NumRedelivered is a subset of it), so each unfinished
	// request is counted once. NumPending trails Send by a moment: the
	// server signals its consumers after acknowledging the publication.
	return imgrec.QueueStats{
		Waiting:     int(ci.NumPending),
		InFlight:    ci.NumAckPending,
		DeadLetters: int(di.State.Msgs),
	}, nil
}

// Purge empties both streams, in-flight requests included.
func (q *Queue) Purge(ctx context.Context) error {
	requests, dead, _ := q.handles()
	if err := requests.Purge(ctx); err != nil {
		return unavailable(err, "natsq: purge %s", q.cfg.requestStream())
	}
	if err := dead.Purge(ctx); err != nil {
		return unavailable(err, "natsq: purge %s", q.cfg.deadStream())
	}
	return nil
}

// DeadLetters reads the dead-letter stream from its start, one request per
// letter.
func (q *Queue) DeadLetters(ctx context.Context, max int) ([]imgrec.DeadLetter, error) {
	if max <= 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "natsq: dead letters: max %d: want at least 1", max)
	}
	_, dead, _ := q.handles()
	var out []imgrec.DeadLetter
	for seq := uint64(1); len(out) < max; {
		m, err := dead.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(q.cfg.deadSubject()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, unavailable(err, "natsq: dead letter at %d", seq)
		}
		var dl imgrec.DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			return nil, fmt.Errorf("natsq: dead letter %d: %w", m.Sequence, err)
		}
		out = append(out, dl)
		seq = m.Sequence + 1
	}
	return out, nil
}

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
