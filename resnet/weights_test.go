package resnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgrec/imgrec"
)

func TestLocateOrder(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv(ModelEnv, "")
	_, err := Locate("")
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), "imgrec model pull") ||
		!strings.Contains(err.Error(), filepath.Join(cache, "imgrec")) {
		t.Fatalf("no model: err = %v", err)
	}
	cached := filepath.Join(cache, "imgrec", WeightsFile)
	os.MkdirAll(filepath.Dir(cached), 0o755)
	os.WriteFile(cached, []byte("x"), 0o644)
	if p, err := Locate(""); err != nil || p != cached {
		t.Fatalf("cache: %q, %v", p, err)
	}
	env := filepath.Join(t.TempDir(), "env.pth")
	os.WriteFile(env, []byte("x"), 0o644)
	t.Setenv(ModelEnv, env)
	if p, err := Locate(""); err != nil || p != env {
		t.Fatalf("env: %q, %v", p, err)
	}
	if p, err := Locate(standinPath); err != nil || p != standinPath {
		t.Fatalf("flag: %q, %v", p, err)
	}
	if _, err := Locate("/nonexistent/m.pth"); imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), "--model") {
		t.Fatalf("missing flag file: %v", err)
	}
}

func TestPull(t *testing.T) {
	payload := []byte(strings.Repeat("weights", 10000))
	sum := sha256.Sum256(payload)
	good := hex.EncodeToString(sum[:])
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/ok.pth":
			w.Write(payload)
		case "/short.pth": // claims more than it sends
			w.Header().Set("Content-Length", "999999")
			w.Write(payload[:100])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	dest := filepath.Join(dir, "sub", "m.pth")
	ctx := context.Background()

	var last int64
	got, err := Pull(ctx, Download{URL: srv.URL + "/ok.pth", SHA256: good, Dest: dest}, func(done, total int64) { last = done })
	if err != nil || !got {
		t.Fatalf("pull: %v, %v", got, err)
	}
	if b, _ := os.ReadFile(dest); string(b) != string(payload) || last != int64(len(payload)) {
		t.Fatalf("file has %d bytes, progress %d", len(b), last)
	}
	if got, err := Pull(ctx, Download{URL: srv.URL + "/ok.pth", SHA256: good, Dest: dest}, nil); err != nil || got || hits != 1 {
		t.Fatalf("second pull downloaded again: %v %v hits=%d", got, err, hits)
	}

	for _, c := range []struct{ path, sha, want string }{
		{"/ok.pth", strings.Repeat("0", 64), "sha256 is " + good},
		{"/missing.pth", good, "404"},
		{"/short.pth", good, "unexpected EOF"},
	} {
		d := filepath.Join(dir, "bad"+strings.TrimSuffix(c.path[1:], ".pth"))
		_, err := Pull(ctx, Download{URL: srv.URL + c.path, SHA256: c.sha, Dest: d}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.path, err, c.want)
		}
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s: destination exists after a failed pull", c.path)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.part")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
