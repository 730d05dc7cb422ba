package web

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
)

// Result outcomes counted in imgrec_results_total and labelling
// imgrec_request_duration_seconds.
const (
	OutcomeOK        = "ok"        // answered with a label
	OutcomeFailed    = "failed"    // a worker could not classify it
	OutcomeRejected  = "rejected"  // refused at upload (bad image, too large)
	OutcomeTimeout   = "timeout"   // no answer in time
	OutcomeError     = "error"     // the system failed (queue or bucket down)
	OutcomeBusy      = "busy"      // refused: too many uploads in progress
	OutcomeCancelled = "cancelled" // the client went away before its answer
)

var outcomes = []string{OutcomeOK, OutcomeFailed, OutcomeRejected, OutcomeTimeout, OutcomeError, OutcomeBusy, OutcomeCancelled}

// Result cache lookups counted in imgrec_cache_lookups_total.
const (
	cacheHit  = "hit"  // answered from the cache
	cacheMiss = "miss" // sent to a worker
)

type metrics struct {
	duration    *prometheus.HistogramVec
	results     *prometheus.CounterVec
	cache       *prometheus.CounterVec
	queueErrors prometheus.Counter
	requeued    prometheus.Counter
}

// queueStatsTimeout bounds one read of the queue's counts for a scrape.
const queueStatsTimeout = 2 * time.Second

func newMetrics(reg prometheus.Registerer, stats func(context.Context) (imgrec.QueueStats, error), uploads *uploadSlots, cache bool) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imgrec_request_duration_seconds",
			Help: "Time from upload to answer, by endpoint and outcome (as imgrec_results_total; refusals and timeouts are counted too). " +
				"jobs: an answered job's time from upload to answer, or a refused upload's time to refusal.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint", "outcome"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imgrec_results_total",
			Help: "Uploads by outcome: ok, failed (worker refused), rejected (bad or too slow upload), timeout, error, busy (too many uploads in progress), cancelled (the client left before its answer).",
		}, []string{"outcome"}),
		requeued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imgrec_jobs_requeued_total",
			Help: "Requests this web tier queued again for jobs that a retry with an Idempotency-Key found unanswered (see --requeue-after).",
		}),
		queueErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imgrec_queue_stats_errors_total",
			Help: "Failed reads of the queue's counts by this web tier: metrics scrapes, readiness checks, /v1/status and the page's samples (once a second).",
		}),
	}
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgrec_cache_lookups_total",
		Help: "Uploads looked up in the result cache: hit (answered from it, no worker) or miss (sent to a worker).",
	}, []string{"outcome"})
	for _, o := range outcomes {
		m.results.WithLabelValues(o)
	}
	for _, o := range []string{cacheHit, cacheMiss} {
		m.cache.WithLabelValues(o)
	}
	if reg != nil {
		if cache {
			reg.MustRegister(m.cache)
		}
		reg.MustRegister(m.duration, m.results, m.requeued, &queueCollector{stats: stats, errors: m.queueErrors},
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgrec_uploads_in_progress", Help: "Uploads being received, stored and queued (bounded by --max-uploads-in-progress)."},
				func() float64 { return float64(uploads.inProgress()) }),
		)
	}
	return m
}

// queueCollector reads the queue's counts once per scrape. A queue that does
// not answer gives imgrec_queue_up 0 and no depth or dead letters (absent,
// not a made-up value: a graph shows the gap), and counts in
// imgrec_queue_stats_errors_total.
type queueCollector struct {
	stats  func(context.Context) (imgrec.QueueStats, error) // counts its failures in errors
	errors prometheus.Counter
}

var (
	queueDepthDesc = prometheus.NewDesc("imgrec_queue_depth",
		"Requests waiting or in flight, read at scrape time; absent while the queue does not answer (see imgrec_queue_up).", nil, nil)
	queueDeadDesc = prometheus.NewDesc("imgrec_queue_dead_letters",
		"Requests given up on, read at scrape time; absent while the queue does not answer.", nil, nil)
	queueUpDesc = prometheus.NewDesc("imgrec_queue_up",
		"1 if the queue answered this scrape's read of its counts, else 0.", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueDeadDesc
	ch <- queueUpDesc
	c.errors.Describe(ch)
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueStatsTimeout)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
	} else {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.Depth()))
		ch <- prometheus.MustNewConstMetric(queueDeadDesc, prometheus.GaugeValue, float64(st.DeadLetters))
	}
	c.errors.Collect(ch) // after the read, so that this scrape counts its own failure
}

// outcome names how an upload ended, from the error that ended it.
func outcome(err error) string {
	switch code := imgrec.ErrorCode(err); {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, context.Canceled):
		return OutcomeCancelled
	case code == codeUnprocessable:
		return OutcomeFailed
	case code == imgrec.EINVALID || code == imgrec.ETOOLARGE || code == codeTooSlow || code == codeKeyReused:
		return OutcomeRejected
	case code == codeBusy:
		return OutcomeBusy
	case code == imgrec.ETIMEOUT:
		return OutcomeTimeout
	}
	return OutcomeError
}

// observe counts an upload that ended (answered or not) after start.
func (m *metrics) observe(endpoint string, start time.Time, err error) {
	o := outcome(err)
	m.results.WithLabelValues(o).Inc()
	m.duration.WithLabelValues(endpoint, o).Observe(time.Since(start).Seconds())
}

// finished counts an asynchronous job when its answer arrives.
func (m *metrics) finished(endpoint string, j job) {
	o := OutcomeOK
	if j.State == JobFailed {
		o = OutcomeFailed
	}
	m.results.WithLabelValues(o).Inc()
	m.duration.WithLabelValues(endpoint, o).Observe(j.Seconds)
}

// queueStats reads the queue's counts, counting a failure.
func (s *Server) queueStats(ctx context.Context) (imgrec.QueueStats, error) {
	st, err := s.cfg.Queue.Stats(ctx)
	if err != nil {
		s.metrics.queueErrors.Inc()
	}
	return st, err
}
