package natsq

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/imgrec/imgrec"
)

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
