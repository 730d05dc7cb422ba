package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
func (s *Server) storeInput(ctx context.Context, u *upload) (string, error) {
	sum := sha256.Sum256(u.data)
	ext := path.Ext(u.name)
	keys := []string{u.name, strings.TrimSuffix(u.name, ext) + "-" + hex.EncodeToString(sum[:6]) + ext}
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

// submit checks, stores and queues an upload and returns its job; async
// jobs have nobody waiting for them.
func (s *Server) submit(ctx context.Context, u *upload, async bool) (*job, error) {
	if err := s.cfg.Check(u.data); err != nil {
		return nil, err
	}
	key, err := s.storeInput(ctx, u)
	if err != nil {
		return nil, err
	}
	j := &job{ID: newID(), Name: u.name, Key: key, State: JobQueued, Submitted: time.Now(), async: async}
	s.jobs.add(j)
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
		s.jobs.finish(imgrec.Response{ID: j.ID, Error: "could not queue the request"}) // the details go to the log, not to whoever reads the job
		return nil, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "request queue")
	}
	if s.cfg.Submitted != nil {
		s.cfg.Submitted()
	}
	return j, nil
}

// await waits for the job's answer, the timeout, or the client leaving.
func (s *Server) await(ctx context.Context, id string) (job, error) {
	timer := time.NewTimer(s.cfg.Timeout)
	defer timer.Stop()
	select {
	case <-s.jobs.wait(id):
		j, _ := s.jobs.get(id)
		return j, nil
	case <-timer.C:
		return job{}, forClient(imgrec.Errorf(imgrec.ETIMEOUT, "no answer within %s; the request stays queued as job %s (GET /v1/jobs/%s)", s.cfg.Timeout, id, id))
	case <-ctx.Done():
		return job{}, ctx.Err()
	}
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
