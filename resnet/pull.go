package resnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// Download describes a file to fetch and the digest it must have.
type Download struct {
	URL    string
	SHA256 string // lowercase hex
	Dest   string // final path; written atomically
}

// Pull fetches d.URL into d.Dest unless a file with the right digest is
// already there. The data goes to a temporary file beside Dest and is renamed
// only after its SHA-256 matches, so Dest never holds a partial or wrong file.
// It reports whether it downloaded anything.
func Pull(ctx context.Context, d Download, progress func(done, total int64)) (downloaded bool, err error) {
	if sum, err := fileSHA256(d.Dest); err == nil && sum == d.SHA256 {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(d.Dest), 0o755); err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("download %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("download %s: %s", d.URL, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.Dest), filepath.Base(d.Dest)+".*.part")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()

	h := sha256.New()
	w := &countingWriter{w: io.MultiWriter(tmp, h), total: resp.ContentLength, progress: progress}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return false, fmt.Errorf("download %s: %w", d.URL, err)
	}
	if resp.ContentLength >= 0 && w.done != resp.ContentLength {
		return false, fmt.Errorf("download %s: got %d of %d bytes", d.URL, w.done, resp.ContentLength)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != d.SHA256 {
		return false, fmt.Errorf("download %s: sha256 is %s, want %s; file discarded", d.URL, sum, d.SHA256)
	}
	if err := tmp.Sync(); err != nil {
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), d.Dest); err != nil {
		return false, err
	}
	return true, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type countingWriter struct {
	w           io.Writer
	done, total int64
	progress    func(done, total int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.done += int64(n)
	if c.progress != nil {
		c.progress(c.done, c.total)
	}
	return n, err
}
