package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// maxWatchIDs bounds one watch request. The page keeps at most this many of
// its uploads unanswered, so a single connection follows all of them.
const maxWatchIDs = imgrec.MaxAwaitIDs

// handleWatchJobs is GET /v1/jobs?ids=A,B,C[&wait=30s]: of the listed jobs,
// those that have finished, and the ids the job store does not hold (never
// submitted, expired or reset), whichever web tier took them. With wait it
// answers as soon as one of them finishes, or with none when wait ends.
// One long poll for many jobs keeps a page with hundreds of uploads inside
// the browser's six connections per server.
func (s *Server) handleWatchJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids := strings.FieldsFunc(q.Get("ids"), func(c rune) bool { return c == ',' })
	if len(ids) == 0 || len(ids) > maxWatchIDs {
		s.jsonError(w, r, imgrec.Errorf(imgrec.EINVALID, "ids: want 1 to %d job ids separated by commas, got %d", maxWatchIDs, len(ids)))
		return
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			s.jsonError(w, r, imgrec.Errorf(imgrec.EINVALID, "wait=%q: want a duration up to 1m", v))
			return
		}
		wait = d
	}
	out := watchedJobs{Jobs: []job{}, Unknown: []string{}}
	var valid []string
	for _, id := range ids {
		if imgrec.CheckJobID(id) != nil {
			out.Unknown = append(out.Unknown, id) // no store could hold it
		} else {
			valid = append(valid, id)
		}
	}
	if len(valid) > 0 {
		if len(out.Unknown) > 0 {
			wait = 0 // there is an answer already
		}
		over, missing, err := s.cfg.Jobs.Await(r.Context(), valid, wait)
		if r.Context().Err() != nil {
			return // the client left
		}
		if err != nil {
			s.jsonError(w, r, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "job store"))
			return
		}
		out.Jobs = append(out.Jobs, over...)
		out.Unknown = append(out.Unknown, missing...)
	}
	writeJSON(w, http.StatusOK, out)
}

type watchedJobs struct {
	Jobs    []job    `json:"jobs"`    // finished (done or failed)
	Unknown []string `json:"unknown"` // ids the job store does not hold
}
