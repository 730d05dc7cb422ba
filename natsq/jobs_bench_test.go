package natsq_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/natsq"
)

// BenchmarkJobLife measures what the job store adds to one request on the
// embedded server: the web tier's Create (in process) and a worker's Finish
// through a TCP client (a read and a compare-and-set), beside RoundTrip's
// Send, Receive and Ack.
func BenchmarkJobLife(b *testing.B) {
	q := mustEmbedded(b, natsq.Config{DataDir: b.TempDir()})
	defer q.Close()
	web, err := q.JobStore(0)
	if err != nil {
		b.Fatal(err)
	}
	worker, err := natsq.DialJobStore(q.URL(), natsq.JobStoreConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer worker.Close()
	ctx := b.Context()
	top := []imgrec.Prediction{{Index: 1, Label: "a"}, {Index: 2, Label: "b"}, {Index: 3, Label: "c"}, {Index: 4, Label: "d"}, {Index: 5, Label: "e"}}
	i := 0
	for b.Loop() {
		i++
		id := "j" + strconv.Itoa(i)
		if _, err := web.Create(ctx, imgrec.Job{ID: id, Name: "test_0.JPEG", Key: "test_0.JPEG", State: imgrec.JobQueued, Submitted: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if _, err := worker.Finish(ctx, id, imgrec.Answer{Label: "a", Top: top, Worker: "w", Attempt: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
