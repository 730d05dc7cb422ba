package web

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/imgrec/imgrec"
)

// busyRetryAfter is how long a client refused for too many uploads in
// progress is asked to wait (Retry-After): a slot is held only while an
// upload arrives and is stored and queued, usually well under a second.
const busyRetryAfter = time.Second

// uploadSlots bounds the uploads in progress: those whose body is being
// received, checked, stored and queued. That is when an upload's bytes are in
// memory, so the bound times MaxUploadBytes bounds that memory. Waiting for
// the answer holds no image and takes no slot, and nothing else (the page,
// health, status, results) takes one.
type uploadSlots struct {
	max int64 // 0: no bound
	n   atomic.Int64
}

// acquire takes a slot, or reports that all are taken.
func (u *uploadSlots) acquire() bool {
	for {
		n := u.n.Load()
		if u.max > 0 && n >= u.max {
			return false
		}
		if u.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (u *uploadSlots) release() { u.n.Add(-1) }

// inProgress is the number of slots taken.
func (u *uploadSlots) inProgress() int64 { return u.n.Load() }

// accept takes an upload in, within the bound on uploads in progress: it
// reads, checks, stores and queues the image, and returns its job.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, allowRaw, async bool) (submitted, error) {
	if !s.uploads.acquire() {
		return submitted{}, forClient(imgrec.Errorf(codeBusy, "too many uploads in progress (the limit is %d); try again in %s",
			s.uploads.max, busyRetryAfter))
	}
	defer s.uploads.release()
	idemKey := r.Header.Get("Idempotency-Key")
	if _, given := r.Header["Idempotency-Key"]; given {
		if err := checkIdempotencyKey(idemKey); err != nil {
			return submitted{}, err
		}
	}
	u, err := s.readUpload(w, r, allowRaw)
	if err != nil {
		return submitted{}, err
	}
	sub, err := s.submit(r.Context(), u, async, idemKey)
	if sub.replayed {
		w.Header().Set(replayedHeader, "true")
	}
	return sub, err
}
