package web

import (
	_ "embed"
	"net/http"
)

//go:embed page.html
var pageHTML []byte

// handlePage serves the upload page; it has no script, so the strictest
// Content-Security-Policy applies.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'")
	w.Write(pageHTML)
}
