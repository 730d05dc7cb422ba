package inmem_test

import (
	"testing"
	"time"

	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/internal/conformance"
)

// BenchmarkReceiveCancel measures how soon a waiting Receive returns once
// its ctx ends (ms-late/op), a promise the tests do not time.
func BenchmarkReceiveCancel(b *testing.B) {
	q, err := inmem.NewQueue(inmem.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	conformance.BenchmarkReceiveCancel(b, q, 20*time.Millisecond)
}
