package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// threads, when above 0, overrides GOMAXPROCS as the number of threads a
// call uses; see SetThreads.
var threads atomic.Int32

// SetThreads sets how many threads each call uses (n < 1: GOMAXPROCS, the
// default). Call it before the first call. A process that runs inference
// on one thread but does I/O beside it (a worker on a machine shared with
// other workers) wants 1 here and GOMAXPROCS above 1, so its I/O never
// waits for a preemption.
func SetThreads(n int) { threads.Store(int32(max(n, 0))) }

// workers is how many parts a call splits its work into.
func workers() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// span returns the i-th of n near-equal parts of [0, total).
func span(i, n, total int) (lo, hi int) {
	return i * total / n, (i + 1) * total / n
}

// parallel runs f(i) for every i in [0, n) and returns when all are done.
// A network makes dozens of calls per image, some of a few microseconds, so
// waking a parked goroutine for each (tens of µs on a VM) would cost more
// than the work: a pool of helpers spins for a while after each call,
// taking parts of the next one as soon as it is published. Parts are handed
// out first come, first served, so a helper that is slow to arrive (its core
// taken by another process) only means the caller does more of them.
func parallel(n int, f func(i int)) {
	if n <= 1 {
		f(0)
		return
	}
	p := thePool()
	if !p.busy.CompareAndSwap(false, true) {
		spawn(n, f) // another call holds the pool: plain goroutines
		return
	}
	defer p.busy.Store(false)
	j := &job{f: f, n: int64(n)}
	p.job.Store(j)
	for _, h := range p.helpers {
		if h.state.CompareAndSwap(parked, awake) {
			h.wake <- struct{}{}
		}
	}
	j.work()
	for spins := 1; j.done.Load() < j.n; spins++ {
		if spins%64 == 0 {
			runtime.Gosched() // let a helper that lost its core have ours
		}
	}
}

// spawn runs f(i) for i in [0, n) on fresh goroutines.
func spawn(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() { f(i) })
	}
	f(0)
	wg.Wait()
}

// job is one parallel call.
type job struct {
	f          func(i int)
	n          int64
	next, done atomic.Int64
}

// work runs the job's parts that nobody has taken yet.
func (j *job) work() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.f(int(i))
		j.done.Add(1)
	}
}

// spinFor is how long an idle helper polls for the next job before parking.
const spinFor = 200 * time.Microsecond

const (
	awake = iota
	parked
)

type pool struct {
	busy    atomic.Bool
	job     atomic.Pointer[job]
	helpers []*helper
}

type helper struct {
	state atomic.Int32
	wake  chan struct{}
}

var (
	poolOnce sync.Once
	poolInst *pool
)

// thePool starts the helpers on first use: one fewer than GOMAXPROCS then.
func thePool() *pool {
	poolOnce.Do(func() {
		poolInst = &pool{}
		for range workers() - 1 {
			h := &helper{wake: make(chan struct{}, 1)}
			poolInst.helpers = append(poolInst.helpers, h)
			go poolInst.serve(h)
		}
	})
	return poolInst
}

// serve is a helper's loop: take parts of each new job, spin, park.
func (p *pool) serve(h *helper) {
	var last *job
	for {
		deadline := time.Now().Add(spinFor)
		for spins := 0; ; spins++ {
			if j := p.job.Load(); j != last {
				last = j
				j.work()
				deadline = time.Now().Add(spinFor)
				continue
			}
			if spins%64 == 63 {
				if time.Now().After(deadline) {
					break
				}
				runtime.Gosched()
			}
		}
		h.state.Store(parked)
		if p.job.Load() != last && h.state.CompareAndSwap(parked, awake) {
			continue // a job came as we parked, and nobody woke us for it
		}
		<-h.wake
	}
}
