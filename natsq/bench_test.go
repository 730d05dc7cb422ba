package natsq_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/natsq"
)

// BenchmarkRoundTrip measures one request's life on the embedded server
// through a TCP client, as a worker process sees it: Send, Receive, Ack.
func BenchmarkRoundTrip(b *testing.B) {
	q, err := natsq.Embedded(natsq.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	worker, err := natsq.Dial(q.URL(), natsq.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer worker.Close()
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		if err := q.Send(ctx, imgrec.Request{ID: strconv.Itoa(i), Key: "test_0.JPEG", Sent: time.Now()}); err != nil {
			b.Fatal(err)
		}
		d, err := worker.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
