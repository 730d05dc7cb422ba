package conformance

import (
	"errors"
	"sync"
	"testing"

	"github.com/imgrec/imgrec"
)

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := imgrec.ErrorCode(err); got != code {
		t.Errorf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// parallel runs do(0..n-1) on the given number of goroutines and fails t
// with the first error.
func parallel(t *testing.T, goroutines, n int, do func(i int) error) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil && errs[g] == nil {
					errs[g] = err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
