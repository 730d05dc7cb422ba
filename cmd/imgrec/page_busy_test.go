package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPageRetriesWhenBusy: while the server's one upload slot is held
// (--max-uploads-in-progress 1, an upload half sent), the page's uploads
// get 503 with Retry-After; the page keeps them queued and retries, and
// once the slot is free every row finishes with its label.
func TestPageRetriesWhenBusy(t *testing.T) {
	ctx := startBrowser(t)
	s := startServe(t, "--max-uploads-in-progress", "1", "--read-body-timeout", "10m")
	expected := standinExpected(t)
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	held, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	image, err := os.ReadFile(filepath.Join(sharedDir, "data/imagenet-100/test_20.JPEG"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(held, "POST /v1/jobs?name=held.JPEG HTTP/1.1\r\nHost: imgrec\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(image))
	held.Write(image[:len(image)/2])
	waitMetric(t, s.url, "imgrec_uploads_in_progress", func(v int) bool { return v == 1 })

	var paths []string
	for i := 21; i < 26; i++ {
		paths = append(paths, filepath.Join(sharedDir, fmt.Sprintf("data/imagenet-100/test_%d.JPEG", i)))
	}
	act(t, ctx, chromedp.Navigate(s.url))
	waitInPage(t, ctx, "the limits shown", `document.getElementById("limits").textContent.includes("10 MiB")`)
	if handled := eval[bool](t, ctx, dropScript(t, paths)); !handled {
		t.Fatal("the page did not take the dropped files")
	}
	waitMetric(t, s.url, `imgrec_results_total{outcome="busy"}`, func(v int) bool { return v >= 1 })
	for _, r := range uploadRows(t, ctx) {
		if r.State != "queued" && r.State != "running" {
			t.Errorf("row %q while the server is busy: %s %q, want it still queued or running", r.Name, r.State, r.Label)
		}
	}

	held.Write(image[len(image)/2:])
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the held upload: %d", resp.StatusCode)
	}
	waitInPage(t, ctx, "all 5 rows finished", `[...document.querySelectorAll("#uploads tbody tr")].every(
		tr => tr.dataset.state === "done" || tr.dataset.state === "failed")`)
	for _, r := range uploadRows(t, ctx) {
		if want := expected[r.Name]; r.State != "done" || r.Label != want {
			t.Errorf("row %q: %s %q, want done %q", r.Name, r.State, r.Label, want)
		}
	}
}

// waitMetric polls the server's /metrics until the named sample satisfies ok.
func waitMetric(t *testing.T, base, name string, ok func(int) bool) {
	t.Helper()
	sample := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`)
	last := "none"
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(strings.TrimSuffix(base, "/") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := sample.FindSubmatch(b); m != nil {
			last = string(m[1])
			if v, _ := strconv.Atoi(last); ok(v) {
				return
			}
		}
	}
	t.Fatalf("metric %s: %s after a minute", name, last)
}
