package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imgrec/imgrec"
)

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
