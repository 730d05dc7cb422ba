package web

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
)

// Result outcomes counted in imgrec_results_total.
const (
	OutcomeOK       = "ok"       // answered with a label
	OutcomeFailed   = "failed"   // a worker could not classify it
	OutcomeRejected = "rejected" // refused at upload (bad image, too large)
	OutcomeTimeout  = "timeout"  // no answer in time
	OutcomeError    = "error"    // the system failed (queue or bucket down)
	OutcomeBusy     = "busy"     // refused: too many uploads in progress
)

// Result cache lookups counted in imgrec_cache_lookups_total.
const (
	cacheHit  = "hit"  // answered from the cache
	cacheMiss = "miss" // sent to a worker
)

type metrics struct {
	duration *prometheus.HistogramVec
	results  *prometheus.CounterVec
	cache    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, q imgrec.Queue, uploads *uploadSlots, cache bool) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imgrec_request_duration_seconds",
			Help:    "Time from upload to answer, by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imgrec_results_total",
			Help: "Uploads by outcome: ok, failed (worker refused), rejected (bad or too slow upload), timeout, error, busy (too many uploads in progress).",
		}, []string{"outcome"}),
	}
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgrec_cache_lookups_total",
		Help: "Uploads looked up in the result cache: hit (answered from it, no worker) or miss (sent to a worker).",
	}, []string{"outcome"})
	for _, o := range []string{OutcomeOK, OutcomeFailed, OutcomeRejected, OutcomeTimeout, OutcomeError, OutcomeBusy} {
		m.results.WithLabelValues(o)
	}
	for _, o := range []string{cacheHit, cacheMiss} {
		m.cache.WithLabelValues(o)
	}
	if reg != nil {
		stat := func(f func(imgrec.QueueStats) int) func() float64 {
			return func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				st, err := q.Stats(ctx)
				if err != nil {
					return -1
				}
				return float64(f(st))
			}
		}
		if cache {
			reg.MustRegister(m.cache)
		}
		reg.MustRegister(m.duration, m.results,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgrec_queue_depth", Help: "Requests waiting or in flight (-1: queue unreachable)."},
				stat(imgrec.QueueStats.Depth)),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgrec_queue_dead_letters", Help: "Requests given up on."},
				stat(func(s imgrec.QueueStats) int { return s.DeadLetters })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgrec_uploads_in_progress", Help: "Uploads being received, stored and queued (bounded by --max-uploads-in-progress)."},
				func() float64 { return float64(uploads.inProgress()) }),
		)
	}
	return m
}

func (m *metrics) observe(endpoint string, start time.Time, j job, err error) {
	outcome := OutcomeOK
	switch code := imgrec.ErrorCode(err); {
	case err == nil:
		m.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	case code == codeUnprocessable:
		outcome = OutcomeFailed
	case code == imgrec.EINVALID || code == imgrec.ETOOLARGE || code == codeTooSlow || code == codeKeyReused:
		outcome = OutcomeRejected
	case code == codeBusy:
		outcome = OutcomeBusy
	case code == imgrec.ETIMEOUT:
		outcome = OutcomeTimeout
	default:
		outcome = OutcomeError
	}
	m.results.WithLabelValues(outcome).Inc()
}

// finished counts an asynchronous job when its answer arrives.
func (m *metrics) finished(endpoint string, j job) {
	if j.State == JobFailed {
		m.results.WithLabelValues(OutcomeFailed).Inc()
		return
	}
	m.results.WithLabelValues(OutcomeOK).Inc()
	m.duration.WithLabelValues(endpoint).Observe(j.Seconds)
}
