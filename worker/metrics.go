package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Failure reasons counted in imgrec_worker_failures_total: where in a
// request's handling it failed. A small, fixed set.
const (
	FailAttempts = "attempts"      // given up after MaxAttempts deliveries (dead-lettered)
	FailMissing  = "missing_input" // the image is not in the input bucket (dead-lettered)
	FailFetch    = "fetch"         // the input bucket failed (handed back)
	FailDecode   = "decode"        // not an image the worker can decode (dead-lettered)
	FailInvalid  = "invalid"       // the classifier refused the image (dead-lettered)
	FailClassify = "classify"      // the classifier failed (handed back)
	FailStore    = "store"         // the output bucket failed (handed back)
	FailRecord   = "record"        // the job store failed (handed back)
	FailReply    = "reply"         // the reply could not be sent (the job and the output bucket have the answer)
	FailAck      = "ack"           // the ack failed (the request comes back and is done again)
	// FailDeadLetter: giving up failed; the request comes back.
	FailDeadLetter = "dead_letter"
)

var failReasons = []string{FailAttempts, FailMissing, FailFetch, FailDecode, FailInvalid, FailClassify, FailStore, FailRecord, FailReply, FailAck, FailDeadLetter}

// metrics are the worker's; registered nowhere when Config.Registry is nil.
type metrics struct {
	inference prometheus.Histogram
	batch     prometheus.Histogram
	wait      prometheus.Histogram
	decode    prometheus.Histogram
	failures  *prometheus.CounterVec
	inHand    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imgrec_worker_batch_inference_seconds",
			Help:    "Wall time of one forward pass over a batch (per image: its _sum over imgrec_worker_batch_size's _sum).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imgrec_worker_batch_size",
			Help:    "Images classified in one forward pass.",
			Buckets: []float64{1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32},
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "imgrec_worker_queue_wait_seconds",
			Help: "Time from a request's enqueueing (its Sent time, by the web tier's clock) to its pick-up by this worker; " +
				"a redelivered request counts again, from its first enqueueing.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		decode: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imgrec_worker_decode_seconds",
			Help:    "Time to decode one image (JPEG or PNG to RGB), failures included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imgrec_worker_failures_total",
			Help: "Requests that failed, by reason: attempts, missing_input, decode, invalid (dead-lettered); fetch, classify, store, record (handed back for another attempt); " +
				"reply, ack (the answer is stored; the client or the queue did not hear of it); dead_letter (giving up failed: the request comes back).",
		}, []string{"reason"}),
		inHand: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imgrec_worker_requests_in_hand",
			Help: "Requests received and not yet settled (bounded by --concurrency).",
		}),
	}
	for _, r := range failReasons {
		m.failures.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.inference, m.batch, m.wait, m.decode, m.failures, m.inHand)
	}
	return m
}

func (m *metrics) fail(reason string) { m.failures.WithLabelValues(reason).Inc() }

// picked records a request's wait in the queue; a clock behind the web
// tier's counts no wait rather than a negative one.
func (m *metrics) picked(sent time.Time) {
	if sent.IsZero() {
		return
	}
	m.wait.Observe(max(time.Since(sent).Seconds(), 0))
}
