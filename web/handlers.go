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
	s.metrics.observe("course", start, j, err)
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
	s.metrics.observe("classify", start, j, err)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// classify runs one upload to its answer. A worker's refusal is an error too.
func (s *Server) classify(w http.ResponseWriter, r *http.Request, allowRaw bool) (job, error) {
	submitted, err := s.accept(w, r, allowRaw, false)
	if err != nil {
		return job{}, err
	}
	j, err := s.await(r.Context(), submitted.ID)
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

func (s *Server) handleSubmitJob(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	j, err := s.accept(w, r, true, true)
	if err == nil {
		w.Header().Set("Location", "/v1/jobs/"+j.ID)
		got, _ := s.jobs.get(j.ID)
		writeJSON(w, http.StatusAccepted, got)
		return
	}
	s.metrics.observe("jobs", start, job{}, err)
	s.jsonError(w, r, err)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if wait := r.URL.Query().Get("wait"); wait != "" {
		// Long poll: ?wait=10s returns as soon as the job finishes.
		d, err := time.ParseDuration(wait)
		if err != nil || d < 0 || d > time.Minute {
			s.jsonError(w, r, imgrec.Errorf(imgrec.EINVALID, "wait=%q: want a duration up to 1m", wait))
			return
		}
		select {
		case <-s.jobs.wait(id):
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	j, ok := s.jobs.get(id)
	if !ok {
		s.jsonError(w, r, imgrec.Errorf(imgrec.ENOTFOUND, "no job %q here (jobs are kept by the web tier that took them, until it restarts)", id))
		return
	}
	writeJSON(w, http.StatusOK, j)
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
	if st.Queue, err = s.cfg.Queue.Stats(r.Context()); err != nil {
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

// handleReset empties the queue, both buckets and the job list. It needs the
// admin token as "Authorization: Bearer TOKEN".
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
	jobs := s.jobs.clear("cancelled by reset")
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

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if _, err := s.cfg.Queue.Stats(r.Context()); err != nil {
		s.textError(w, r, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "queue"))
		return
	}
	fmt.Fprintln(w, "ok")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
