package nova

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/imgrec/imgrec"
)

// apiError gives an OpenStack failure an imgrec code and says which
// operation failed, with Nova's own message rather than gophercloud's
// whole response: the caller's mistakes (400, a server in the wrong state:
// 409) are EINVALID, a vanished server (404) ENOTFOUND, everything else —
// authentication, permissions and quota (401, 403), rate limits, Nova's own
// failures, the network — EUNAVAILABLE.
func apiError(err error, format string, args ...any) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	var resp gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &resp) {
		return imgrec.WrapError(imgrec.EUNAVAILABLE, err, format, args...)
	}
	code := imgrec.EUNAVAILABLE
	switch resp.Actual {
	case http.StatusBadRequest, http.StatusConflict:
		code = imgrec.EINVALID
	case http.StatusNotFound:
		code = imgrec.ENOTFOUND
	}
	return imgrec.WrapError(code, &novaError{status: resp.Actual, method: resp.Method, url: resp.URL, message: message(resp.Body), err: err}, format, args...)
}

// novaError is an OpenStack API error in a line.
type novaError struct {
	status      int
	method, url string
	message     string
	err         error
}

func (e *novaError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.url, e.status, e.message)
}

func (e *novaError) Unwrap() error { return e.err }

// message is the message of an OpenStack error body such as
// {"conflictingRequest": {"code": 409, "message": "..."}}, else the body.
func message(body []byte) string {
	var m map[string]struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil {
		for _, v := range m {
			if v.Message != "" {
				return v.Message
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
