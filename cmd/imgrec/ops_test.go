package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec/loadgen"
)

// listeningLine is a JSON log's "listening" record: where a tier serves.
var listeningLine = regexp.MustCompile(`"msg":"listening","addr":"(http://[^"]+/)"`)

// natsLine is imgrec nats's line saying where it serves.
var natsLine = regexp.MustCompile(`imgrec nats on (nats://\S+)`)

// TestTierOps runs a NATS server (imgrec nats), a web tier, a worker and a
// controller as their own processes, logging JSON, and reads back what operators use: each tier's
// probes, its metrics after real work (a bad image among it), its log, and
// that the Grafana dashboard asks only for metrics the tiers export. Then
// the queue goes away: the tiers stay alive and say they are not ready.
func TestTierOps(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // where the controller packs the model
	nats := startProcess(t, natsLine, "nats", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json")
	blobs := "file://" + t.TempDir()
	web := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", nats.url, "--blobs", blobs, "--log-format", "json")
	wk := startProcess(t, listeningLine, "worker", "--queue", nats.url, "--blobs", blobs, "--model", standinModel, "--id", "w-ops",
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	// The controller watches a queue of its own, empty, so that it
	// launches no worker to take requests from the one above.
	ctl := startProcess(t, listeningLine, "controller", "--queue", nats.url, "--queue-prefix", "idle", "--blobs", blobs,
		"--model", standinModel, "--metrics-addr", "127.0.0.1:0", "--log-format", "json")

	for _, c := range []struct {
		url   string
		paths []string
	}{{web.url, []string{"livez", "healthz", "readyz"}}, {wk.url, []string{"livez", "readyz"}}, {ctl.url, []string{"livez", "readyz"}}} {
		for _, p := range c.paths {
			if code, body := httpGet(t, c.url+p); code != 200 || body != "ok\n" {
				t.Errorf("%s%s: %d %q, want 200 ok", c.url, p, code, body)
			}
		}
	}

	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: web.url, Images: loadCourseImages(t)[:10], Requests: 10, Concurrency: 5, Expected: standinExpected(t), Timeout: time.Minute,
	})
	if err != nil || sum.OK != 10 {
		t.Fatalf("%v %+v\nworker log:\n%s", err, sum, wk.logText())
	}
	jpeg, err := os.ReadFile(filepath.Join(sharedDir, "data/imagenet-100/test_3.JPEG"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := postFile(t, web.url, "truncated.JPEG", jpeg[:len(jpeg)/2]); code != 422 {
		t.Fatalf("a truncated JPEG: %d %q, want 422 from the worker", code, body)
	}

	var webMetrics, workerMetrics, ctlMetrics string
	waitFor(t, "the worker's metrics of 11 requests", func() bool {
		_, workerMetrics = httpGet(t, wk.url+"metrics")
		return strings.Contains(workerMetrics, `imgrec_worker_failures_total{reason="decode"} 1`) &&
			strings.Contains(workerMetrics, "imgrec_worker_batch_size_sum 10\n")
	})
	for _, want := range []string{"imgrec_worker_queue_wait_seconds_count 11", "imgrec_worker_decode_seconds_count 11",
		`imgrec_worker_failures_total{reason="store"} 0`, "imgrec_worker_requests_in_hand 0", "process_cpu_seconds_total"} {
		if !strings.Contains(workerMetrics, want) {
			t.Errorf("worker metrics lack %q", want)
		}
	}
	if !regexp.MustCompile(`imgrec_worker_batch_inference_seconds_count [1-9]`).MatchString(workerMetrics) {
		t.Errorf("worker metrics: no forward pass observed")
	}
	_, webMetrics = httpGet(t, web.url+"metrics")
	for _, want := range []string{`imgrec_request_duration_seconds_count{endpoint="course",outcome="ok"} 10`,
		`imgrec_request_duration_seconds_count{endpoint="course",outcome="failed"} 1`, `imgrec_results_total{outcome="failed"} 1`,
		"imgrec_queue_up 1", "imgrec_queue_depth 0", "imgrec_queue_stats_errors_total 0"} {
		if !strings.Contains(webMetrics, want) {
			t.Errorf("web metrics lack %q", want)
		}
	}
	_, ctlMetrics = httpGet(t, ctl.url+"metrics")
	for _, want := range []string{`imgrec_instances{provider="local",state="running"} 0`, "imgrec_desired_instances", "go_goroutines"} {
		if !strings.Contains(ctlMetrics, want) {
			t.Errorf("controller metrics lack %q", want)
		}
	}

	t.Run("dashboard", func(t *testing.T) {
		exported := map[string]bool{}
		for _, m := range []string{webMetrics, workerMetrics, ctlMetrics} {
			for name := range metricNames(m) {
				exported[name] = true
			}
		}
		exprs := dashboardExprs(t, "../../deploy/grafana/imgrec.json")
		if len(exprs) < 10 {
			t.Fatalf("the dashboard has %d queries; want its panels' queries", len(exprs))
		}
		asked := map[string]bool{}
		for _, e := range exprs {
			for _, name := range promqlMetrics.FindAllString(e, -1) {
				asked[name] = true
				if !exported[name] {
					t.Errorf("the dashboard asks for %s, which no tier exports (in %s)", name, e)
				}
			}
		}
		// Every imgrec metric is on the dashboard (as itself or a histogram's series).
		for name := range exported {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if strings.HasPrefix(name, "imgrec_") && !asked[name] && !asked[base+"_bucket"] && !asked[base+"_sum"] && !asked[base+"_count"] && !asked[base] {
				t.Errorf("%s is exported but not on the dashboard", name)
			}
		}
	})

	// Every log line of each tier is a JSON record with a level and a message.
	for name, p := range map[string]*served{"nats": nats, "web": web, "worker": wk, "controller": ctl} {
		msgs := jsonMessages(t, name, p.logText())
		for _, want := range map[string][]string{"nats": {"nats server started"}, "web": {"listening"}, "worker": {"listening", "worker started", "done"},
			"controller": {"listening", "controller started"}}[name] {
			if !msgs[want] {
				t.Errorf("%s logged no JSON record %q", name, want)
			}
		}
	}

	// The queue goes away: nobody is ready, everybody lives.
	nats.stop(t)
	tiers := []string{web.url, wk.url, ctl.url}
	waitFor(t, "every tier's readyz to fail", func() bool {
		ready := make(chan bool, len(tiers))
		for _, u := range tiers { // at once: each check takes its timeout
			go func() {
				resp, err := http.Get(u + "readyz")
				if err == nil {
					resp.Body.Close()
				}
				ready <- err == nil && resp.StatusCode == 503
			}()
		}
		all := true
		for range tiers {
			all = <-ready && all
		}
		return all
	})
	for _, u := range tiers {
		if code, _ := httpGet(t, u+"livez"); code != 200 {
			t.Errorf("%slivez with the queue down: %d, want 200", u, code)
		}
	}
	if code, body := httpGet(t, wk.url+"readyz"); !strings.Contains(body, "queue") {
		t.Errorf("worker readyz with the queue down: %d %q, want the queue named", code, body)
	}
	if _, m := httpGet(t, web.url+"metrics"); !strings.Contains(m, "imgrec_queue_up 0") || strings.Contains(m, "imgrec_queue_depth ") {
		t.Errorf("web metrics with the queue down: want imgrec_queue_up 0 and no depth")
	}
}

// TestMetricsPortTaken: a worker or controller whose --metrics-addr is in
// use says so and exits at once, before it opens its queue.
func TestMetricsPortTaken(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, cmd := range [][]string{
		{"controller", "--queue", "nats://127.0.0.1:1", "--blobs", t.TempDir(), "--model", standinModel},
		{"worker", "--queue", "nats://127.0.0.1:1", "--blobs", t.TempDir(), "--model", standinModel},
	} {
		code, _, errs := runImgrec(t, append(cmd, "--metrics-addr", addr)...)
		if code != 1 || !strings.Contains(errs, "--metrics-addr "+addr) || !strings.Contains(errs, "address already in use") {
			t.Errorf("%s with its metrics port taken: exit %d, %q; want 1 and the address in use", cmd[0], code, errs)
		}
	}
	// Off unless asked for: no controller listens on Prometheus's 9090.
	if code, _, errs := runImgrec(t, "controller", "-h"); code != 0 || !strings.Contains(errs, "-metrics-addr") || strings.Contains(errs, "9090") {
		t.Errorf("controller -h: %d %q", code, errs)
	}
}

// postFile uploads data as the course's generator does and returns the
// status and body.
func postFile(t *testing.T, url, name string, data []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("myfile", name)
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricNames are the series names of a text exposition (histograms as
// their _bucket, _sum and _count).
func metricNames(text string) map[string]bool {
	names := map[string]bool{}
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names[line[:strings.IndexAny(line, "{ ")]] = true
	}
	return names
}

// promqlMetrics finds the metric names in a PromQL expression: imgrec's
// own, Go's and the process's (label names and functions have other forms).
var promqlMetrics = regexp.MustCompile(`\b(?:imgrec|go|process)_[a-zA-Z0-9_]+`)

// dashboardExprs reads every query of a Grafana dashboard, rows' nested
// panels included.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Type    string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage
	}
	var dash struct {
		Title  string
		Panels []json.RawMessage
	}
	if err := json.Unmarshal(b, &dash); err != nil || dash.Title == "" {
		t.Fatalf("%s: %v (title %q)", path, err, dash.Title)
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: a panel: %v", path, err)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: a %s panel without a query", path, p.Type)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	return slices.Compact(exprs)
}

// jsonMessages checks that every line of a tier's log is a JSON record with
// a level and a message, and returns the messages.
func jsonMessages(t *testing.T, tier, log string) map[string]bool {
	t.Helper()
	msgs := map[string]bool{}
	for line := range strings.Lines(log) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "imgrec web tier on ") || strings.HasPrefix(line, "imgrec nats on ") { // their one human line
			continue
		}
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("%s: not a JSON log record with level and msg: %q (%v)", tier, line, err)
			continue
		}
		msgs[rec.Msg] = true
	}
	return msgs
}
