// Package web is the web tier: it takes image uploads over HTTP, stores each
// image in the input bucket, records its job in the job store, queues a
// request and answers with the label once a worker replies (or at once from
// the result cache). Any web tier sharing the job store answers for any job. It serves the course's plain-text endpoint, a JSON
// API, the web page (with the live history its charts draw), liveness and
// readiness probes and Prometheus metrics.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/probe"
)

// Defaults for Config's zero values.
const (
	DefaultMaxUploadBytes = 10 << 20
	DefaultTimeout        = 60 * time.Second
	// DefaultMaxUploadsInProgress is above the course workload's 100
	// uploads at once; with 10 MiB uploads it bounds their bodies to 1.25 GiB.
	DefaultMaxUploadsInProgress = 128
	// DefaultRequeueAfter is far beyond the time one queue publish takes,
	// and well within a synchronous client's DefaultTimeout.
	DefaultRequeueAfter = 30 * time.Second
)

// Config wires the web tier to its queue, buckets and job store.
type Config struct {
	Queue  imgrec.Queue
	Input  imgrec.BlobStore
	Output imgrec.BlobStore
	// Jobs keeps every job (and the result cache), shared with the other
	// web tiers and the workers; its expiry bounds what is kept.
	Jobs imgrec.JobStore
	// Cache answers an upload whose bytes the workers have classified
	// before, under the model they run, from the result cache: no request,
	// no worker. The output bucket gets its record all the same.
	Cache bool
	// Model is the model the workers run, when this process knows it
	// (serve); zero: the one the workers last recorded in Jobs. A wrong
	// model only finds nothing: results are kept under the model that
	// computed them.
	Model imgrec.Model
	// Check refuses uploads that are no image a worker could take, from
	// their header: format, dimensions, the pixel limit (vision.Check). A
	// file corrupt further on is refused by the worker that decodes it,
	// and its client gets the reason all the same. Decoding every upload
	// here too would cost the web tier as much CPU as the rest of its work.
	Check func([]byte) error

	MaxUploadBytes int64         // larger uploads get 413
	MaxPixels      int64         // shown on the page before upload (Check enforces it); 0 shows none
	Timeout        time.Duration // how long a synchronous request waits for its answer
	// RequeueAfter: a retry with an Idempotency-Key that finds its job
	// unanswered, and not waited on by this tier, queues the job's request
	// again once the job is this old (or was last queued again this long
	// ago), in case the tier that recorded it died before queueing it. At
	// most one tier does so per RequeueAfter (JobStore.Requeue); the job
	// keeps the first answer. 0: DefaultRequeueAfter; negative: never.
	RequeueAfter time.Duration
	AdminToken   string // enables POST /v1/reset; empty disables it
	// MaxUploadsInProgress bounds the uploads being received, stored and
	// queued at once (POST /, /v1/classify, /v1/jobs); beyond it they get
	// 503 with Retry-After. Negative: no bound.
	MaxUploadsInProgress int
	// BodyTimeout and MinUploadRate bound how long a request body may take
	// to arrive: BodyTimeout, plus a second for every MinUploadRate bytes
	// received. A slower body gets 408 and its connection is closed.
	// 0: DefaultBodyTimeout, DefaultMinUploadRate; negative BodyTimeout: no
	// deadline; negative MinUploadRate: the whole body within BodyTimeout.
	BodyTimeout   time.Duration
	MinUploadRate int64
	// InlineMaxBytes: images up to this size also travel inside the
	// request message (Request.Image); 0 never. One the queue refuses as
	// too large is sent again with the key alone.
	InlineMaxBytes int

	// Submitted, if set, is called after each request is queued (serve
	// nudges its controller with it).
	Submitted func()
	// Instances, if set, lists the worker instances for /v1/status.
	Instances func(context.Context) ([]imgrec.Instance, error)
	Registry  prometheus.Registerer // where metrics are registered; nil for none
	Gatherer  prometheus.Gatherer   // served on /metrics; nil for none
	Logger    *slog.Logger
}

// Server is the web tier's HTTP handler. Close it to stop listening for replies.
type Server struct {
	cfg     Config
	log     *slog.Logger
	inbox   imgrec.Inbox
	waiting *waiters
	uploads *uploadSlots
	metrics *metrics
	ready   *probe.Readiness
	mux     *http.ServeMux
	done    chan struct{}

	history      *history
	closing      chan struct{} // closed when Close starts
	samplingDone chan struct{}
	rescuing     sync.Map // ids of jobs this tier may queue again (rescue), to struct{}{}

	closeOnce sync.Once

	modelMu        sync.Mutex // the workers' model, as last read from Jobs
	workersModel   imgrec.Model
	workersModelOK bool
	workersModelAt time.Time
}

// New opens the reply inbox and builds the routes.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Queue == nil || cfg.Input == nil || cfg.Output == nil || cfg.Jobs == nil || cfg.Check == nil {
		return nil, errors.New("web: queue, buckets, job store and decoder are required")
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxUploadsInProgress == 0 {
		cfg.MaxUploadsInProgress = DefaultMaxUploadsInProgress
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.MinUploadRate == 0 {
		cfg.MinUploadRate = DefaultMinUploadRate
	}
	if cfg.RequeueAfter == 0 {
		cfg.RequeueAfter = DefaultRequeueAfter
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inbox, err := cfg.Queue.Listen(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, inbox: inbox, done: make(chan struct{}), waiting: newWaiters(),
		history: &history{}, closing: make(chan struct{}), samplingDone: make(chan struct{})}
	s.uploads = &uploadSlots{max: int64(max(cfg.MaxUploadsInProgress, 0))}
	s.metrics = newMetrics(cfg.Registry, s.queueStats, s.uploads, cfg.Cache)
	s.ready = &probe.Readiness{Checks: []probe.Check{
		s.countQueueErrors(probe.Queue(cfg.Queue)),
		probe.Blobs("input bucket", cfg.Input), probe.Blobs("output bucket", cfg.Output),
		probe.Jobs(cfg.Jobs),
	}}
	go s.receiveReplies()
	go s.sampleHistory()
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handlePage)
	m.HandleFunc("GET /static/{file}", s.handleStatic)
	m.HandleFunc("POST /{$}", s.handleCourseUpload)
	m.HandleFunc("POST /v1/classify", s.handleClassify)
	m.HandleFunc("POST /v1/jobs", s.handleSubmitJob)
	m.HandleFunc("GET /v1/jobs", s.handleWatchJobs)
	m.HandleFunc("GET /v1/jobs/{id}", s.handleGetJob)
	m.HandleFunc("GET /v1/results", s.handleResults)
	m.HandleFunc("GET /v1/status", s.handleStatus)
	m.HandleFunc("GET /v1/history", s.handleHistory)
	m.HandleFunc("GET /v1/limits", s.handleLimits)
	m.HandleFunc("POST /v1/reset", s.handleReset)
	// /livez: the process serves, whatever its dependencies say, so a
	// liveness probe never restarts a tier for a queue outage it cannot
	// fix. /readyz: the queue, buckets and job store answer. /healthz is
	// the old name, kept as an alias of /livez: where it was a liveness
	// probe (or a load balancer's check, where every web tier shares the
	// queue and the outage), checking the queue did harm.
	m.HandleFunc("GET /livez", probe.Live)
	m.HandleFunc("GET /healthz", probe.Live)
	m.HandleFunc("GET /readyz", s.handleReady)
	if s.cfg.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	s.mux = m
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set(requestIDHeader, requestID(r))
	s.limitBody(w, r)
	s.mux.ServeHTTP(w, r)
}

// Close stops receiving replies and sampling; requests still waiting time out.
// Closing it again does nothing.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.samplingDone
		err = s.inbox.Close()
		<-s.done
	})
	return err
}

// receiveReplies hands every response to whoever waits for it here. The
// worker has recorded the answer in the job already; one it could not (or a
// queue's own dead-lettering) is recorded here, for every other tier.
func (s *Server) receiveReplies() {
	defer close(s.done)
	for resp := range s.inbox.Responses() {
		if !resp.Recorded && imgrec.CheckJobID(resp.ID) == nil {
			ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
			_, err := s.cfg.Jobs.Finish(ctx, resp.ID, imgrec.AnswerOf(resp))
			cancel()
			if err != nil && imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
				s.log.Warn("recording an answer in its job failed", "id", resp.ID, "err", err)
			}
		}
		w := s.waiting.answer(resp)
		if w == nil {
			s.log.Debug("reply for a job nobody here waits for (answered, dropped or reset)", "id", resp.ID)
			continue
		}
		s.history.answered.Add(1)
		if w.async {
			s.metrics.finished("jobs", w.answered())
		}
	}
}

// countQueueErrors counts the check's failures in imgrec_queue_stats_errors_total.
func (s *Server) countQueueErrors(c probe.Check) probe.Check {
	run := c.Run
	c.Run = func(ctx context.Context) error {
		err := run(ctx)
		if err != nil {
			s.metrics.queueErrors.Inc()
		}
		return err
	}
	return c
}

// recordTimeout bounds recording an answer the worker could not.
const recordTimeout = 10 * time.Second
