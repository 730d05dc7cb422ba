package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// handleCourseUpload is the course workload generator's endpoint: multipart
// "myfile" in, the label as plain text out.
func (s *Server) handleCourseUpload(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	j, err := s.classify(w, r, false)
	s.metrics.observe("course", start, err)
	if err != nil {
		s.textError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, j.Label)
}

// handleClassify is the synchronous JSON API: the finished job, top-5 included.
func (s *Server) handleClassify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	j, err := s.classify(w, r, true)
	s.metrics.observe("classify", start, err)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// classify runs one upload to its answer. A worker's refusal is an error too.
func (s *Server) classify(w http.ResponseWriter, r *http.Request, allowRaw bool) (job, error) {
	sub, err := s.accept(w, r, allowRaw, false)
	if err != nil {
		return job{}, err
	}
	j, err := s.await(r.Context(), sub)
	if err != nil {
		return job{}, err
	}
	if j.State == JobFailed {
		return j, &imgrec.Error{Code: codeUnprocessable, Message: "could not classify " + j.Name + ": " + j.Error}
	}
	return j, nil
}

// codeUnprocessable marks an image a worker could not classify (HTTP 422).
const codeUnprocessable = "unprocessable"

// replayedHeader marks the answer to a retry with an Idempotency-Key
// already used: the job is the first attempt's.
const replayedHeader = "Idempotent-Replayed"

func (s *Server) handleSubmitJob(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sub, err := s.accept(w, r, true, true)
	if err != nil {
		s.metrics.observe("jobs", start, err)
		s.jsonError(w, r, err)
		return
	}
	if !sub.replayed && sub.job.Over() { // answered from the cache: no answer is coming to count
		s.metrics.finished("jobs", sub.job)
	}
	w.Header().Set("Location", "/v1/jobs/"+sub.job.ID)
	writeJSON(w, http.StatusAccepted, sub.job)
}

// notFound says a job is not in the store.
func notFound(id string) error {
	return imgrec.Errorf(imgrec.ENOTFOUND, "no job %q here (never submitted, expired after --job-ttl, or removed by a reset)", id)
}

// handleGetJob reads a job from the store, whichever web tier took it;
// ?wait=10s waits up to that long for its answer.
func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			s.jsonError(w, r, imgrec.Errorf(imgrec.EINVALID, "wait=%q: want a duration up to 1m", v))
			return
		}
		wait = d
	}
	if imgrec.CheckJobID(id) != nil {
		s.jsonError(w, r, notFound(id))
		return
	}
	j, err := s.cfg.Jobs.Get(r.Context(), id)
	if err == nil && !j.Over() && wait > 0 {
		var over []job
		var missing []string
		over, missing, err = s.cfg.Jobs.Await(r.Context(), []string{id}, wait)
		switch {
		case len(over) == 1:
			j = over[0]
		case len(missing) == 1:
			err = notFound(id)
		}
	}
	switch {
	case r.Context().Err() != nil:
		return // the client left
	case imgrec.ErrorCode(err) == imgrec.ENOTFOUND:
		s.jsonError(w, r, notFound(id))
	case err != nil:
		s.jsonError(w, r, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "job store"))
	default:
		writeJSON(w, http.StatusOK, j)
	}
}

// handleResults pages through the output bucket: ?prefix=&after=&limit=&q=.
func (s *Server) handleResults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.jsonError(w, r, imgrec.Errorf(imgrec.EINVALID, "limit=%q: want 1 to 1000", l))
			return
		}
		limit = n
	}
	page, err := s.listResults(r.Context(), q.Get("prefix"), q.Get("after"), q.Get("q"), limit)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// status is a snapshot of the system: queue and instances.
type status struct {
	Time      time.Time         `json:"time"`
	Queue     imgrec.QueueStats `json:"queue"`
	Depth     int               `json:"depth"`
	Instances []imgrec.Instance `json:"instances"`
	Counts    map[string]int    `json:"instance_counts"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := status{Time: time.Now(), Instances: []imgrec.Instance{}}
	var err error
	if st.Queue, err = s.queueStats(r.Context()); err != nil {
		s.jsonError(w, r, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "queue"))
		return
	}
	st.Depth = st.Queue.Depth()
	if s.cfg.Instances != nil {
		if st.Instances, err = s.cfg.Instances(r.Context()); err != nil {
			s.jsonError(w, r, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "instances"))
			return
		}
	}
	st.Counts = countInstances(st.Instances)
	writeJSON(w, http.StatusOK, st)
}

// handleReset empties the queue, both buckets and the job store (jobs and
// cached results). It needs the admin token as "Authorization: Bearer TOKEN".
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AdminToken == "" {
		s.jsonError(w, r, &imgrec.Error{Code: codeForbidden, Message: "reset is disabled: start the web tier with --admin-token"})
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) != 1 {
		s.jsonError(w, r, &imgrec.Error{Code: codeUnauthorized, Message: "reset needs the admin token: Authorization: Bearer TOKEN"})
		return
	}
	ctx := r.Context()
	stats, _ := s.cfg.Queue.Stats(ctx)
	if err := s.cfg.Queue.Purge(ctx); err != nil {
		s.jsonError(w, r, err)
		return
	}
	in, err := clearBucket(ctx, s.cfg.Input)
	if err != nil {
		s.jsonError(w, r, fmt.Errorf("input bucket: %w", err))
		return
	}
	out, err := clearBucket(ctx, s.cfg.Output)
	if err != nil {
		s.jsonError(w, r, fmt.Errorf("output bucket: %w", err))
		return
	}
	jobs, err := s.cfg.Jobs.Clear(ctx)
	if err != nil {
		s.jsonError(w, r, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "job store"))
		return
	}
	s.waiting.clear("cancelled by reset")
	s.log.Info("reset", "queued_requests", stats.Waiting, "dead_letters", stats.DeadLetters, "inputs", in, "outputs", out, "jobs", jobs)
	writeJSON(w, http.StatusOK, map[string]int{
		"queued_requests": stats.Waiting, "dead_letters": stats.DeadLetters,
		"inputs": in, "outputs": out, "jobs": jobs,
	})
}

func clearBucket(ctx context.Context, b imgrec.BlobStore) (int, error) {
	n := 0
	for {
		infos, err := b.List(ctx, "", "", 1000)
		if err != nil || len(infos) == 0 {
			return n, err
		}
		for _, in := range infos {
			if err := b.Delete(ctx, in.Key); err != nil {
				return n, err
			}
			n++
		}
	}
}

// handleReady answers the readiness probe: 200 "ok" once the queue, both
// buckets and the job store answer (each within probe.DefaultTimeout, asked
// at most once a second however often this is probed), else 503; the log
// has which failed and why.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready.Check(r.Context()); err != nil {
		s.textError(w, r, err)
		return
	}
	fmt.Fprintln(w, "ok")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
