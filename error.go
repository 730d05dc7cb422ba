package imgrec

import (
	"errors"
	"fmt"
)

// Error codes, coarse enough for a transport to map them to a status
// (HTTP, exit code) without knowing which backend failed.
const (
	EINVALID     = "invalid"     // the caller's input is wrong
	ENOTFOUND    = "not_found"   // the named thing does not exist
	ECONFLICT    = "conflict"    // the named thing exists already
	ETOOLARGE    = "too_large"   // the input exceeds a configured limit
	ETIMEOUT     = "timeout"     // no answer within the allotted time
	EUNAVAILABLE = "unavailable" // a dependency is down or not configured
	EINTERNAL    = "internal"    // a bug or an unexpected failure
)

// Error is an error with a code and a message fit for the end user.
type Error struct {
	Code    string
	Message string
	Err     error // the underlying cause, if any
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError attaches a code and message to err.
func WrapError(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
