package sqsq_test

import (
	"testing"
	"time"

	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/sqsq"
)

// BenchmarkReceiveCancel measures, on moto, how soon a Receive waiting on a
// long poll returns once its ctx ends (ms-late/op), a promise the tests do
// not time.
func BenchmarkReceiveCancel(b *testing.B) {
	client, name := newQueues(b, sqsq.CreateOptions{})
	q := mustOpen(b, client, name, sqsq.Config{WaitTime: time.Second})
	defer q.Close()
	conformance.BenchmarkReceiveCancel(b, q, 20*time.Millisecond)
}
