package web

import "net/http"

// requestIDHeader carries a request's id, on every response: the client
// quotes it, and the log has it beside anything that went wrong.
const requestIDHeader = "X-Request-Id"

// maxRequestIDBytes bounds a client's id: a UUID, a trace id or ours fit.
const maxRequestIDBytes = 64

// requestID is the client's X-Request-Id if it is well-formed (1 to 64
// letters, digits and - _ . :), so a request can be traced through a proxy
// or client that set one; otherwise a new one, so ids stay short and safe to
// quote and search for.
func requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); validRequestID(id) {
		return id
	}
	return newID()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDBytes {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
