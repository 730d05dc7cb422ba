package web

import (
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// maxWatchIDs bounds one watch request. The page keeps at most this many of
// its uploads unanswered, so a single connection follows all of them.
const maxWatchIDs = 100

// handleWatchJobs is GET /v1/jobs?ids=A,B,C[&wait=30s]: of the listed jobs,
// those that have finished, and the ids this tier does not know (taken by
// another web tier, or forgotten by a restart or reset). With wait it
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
	out := s.finishedJobs(ids)
	if len(out.Jobs)+len(out.Unknown) == 0 && wait > 0 {
		s.waitAny(r, ids, wait)
		out = s.finishedJobs(ids)
	}
	writeJSON(w, http.StatusOK, out)
}

type watchedJobs struct {
	Jobs    []job    `json:"jobs"`    // finished (done or failed)
	Unknown []string `json:"unknown"` // ids this tier does not know
}

func (s *Server) finishedJobs(ids []string) watchedJobs {
	out := watchedJobs{Jobs: []job{}, Unknown: []string{}}
	for _, id := range ids {
		j, ok := s.jobs.get(id)
		switch {
		case !ok:
			out.Unknown = append(out.Unknown, id)
		case j.State != JobQueued:
			out.Jobs = append(out.Jobs, j)
		}
	}
	return out
}

// waitAny returns when one of the jobs finishes, wait passes or the client leaves.
func (s *Server) waitAny(r *http.Request, ids []string, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(r.Context().Done())},
	}
	for _, id := range ids {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.jobs.wait(id))})
	}
	reflect.Select(cases)
}
