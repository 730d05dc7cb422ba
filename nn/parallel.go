package nn

import (
	"runtime"
	"sync"
)

// workers is how many goroutines a call splits its work over.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallel runs f(i) for i in [0, n) on n goroutines, the caller's among them,
// and returns when all are done.
func parallel(n int, f func(i int)) {
	if n <= 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	wg.Add(n - 1)
	for i := 1; i < n; i++ {
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	f(0)
	wg.Wait()
}

// span returns the i-th of n near-equal parts of [0, total).
func span(i, n, total int) (lo, hi int) {
	return i * total / n, (i + 1) * total / n
}
