package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/imgrec/imgrec"
)

// HTTP-only codes, beside the domain's.
const (
	codeForbidden    = "forbidden"
	codeUnauthorized = "unauthorized"
	codeBusy         = "busy"     // too many uploads in progress: 503 with Retry-After
	codeTooSlow      = "too_slow" // a request body arrived slower than the minimum rate: 408
)

func httpStatus(err error) int {
	if errors.Is(err, context.Canceled) {
		return 499 // the client went away; nobody reads this
	}
	switch imgrec.ErrorCode(err) {
	case imgrec.EINVALID:
		return http.StatusBadRequest
	case imgrec.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case imgrec.ENOTFOUND:
		return http.StatusNotFound
	case imgrec.ECONFLICT:
		return http.StatusConflict
	case imgrec.ETIMEOUT:
		return http.StatusGatewayTimeout
	case imgrec.EUNAVAILABLE, codeBusy:
		return http.StatusServiceUnavailable
	case codeUnprocessable, codeKeyReused:
		return http.StatusUnprocessableEntity
	case codeForbidden:
		return http.StatusForbidden
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeTooSlow:
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

// clientError is a 5xx error whose message the web tier wrote for the
// client: it names nothing internal, so the client sees it whole.
type clientError struct{ err *imgrec.Error }

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// forClient marks e as fit for the client though its status is 5xx.
func forClient(e *imgrec.Error) error { return &clientError{e} }

// clientMessage is what the client is told of err. A 4xx error's message is
// meant for the client (a bad image, the limit it broke, what was not found)
// and is shown whole. A 5xx error's may carry file paths, hosts and a
// backend's own words, so unless the web tier marked it forClient, the client
// gets a summary and the request id, and the log the whole error.
func clientMessage(err error, status int, id string) (msg string, hidden bool) {
	if _, ok := err.(*clientError); ok || status < 500 {
		return oneLine(err), false
	}
	what := "internal error"
	switch status {
	case http.StatusServiceUnavailable:
		what = "service unavailable: a queue, bucket or instance provider did not answer"
	case http.StatusGatewayTimeout:
		what = "a backend did not answer in time"
	}
	return fmt.Sprintf("%s (request id %s; the server's log has the details)", what, id), true
}

// oneLine keeps error bodies to a single line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// apiError is the JSON API's error body.
type apiError struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

// textError answers err in plain text, for the course endpoint and /healthz.
func (s *Server) textError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := s.failed(w, r, err)
	http.Error(w, msg, status)
}

// jsonError answers err in the JSON API's error shape.
func (s *Server) jsonError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := s.failed(w, r, err)
	writeJSON(w, status, apiError{Error: msg, Code: imgrec.ErrorCode(err), RequestID: w.Header().Get(requestIDHeader)})
}

// failed logs err under the request's id, at error level when its details
// are hidden from the client, and returns the status and client's message.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, err error) (int, string) {
	status := httpStatus(err)
	id := w.Header().Get(requestIDHeader)
	msg, hidden := clientMessage(err, status, id)
	if imgrec.ErrorCode(err) == codeBusy {
		w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter.Seconds())))
	}
	level := slog.LevelDebug
	if hidden {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	return status, msg
}
