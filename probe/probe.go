// Package probe answers a process's probes. Readiness: whether the
// dependencies it needs to do its work (queue, buckets, job store, instance
// provider) answer. Liveness (Live) checks nothing: a process that serves
// HTTP is alive, and one that is not ready must not be restarted for it (a
// queue outage would otherwise restart every tier at once).
//
// A Readiness runs its checks at once, each within Timeout, and keeps the
// result for MaxAge: however often it is probed, and by however many
// probers, it asks each backend at most once per MaxAge.
package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// Defaults for Readiness's zero values. A Kubernetes probe's own timeout
// (timeoutSeconds) should be above DefaultTimeout: 3 s.
const (
	DefaultTimeout = 2 * time.Second
	DefaultMaxAge  = time.Second
)

// Check is one dependency: Run returns nil when it answers.
type Check struct {
	Name string // "queue", "input bucket", ...: named in the probe's answer
	Run  func(ctx context.Context) error
}

// Queue checks that the request queue answers: its Ping if it has one
// (sqsq: the request queue's attributes alone), else its Stats.
func Queue(q imgrec.Queue) Check {
	return Check{Name: "queue", Run: func(ctx context.Context) error {
		if p, ok := q.(imgrec.Pinger); ok {
			return p.Ping(ctx)
		}
		_, err := q.Stats(ctx)
		return err
	}}
}

// missingKey is what Blobs reads from a bucket without a Ping: a key nobody
// needs to have stored; found or not found, the bucket answered.
const missingKey = "imgrec-readyz"

// Blobs checks that a bucket answers: its Ping if it has one (s3blob:
// HeadBucket, which needs only s3:ListBucket), else a read of a key that is
// normally absent.
func Blobs(name string, b imgrec.BlobStore) Check {
	return Check{Name: name, Run: func(ctx context.Context) error {
		if p, ok := b.(imgrec.Pinger); ok {
			return p.Ping(ctx)
		}
		_, err := b.Get(ctx, missingKey)
		if imgrec.ErrorCode(err) == imgrec.ENOTFOUND {
			return nil
		}
		return err
	}}
}

// Jobs checks that the job store answers: its Ping if it has one, else a
// read of the workers' model record (one key; absent is an answer too).
func Jobs(j imgrec.JobStore) Check {
	return Check{Name: "job store", Run: func(ctx context.Context) error {
		if p, ok := j.(imgrec.Pinger); ok {
			return p.Ping(ctx)
		}
		_, err := j.Model(ctx)
		if imgrec.ErrorCode(err) == imgrec.ENOTFOUND {
			return nil
		}
		return err
	}}
}

// Instances checks that the instance provider answers a listing.
func Instances(list func(context.Context) ([]imgrec.Instance, error)) Check {
	return Check{Name: "instances", Run: func(ctx context.Context) error {
		_, err := list(ctx)
		return err
	}}
}

// Failed is the error of a readiness check that did not pass: which
// dependencies did not answer, and why.
type Failed struct {
	Checks []string // names, in the order of Readiness.Checks
	Errs   []error
}

func (f *Failed) Error() string {
	parts := make([]string, len(f.Checks))
	for i, name := range f.Checks {
		parts[i] = fmt.Sprintf("%s: %v", name, f.Errs[i])
	}
	return "not ready: " + strings.Join(parts, "; ")
}

func (f *Failed) Unwrap() []error { return f.Errs }

// Names is what a prober may be told: the dependencies that failed, without
// their errors (which can name hosts and files).
func (f *Failed) Names() string { return strings.Join(f.Checks, ", ") }

// Readiness runs Checks for a readiness probe. Its zero value with Checks
// set is ready to use; it must not be copied after first use.
type Readiness struct {
	Checks  []Check
	Timeout time.Duration // each check's; 0: DefaultTimeout
	MaxAge  time.Duration // how long a result is reused; 0: DefaultMaxAge

	mu      sync.Mutex
	at      time.Time     // when the last result was taken
	err     error         // the last result
	running chan struct{} // closed when the check in progress ends; nil if none
}

// Check returns nil if every dependency answered, else an error coded
// EUNAVAILABLE, a *Failed unless the checks outlived their timeout (a
// backend that ignores its context). A result younger than MaxAge is
// returned again; callers arriving while a check runs wait for it (or for
// ctx) rather than start another.
func (r *Readiness) Check(ctx context.Context) error {
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	late := time.NewTimer(2 * r.timeout())
	defer late.Stop()
	r.mu.Lock()
	if !r.at.IsZero() && time.Since(r.at) < maxAge {
		err := r.err
		r.mu.Unlock()
		return err
	}
	running := r.running
	if running == nil {
		running = make(chan struct{})
		r.running = running
		go r.run(running)
	}
	r.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		return imgrec.WrapError(imgrec.EUNAVAILABLE, ctx.Err(), "readiness check")
	case <-late.C:
		return imgrec.Errorf(imgrec.EUNAVAILABLE, "readiness check: the checks did not return within %v", 2*r.timeout())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// run checks every dependency at once, each within the timeout, and keeps
// the result. It runs apart from any caller, so that a prober that gives up
// leaves a result for the next.
func (r *Readiness) run(done chan struct{}) {
	timeout := r.timeout()
	errs := make([]error, len(r.Checks))
	var wg sync.WaitGroup
	for i, c := range r.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			errs[i] = c.Run(ctx)
			if errs[i] == nil && ctx.Err() != nil {
				errs[i] = ctx.Err()
			}
		})
	}
	wg.Wait()
	var err error
	if f := failed(r.Checks, errs); f != nil {
		err = imgrec.WrapError(imgrec.EUNAVAILABLE, f, "")
	}
	r.mu.Lock()
	r.at, r.err, r.running = time.Now(), err, nil
	r.mu.Unlock()
	close(done)
}

func (r *Readiness) timeout() time.Duration {
	if r.Timeout <= 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

func failed(checks []Check, errs []error) *Failed {
	var f Failed
	for i, err := range errs {
		if err != nil {
			f.Checks = append(f.Checks, checks[i].Name)
			f.Errs = append(f.Errs, err)
		}
	}
	if len(f.Checks) == 0 {
		return nil
	}
	return &f
}

// Handler answers GET /readyz: 200 "ok", or 503 naming the dependencies
// that did not answer (their errors go to log, which may be nil).
func Handler(r *Readiness, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		err := r.Check(req.Context())
		if err == nil {
			fmt.Fprintln(w, "ok")
			return
		}
		if log != nil {
			log.Warn("not ready", "err", err)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		var f *Failed
		if errors.As(err, &f) {
			fmt.Fprintf(w, "not ready: %s did not answer\n", f.Names())
			return
		}
		fmt.Fprintln(w, "not ready")
	})
}

// Live answers GET /livez: 200 "ok" whenever the process serves HTTP.
func Live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}
