package natsq_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/natsq"
)

// BenchmarkRoundTrip measures one request's life on the embedded server
// through a TCP client, as a worker process sees it: Send, Receive, Ack.
func BenchmarkRoundTrip(b *testing.B) {
	q := mustEmbedded(b, natsq.Config{DataDir: b.TempDir()})
	defer q.Close()
	worker := mustDial(b, q.URL(), natsq.Config{})
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

// BenchmarkReceiveCancel measures how soon a Receive waiting through a TCP
// client returns once its ctx ends (ms-late/op), a promise the tests do not
// time.
func BenchmarkReceiveCancel(b *testing.B) {
	q := mustEmbedded(b, natsq.Config{DataDir: b.TempDir()})
	defer q.Close()
	worker := mustDial(b, q.URL(), natsq.Config{})
	defer worker.Close()
	conformance.BenchmarkReceiveCancel(b, worker, 20*time.Millisecond)
}
