package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/imgrec/imgrec"
)

// fileFields are the multipart fields an image may come in: the course
// generator's "myfile", the course page's "inputFile", and "file".
var fileFields = map[string]bool{"myfile": true, "inputFile": true, "file": true}

// upload is a validated image with its sanitised name.
type upload struct {
	name string
	data []byte
}

// readUpload takes the image from a multipart form, or, when allowRaw, from
// a raw image body named by ?name=. The body is read once, bounded by the limit.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, allowRaw bool) (*upload, error) {
	limit := s.cfg.MaxUploadBytes
	tooLarge := imgrec.Errorf(imgrec.ETOOLARGE, "upload is over the %s limit", formatBytes(limit))
	// bodyErr says why the body could not be read: too large, too slow
	// (the body deadline), or broken.
	inner := r.Body // as it comes, under the body deadline
	bodyErr := func(err error, what string) error {
		if isMaxBytes(err) {
			return tooLarge
		}
		if slow := missedDeadline(inner); slow != nil {
			return slow
		}
		return imgrec.WrapError(imgrec.EINVALID, err, "%s", what)
	}
	// Headroom for multipart framing and small fields; the file itself is checked exactly below.
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var u upload
	switch {
	case mediaType == "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "bad multipart body")
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, bodyErr(err, "bad multipart body")
			}
			if !fileFields[part.FormName()] || u.data != nil {
				continue // other fields are ignored; NextPart drains them
			}
			u.name = part.FileName()
			if u.data, err = io.ReadAll(io.LimitReader(part, limit+1)); err != nil {
				return nil, bodyErr(err, "reading upload")
			}
			if u.data == nil {
				u.data = []byte{}
			}
		}
		// Read past the closing boundary to the body's end, which lifts
		// the body deadline (bodyDeadline) and keeps the connection for
		// another request.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return nil, bodyErr(err, "reading upload")
		}
		if u.data == nil {
			return nil, imgrec.Errorf(imgrec.EINVALID, `no image in the form: send multipart/form-data with the file in field "myfile" (or "inputFile")`)
		}
	case allowRaw && (strings.HasPrefix(mediaType, "image/") || mediaType == "application/octet-stream"):
		var err error
		if u.data, err = io.ReadAll(io.LimitReader(r.Body, limit+1)); err != nil {
			return nil, bodyErr(err, "reading upload")
		}
		u.name = r.URL.Query().Get("name")
	case allowRaw:
		return nil, imgrec.Errorf(imgrec.EINVALID, "send the image as multipart/form-data (field \"file\") or as a raw body with an image/* Content-Type, not %q", mediaType)
	default:
		return nil, imgrec.Errorf(imgrec.EINVALID, `send multipart/form-data with the image in field "myfile", not %q`, mediaType)
	}
	if int64(len(u.data)) > limit {
		return nil, tooLarge
	}
	if len(u.data) == 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "the uploaded file is empty")
	}
	u.name = SanitizeName(u.name)
	return &u, nil
}

func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// maxNameBytes keeps keys well inside every backend's limit (S3: 1024, ext4: 255).
const maxNameBytes = 128

// SanitizeName turns a client's file name into a safe bucket key: the last
// path element, without control characters, path separators or a leading
// dot, at most 128 bytes with its extension kept. Empty names become "image".
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ".")
	if len(name) > maxNameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := name[:maxNameBytes-len(ext)]
		for !utf8.ValidString(stem) { // do not cut a rune in half
			stem = stem[:len(stem)-1]
		}
		name = stem + ext
	}
	if name == "" {
		return "image"
	}
	return name
}

// storeInput saves the image under its name, following the course
// convention. If a different image already has that name, it is stored
// under name-<content hash> instead, so two uploads never share a key (and
// so never each other's answers); the same image uploaded twice shares one.
// digest is the upload's imgrec.ImageDigest.
func (s *Server) storeInput(ctx context.Context, u *upload, digest string) (string, error) {
	ext := path.Ext(u.name)
	keys := []string{u.name, strings.TrimSuffix(u.name, ext) + "-" + digest[:12] + ext}
	for attempt := 0; attempt < 4; attempt++ {
		key := keys[min(attempt, 1)]
		err := s.cfg.Input.PutNew(ctx, key, u.data)
		if err == nil {
			return key, nil
		}
		if imgrec.ErrorCode(err) != imgrec.ECONFLICT {
			return "", fmt.Errorf("store %s in the input bucket: %w", key, err)
		}
		existing, err := s.cfg.Input.Get(ctx, key)
		if err == nil && bytes.Equal(existing, u.data) {
			return key, nil
		}
		if err != nil && imgrec.ErrorCode(err) != imgrec.ENOTFOUND { // not found: deleted meanwhile, try again
			return "", fmt.Errorf("read %s from the input bucket: %w", key, err)
		}
	}
	return "", imgrec.Errorf(imgrec.ECONFLICT, "could not find a free key for %s", u.name)
}

// submitted is an upload's job as accept returns it.
type submitted struct {
	job job
	// wait hears the answer on this tier's inbox; nil when the job is
	// over already (a cache hit, a replay) or another tier took it.
	wait *waiter
	// replayed: an earlier request with the same Idempotency-Key made the
	// job; this one added nothing.
	replayed bool
}

// submit checks an upload, then records its job and queues its request; or
// answers it from the result cache; or, for a retry with an Idempotency-Key
// already used, returns the first attempt's job. async jobs have nobody
// waiting for them.
func (s *Server) submit(ctx context.Context, u *upload, async bool, idemKey string) (submitted, error) {
	if err := s.cfg.Check(u.data); err != nil {
		return submitted{}, err
	}
	digest := imgrec.ImageDigest(u.data)
	id := newID()
	if idemKey != "" {
		id = IdempotentJobID(idemKey)
		old, err := s.cfg.Jobs.Get(ctx, id)
		if err == nil {
			return s.replay(old, digest, idemKey)
		}
		if imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
			return submitted{}, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "job store")
		}
	}
	key, err := s.storeInput(ctx, u, digest)
	if err != nil {
		return submitted{}, err
	}
	j := job{ID: id, Name: u.name, Key: key, State: JobQueued, Image: digest, Submitted: time.Now()}
	if r, ok := s.cached(ctx, digest); ok {
		// The output bucket gets the name's record, as from a worker,
		// before anyone hears the answer.
		out := imgrec.OutputKey(key)
		if err := s.cfg.Output.Put(ctx, out, []byte(imgrec.OutputRecord{Name: out, Label: r.Label}.String())); err != nil {
			return submitted{}, fmt.Errorf("store result %s: %w", out, err)
		}
		j = j.Finish(imgrec.Answer{Label: r.Label, Top: r.Top}, time.Now())
		j.Cached = true
	}
	created, err := s.cfg.Jobs.Create(ctx, j)
	switch {
	case imgrec.ErrorCode(err) == imgrec.ECONFLICT && idemKey != "":
		return s.replay(created, digest, idemKey) // a concurrent attempt with the key came first
	case err != nil:
		return submitted{}, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "job store")
	}
	if j.Over() {
		s.history.answered.Add(1)
		return submitted{job: j}, nil
	}
	// Waiting starts before the request leaves: its answer may come at once.
	w := s.waiting.add(j, async)
	req := imgrec.Request{ID: j.ID, Key: key, ReplyTo: s.inbox.Address(), Sent: j.Submitted}
	if len(u.data) <= s.cfg.InlineMaxBytes {
		req.Image = u.data
	}
	err = s.cfg.Queue.Send(ctx, req)
	if req.Image != nil && imgrec.ErrorCode(err) == imgrec.ETOOLARGE {
		req.Image = nil
		err = s.cfg.Queue.Send(ctx, req)
	}
	if err != nil {
		// No job without a request: the client gets 503, not an id that
		// would never be answered, and its Idempotency-Key is free again.
		s.waiting.remove(j.ID)
		if derr := s.cfg.Jobs.Delete(context.WithoutCancel(ctx), j.ID); derr != nil {
			s.log.Warn("forgetting a job whose request could not be queued failed; it stays queued until it expires", "id", j.ID, "err", derr)
		}
		return submitted{}, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "request queue")
	}
	if s.cfg.Submitted != nil {
		s.cfg.Submitted()
	}
	return submitted{job: j, wait: w}, nil
}

// codeKeyReused marks an Idempotency-Key sent again with another image (422).
const codeKeyReused = "idempotency_key_reused"

// replay answers a retry with an Idempotency-Key with the first attempt's
// job, if it sent the same image.
func (s *Server) replay(old job, digest, idemKey string) (submitted, error) {
	if old.Image != digest {
		return submitted{}, imgrec.Errorf(codeKeyReused, "Idempotency-Key %q was first sent with another image (job %s, %s): "+
			"send that image again for its job, or use a new key for this one", idemKey, old.ID, old.Name)
	}
	sub := submitted{job: old, replayed: true}
	if !old.Over() {
		sub.wait = s.waiting.get(old.ID)
		if sub.wait == nil {
			s.rescue(old)
		}
	}
	return sub, nil
}

// rescue queues a replayed job's request again once that is due, in case
// the tier that recorded the job died before queueing it: a client retries
// when it heard nothing, and a job nobody queued would never be answered.
// If the request was queued after all, the worker that takes the second
// copy finds the job answered or answers it first: the job keeps one
// answer, the output bucket one record. The store grants one claim per
// RequeueAfter across all tiers, so a job merely waiting in a long queue
// costs at most one extra request per RequeueAfter while its clients retry.
func (s *Server) rescue(j job) {
	if s.cfg.RequeueAfter < 0 {
		return
	}
	if _, already := s.rescuing.LoadOrStore(j.ID, struct{}{}); already {
		return
	}
	go func() {
		defer s.rescuing.Delete(j.ID)
		timer := time.NewTimer(time.Until(j.RequeueAt(s.cfg.RequeueAfter)))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-s.closing:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		defer cancel()
		claimed, ok, err := s.cfg.Jobs.Requeue(ctx, j.ID, s.cfg.RequeueAfter)
		switch {
		case err != nil && imgrec.ErrorCode(err) != imgrec.ENOTFOUND:
			s.log.Warn("claiming a job to queue its request again failed", "id", j.ID, "err", err)
			return
		case !ok:
			return // answered, gone, or another tier claimed it
		}
		req := imgrec.Request{ID: claimed.ID, Key: claimed.Key, ReplyTo: s.inbox.Address(), Sent: time.Now()}
		if err := s.cfg.Queue.Send(ctx, req); err != nil {
			s.log.Warn("queueing a job's request again failed; the next retry tries again", "id", j.ID, "err", err)
			return
		}
		s.metrics.requeued.Inc()
		s.log.Info("queued a job's request again: a retry found it unanswered, and the tier that took it may have died before queueing it",
			"id", j.ID, "name", j.Name, "submitted", j.Submitted)
		if s.cfg.Submitted != nil {
			s.cfg.Submitted()
		}
	}()
}

// await waits for a submitted job's answer, the timeout, or the client
// leaving.
func (s *Server) await(ctx context.Context, sub submitted) (job, error) {
	if sub.job.Over() {
		return sub.job, nil
	}
	id := sub.job.ID
	timer := time.NewTimer(s.cfg.Timeout)
	defer timer.Stop()
	if sub.wait != nil {
		select {
		case <-sub.wait.done:
			return sub.wait.answered(), nil
		case <-timer.C:
		case <-ctx.Done():
			return job{}, ctx.Err()
		}
	} else {
		// Another tier took the job (this is a retry): follow the store.
		over, missing, err := s.cfg.Jobs.Await(ctx, []string{id}, s.cfg.Timeout)
		switch {
		case len(over) == 1:
			return over[0], nil
		case len(missing) == 1: // expired or reset meanwhile: no answer is coming
			return job{}, notFound(id)
		case ctx.Err() != nil:
			return job{}, ctx.Err()
		case err != nil:
			return job{}, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "job store")
		}
	}
	// A last look, for an answer whose reply was lost.
	if j, err := s.cfg.Jobs.Get(ctx, id); err == nil && j.Over() {
		return j, nil
	}
	return job{}, forClient(imgrec.Errorf(imgrec.ETIMEOUT, "no answer within %s; the request stays queued as job %s (GET /v1/jobs/%s)", s.cfg.Timeout, id, id))
}

// cached looks the image up in the result cache under the model the
// workers run; the cache is an optimisation, so a store that fails costs a
// miss, not the upload.
func (s *Server) cached(ctx context.Context, digest string) (imgrec.Result, bool) {
	if !s.cfg.Cache {
		return imgrec.Result{}, false
	}
	m, ok := s.model(ctx)
	if !ok {
		s.metrics.cache.WithLabelValues(cacheMiss).Inc()
		return imgrec.Result{}, false
	}
	r, err := s.cfg.Jobs.Result(ctx, imgrec.ResultKey{Image: digest, Digest: m.Digest, Profile: m.Profile})
	if err != nil {
		if imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
			s.log.Warn("result cache lookup failed; asking a worker", "err", err)
		}
		s.metrics.cache.WithLabelValues(cacheMiss).Inc()
		return imgrec.Result{}, false
	}
	s.metrics.cache.WithLabelValues(cacheHit).Inc()
	return r, true
}

// modelRefresh is how long a web tier that does not know its workers' model
// trusts the one they last recorded.
const modelRefresh = 10 * time.Second

// model is the model the workers run: Config.Model, or else the one the
// workers last recorded in the store, read again every modelRefresh.
func (s *Server) model(ctx context.Context) (imgrec.Model, bool) {
	if s.cfg.Model.Digest != "" {
		return s.cfg.Model, true
	}
	s.modelMu.Lock()
	m, ok, fresh := s.workersModel, s.workersModelOK, time.Since(s.workersModelAt) < modelRefresh
	s.modelMu.Unlock()
	if fresh {
		return m, ok
	}
	m, err := s.cfg.Jobs.Model(ctx)
	ok = err == nil
	if err != nil && imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		s.log.Warn("reading the workers' model failed", "err", err)
	}
	s.modelMu.Lock()
	s.workersModel, s.workersModelOK, s.workersModelAt = m, ok, time.Now()
	s.modelMu.Unlock()
	return m, ok
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
