package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// BenchmarkReceiveCancel measures what the Queue suite only logs: how long
// after its ctx ends a Receive on the empty queue q returns, as the metric
// ms-late/op. Each Receive waits wait first (a pull on the server, a long
// poll in flight), so each iteration takes wait plus that delay.
func BenchmarkReceiveCancel(b *testing.B, q imgrec.Queue, wait time.Duration) {
	var late time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), wait)
		deadline, _ := ctx.Deadline()
		d, err := q.Receive(ctx)
		late += time.Since(deadline)
		cancel()
		if d != nil || !errors.Is(err, context.DeadlineExceeded) {
			b.Fatalf("Receive on an empty queue: got %v, %v; want %v", d, err, context.DeadlineExceeded)
		}
	}
	b.ReportMetric(float64(late.Microseconds())/1e3/float64(b.N), "ms-late/op")
}
