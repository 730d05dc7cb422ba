// Package loadgen drives a web tier the way the course's workload generator
// does, POSTing images as multipart uploads, and measures what comes back:
// right and wrong labels, failures, throughput and latency.
//
// A run is closed-loop (Config.Concurrency workers, each sending its next
// request when the last is answered, as the course's generator does) or
// open-loop (Config.Arrivals: each request is sent at its time whatever
// the server is doing, as independent users would; at most Concurrency in
// flight, and a request due when they are all taken is dropped and counted,
// never delayed into a closed loop).
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/imgrec/imgrec"
)

// DefaultField is the multipart file field the course's generator uses.
const DefaultField = "myfile"

// maxBody bounds how much of a response is read: a label or a one-line reason.
const maxBody = 64 << 10

// Image is one file to upload, held in memory so reading disks does not
// pace the load.
type Image struct {
	Name string // sent as the part's filename and looked up in Config.Expected
	Data []byte
}

// Config describes one run.
type Config struct {
	URL    string  // the upload endpoint, e.g. http://host/
	Images []Image // cycled through in order until Requests are sent

	// Requests is how many requests to send, at least 1; with Arrivals, 0
	// or len(Arrivals).
	Requests int
	// Concurrency bounds the requests in flight, at least 1. Closed loop,
	// it is how many are kept in flight; open loop, a request due while
	// this many are in flight is dropped (Summary.Dropped).
	Concurrency int
	// Arrivals, if set, makes the run open-loop: request i is sent
	// Arrivals[i] after the start (sorted ascending, not negative), whether
	// earlier ones were answered or not.
	Arrivals []time.Duration
	// LateAfter is how far behind its time an open-loop request may be
	// sent before it counts as late (Summary.Late); DefaultLateAfter if 0.
	LateAfter time.Duration
	// Workload describes the arrivals for the summary, e.g. "poisson:2,5m".
	Workload string

	// Expected maps an image's Name to the label the server should answer;
	// nil means any 200 is ok. Images missing from it are not checked.
	Expected map[string]string

	Timeout time.Duration // per request, reading the answer included; 0 means none
	Field   string        // multipart file field; DefaultField if empty

	// Client sends the requests; if nil, one whose transport keeps
	// Concurrency idle connections per host, so connections are reused.
	Client *http.Client

	// Progress, if set, is called after every request completes, never
	// concurrently. It holds up recording other results, so keep it quick.
	Progress func(Snapshot)
}

// DefaultLateAfter is Config.LateAfter's default: well above the timer
// slack of a loaded machine, well below what a server would notice.
const DefaultLateAfter = 10 * time.Millisecond

// Snapshot is the state of a run in progress.
type Snapshot struct {
	Total, Done       int // requests planned and completed
	OK, Wrong, Failed int
	Dropped           int // open loop: due while every slot was taken, not sent
	Elapsed           time.Duration
}

// Run sends cfg.Requests requests with at most cfg.Concurrency in flight and
// summarises them. Wrong labels and failed requests are reported in the
// Summary, not as an error; the error is for an invalid Config (code
// imgrec.EINVALID) or ctx's error when ctx ends the run early. Then no new
// request is sent, those in flight are waited for (bounded by cfg.Timeout),
// and the Summary covers the requests completed.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Arrivals != nil && cfg.Requests == 0 {
		cfg.Requests = len(cfg.Arrivals)
	}
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	bodies, err := encode(cfg.Images, cmp.Or(cfg.Field, DefaultField))
	if err != nil {
		return Summary{}, err
	}
	client := cfg.Client
	if client == nil {
		client = newClient(cfg.Concurrency)
		defer client.CloseIdleConnections() // callers may Run many times
	}
	// Requests outlive a cancelled ctx so that in-flight answers are counted.
	reqCtx := context.WithoutCancel(ctx)

	rec := newRecorder(cfg)
	send := func(i int, due time.Duration) {
		k := i % len(cfg.Images)
		sent := time.Now()
		got, status, err := post(reqCtx, client, cfg.URL, bodies[k], cfg.Timeout)
		rec.add(i, cfg.Images[k].Name, due, sent, time.Since(sent), got, status, err)
	}
	if cfg.Arrivals != nil {
		runOpen(ctx, cfg, rec, send)
	} else {
		runClosed(ctx, cfg, rec, send)
	}

	s := rec.summary()
	if s.Requests+s.Dropped < cfg.Requests {
		s.Interrupted = true
		return s, ctx.Err()
	}
	return s, nil
}

// runClosed keeps cfg.Concurrency requests in flight: each worker sends its
// next request when the last is answered.
func runClosed(ctx context.Context, cfg Config, rec *recorder, send func(i int, due time.Duration)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, cfg.Requests) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Requests {
					return
				}
				send(i, -1)
			}
		})
	}
	wg.Wait()
}

// runOpen sends request i at cfg.Arrivals[i] after the start, each in its
// own goroutine, with at most cfg.Concurrency in flight: a request due when
// all are taken is dropped, so the load never waits on the server.
func runOpen(ctx context.Context, cfg Config, rec *recorder, send func(i int, due time.Duration)) {
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i, due := range cfg.Arrivals {
		if wait := time.Until(rec.start.Add(due)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-slots }()
				send(i, due)
			})
		default:
			rec.drop(i, cfg.Images[i%len(cfg.Images)].Name, due)
		}
	}
	wg.Wait()
}

func (c *Config) validate() error {
	invalid := func(format string, args ...any) error {
		return imgrec.Errorf(imgrec.EINVALID, format, args...)
	}
	if c.URL == "" {
		return invalid("no URL to send requests to")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("URL %q: want http://host[:port]/path", c.URL)
	}
	switch {
	case len(c.Images) == 0:
		return invalid("no images to send")
	case c.Requests < 1:
		return invalid("%d requests: need at least 1", c.Requests)
	case c.Arrivals != nil && c.Requests != len(c.Arrivals):
		return invalid("%d requests for %d arrival times", c.Requests, len(c.Arrivals))
	case c.LateAfter < 0:
		return invalid("late after %v: must not be negative", c.LateAfter)
	case c.Concurrency < 1:
		return invalid("concurrency %d: need at least 1", c.Concurrency)
	case c.Timeout < 0:
		return invalid("timeout %v: must not be negative", c.Timeout)
	}
	for i, at := range c.Arrivals {
		if at < 0 || (i > 0 && at < c.Arrivals[i-1]) {
			return invalid("arrival %d at %v: arrivals must be sorted and not negative", i, at)
		}
	}
	return nil
}

// newClient returns a client that keeps one idle connection per worker, so
// connections are reused rather than redialled (net/http keeps only 2).
func newClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = concurrency
	t.MaxIdleConns = max(t.MaxIdleConns, concurrency)
	return &http.Client{Transport: t}
}

// body is an image's request body, encoded once and reused for every request.
type body struct {
	contentType string
	data        []byte
}

func encode(images []Image, field string) ([]body, error) {
	bodies := make([]body, len(images))
	for i, img := range images {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", multipart.FileContentDisposition(field, img.Name))
		h.Set("Content-Type", contentType(img.Name))
		part, err := mw.CreatePart(h)
		if err == nil {
			_, err = part.Write(img.Data)
		}
		if err == nil {
			err = mw.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", img.Name, err)
		}
		bodies[i] = body{mw.FormDataContentType(), buf.Bytes()}
	}
	return bodies, nil
}

func contentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

// statusError is a non-200 answer.
type statusError struct {
	code   int
	reason string // the body's first line
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
	if e.reason != "" {
		s += ": " + e.reason
	}
	return s
}

// post sends one upload and returns the label the server answered and the
// HTTP status (0 if none came).
func post(ctx context.Context, client *http.Client, target string, b body, timeout time.Duration) (string, int, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b.data))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", b.contentType)
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		line, _, _ := strings.Cut(strings.TrimSpace(string(text)), "\n")
		return "", resp.StatusCode, &statusError{resp.StatusCode, truncate(strings.TrimSpace(line), 200)}
	}
	return strings.TrimSpace(string(text)), resp.StatusCode, nil
}

// reason names a failure so that alike failures group together: addresses
// and ephemeral ports are left out.
func reason(err error, timeout time.Duration) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		if timeout > 0 {
			return fmt.Sprintf("timeout after %v", timeout)
		}
		return "timeout" // the caller's Client.Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before the answer"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error(), 200)
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
