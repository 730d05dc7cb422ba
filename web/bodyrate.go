package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/imgrec/imgrec"
)

// Defaults for the body deadline (Config.BodyTimeout, Config.MinUploadRate).
const (
	DefaultBodyTimeout   = 30 * time.Second
	DefaultMinUploadRate = 8 << 10 // bytes a second, 64 kbit/s
)

// bodyDeadline reads a request body under a read deadline on its connection
// that moves as the body arrives: the body's start, plus timeout, plus a
// second for every rate bytes received. So a body may take timeout to get
// going and must then average rate, whatever its size: a client that sends a
// byte a second is cut off after timeout, while a 10 MiB upload at 64 kbit/s
// (rate 8 KiB/s) keeps its connection for the 22 minutes it may need. A deadline
// passed fails the read with codeTooSlow; the handler answers 408 and the
// server closes the connection, since the rest of the body is still on it.
//
// Once the body has been read to its end the deadline is lifted and never
// set again: the server's own read that watches for the client leaving while
// the handler waits for an answer would otherwise hit it and cancel the
// request. (net/http lifts it too as it starts that read.)
type bodyDeadline struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	timeout time.Duration
	rate    int64 // bytes a second; 0: the whole body within timeout
	read    int64
	ended   bool // the body was read to its end
	expired bool // the deadline passed before it
}

// limitBody puts r's body, if any, under the body deadline; until the
// handler reads it, the deadline is timeout from now, which also bounds the
// server's reading of a body the handler left unread.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) {
	if s.cfg.BodyTimeout < 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	b := &bodyDeadline{body: r.Body, rc: http.NewResponseController(w), start: time.Now(),
		timeout: s.cfg.BodyTimeout, rate: max(s.cfg.MinUploadRate, 0)}
	if b.rc.SetReadDeadline(b.deadline()) != nil {
		return // not served from a connection (a test's recorder): nothing to bound
	}
	r.Body = b
}

func (b *bodyDeadline) deadline() time.Time {
	d := b.start.Add(b.timeout)
	if b.rate > 0 {
		d = d.Add(time.Duration(float64(b.read) / float64(b.rate) * float64(time.Second)))
	}
	return d
}

func (b *bodyDeadline) Read(p []byte) (int, error) {
	if b.ended {
		return 0, io.EOF
	}
	b.rc.SetReadDeadline(b.deadline())
	n, err := b.body.Read(p)
	b.read += int64(n)
	var ne net.Error
	switch {
	case err == io.EOF:
		b.ended = true
		b.rc.SetReadDeadline(time.Time{})
	case errors.As(err, &ne) && ne.Timeout():
		b.expired = true
		return n, b.tooSlow()
	}
	return n, err
}

func (b *bodyDeadline) Close() error { return b.body.Close() }

func (b *bodyDeadline) tooSlow() error {
	if b.rate == 0 {
		return imgrec.Errorf(codeTooSlow, "the upload was too slow: a request body must arrive within %s", b.timeout)
	}
	return imgrec.Errorf(codeTooSlow, "the upload was too slow: under %s a second after its first %s", formatBytes(b.rate), b.timeout)
}

// missedDeadline returns the body deadline's error if body is under one and
// missed it, else nil. A reader above may have turned the failed read into
// an error of its own (a multipart part header cut short is "malformed"),
// so the body itself is asked.
func missedDeadline(body io.Reader) error {
	if b, ok := body.(*bodyDeadline); ok && b.expired {
		return b.tooSlow()
	}
	return nil
}
