package web

import (
	"embed"
	"net/http"
	"path"
)

// The page is plain HTML, CSS and JavaScript, embedded so it works offline.
//
//go:embed static
var static embed.FS

// pageCSP allows only the page's own files: no inline script or style, no
// other origin; thumbnails are blob: URLs of the user's own files.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// assetTypes are the content types of the page's files, fixed here rather
// than read from the host's MIME tables: a browser runs a module script only
// if it comes as JavaScript, and a Windows registry or an old mime.types may
// say text/plain or application/x-javascript for .js.
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// pageMaxFiles is how many files the page takes in one drop or pick: beyond
// it a tab's rows and thumbnails grow slow, and a run that size belongs to
// imgrec loadgen.
const pageMaxFiles = 1000

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	s.serveStatic(w, r, "index.html")
}

// handleStatic serves the page's assets, one level deep (no directory listings).
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	s.serveStatic(w, r, r.PathValue("file"))
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	contentType, ok := assetTypes[path.Ext(name)]
	b, err := static.ReadFile(path.Join("static", name))
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Security-Policy", pageCSP)
	// Revalidate every time: the assets are small and change with the binary.
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// limits are what the page tells users before they upload.
type limits struct {
	MaxUploadBytes int64 `json:"max_upload_bytes"`
	MaxPixels      int64 `json:"max_pixels,omitempty"`
	MaxFiles       int   `json:"max_files"` // per drop or pick on the page
	MaxWatchIDs    int   `json:"max_watch_ids"`
	ResetEnabled   bool  `json:"reset_enabled"` // an admin token is configured
}

func (s *Server) handleLimits(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, limits{
		MaxUploadBytes: s.cfg.MaxUploadBytes, MaxPixels: s.cfg.MaxPixels,
		MaxFiles: pageMaxFiles, MaxWatchIDs: maxWatchIDs, ResetEnabled: s.cfg.AdminToken != "",
	})
}
