package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/simulate"
)

const (
	courseImages = "../../../shared/data/imagenet-100"
	courseLabels = "../../../shared/data/classification_results.csv"
)

// courseServer stands in for the web tier: it takes the upload from field
// myfile, checks it is the named course image byte for byte, and answers
// answer(name), by default the course's expected label.
type courseServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newCourseServer(t *testing.T, answer func(w http.ResponseWriter, name string)) *courseServer {
	t.Helper()
	labels, err := readExpected(courseLabels)
	if err != nil {
		t.Fatal(err)
	}
	if answer == nil {
		answer = func(w http.ResponseWriter, name string) { fmt.Fprint(w, labels[name]) }
	}
	s := &courseServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, h, err := r.FormFile("myfile")
		if err != nil {
			t.Errorf("no myfile in the form: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got, _ := io.ReadAll(f)
		want, err := os.ReadFile(filepath.Join(courseImages, filepath.Base(h.Filename)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes uploaded do not match the file (%v)", h.Filename, len(got), err)
		}
		s.mu.Lock()
		s.seen = append(s.seen, h.Filename)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		answer(w, h.Filename)
	}))
	t.Cleanup(s.Close)
	return s
}

func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	return execute(ctx, append([]string{"loadgen"}, args...)...)
}

func wantContains(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

func TestLoadgenAllRightWithCourseSpellings(t *testing.T) {
	srv := newCourseServer(t, nil)
	code, out, errs := runCmd(t.Context(), "--url", srv.URL+"/", "--image_folder", courseImages, "--num_request", "150",
		"--concurrency", "4", "--expected", courseLabels)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, errs)
	}
	if errs != "" {
		t.Errorf("stderr not a terminal, want it silent; got:\n%s", errs)
	}
	wantContains(t, "summary", out, "requests    150 of 150, concurrency 4\n", "ok          150\n", "wrong       0\n",
		"failed      0\n", "throughput  ", " req/s\n", "latency     min ", " p50 ", " p95 ", " p99 ", " max ")
	if strings.Contains(out, "wrong answers") || strings.Contains(out, "failures") {
		t.Errorf("summary lists problems when there are none:\n%s", out)
	}
	if len(srv.seen) != 150 {
		t.Errorf("server got %d requests, want 150", len(srv.seen))
	}
}

func TestLoadgenSendsInNaturalOrder(t *testing.T) {
	srv := newCourseServer(t, nil)
	code, _, errs := runCmd(t.Context(), "--url", srv.URL, "--image-folder", courseImages, "--num-request", "102", "--concurrency", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for i, want := range map[int]string{0: "test_0.JPEG", 2: "test_2.JPEG", 10: "test_10.JPEG", 99: "test_99.JPEG", 100: "test_0.JPEG", 101: "test_1.JPEG"} {
		if srv.seen[i] != want {
			t.Errorf("request %d sent %s, want %s", i, srv.seen[i], want)
		}
	}
}

func TestLoadgenWrongAndFailed(t *testing.T) {
	labels, err := readExpected(courseLabels)
	if err != nil {
		t.Fatal(err)
	}
	srv := newCourseServer(t, func(w http.ResponseWriter, name string) {
		switch name {
		case "test_3.JPEG":
			fmt.Fprint(w, "nope")
		case "test_5.JPEG":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			fmt.Fprint(w, labels[name])
		}
	})
	code, out, errs := runCmd(t.Context(), "--url", srv.URL, "--image-folder", courseImages, "--num-request", "200",
		"--concurrency", "3", "--expected", courseLabels)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errs)
	}
	wantContains(t, "summary", out, "requests    200 of 200", "ok          196\n", "wrong       2\n", "failed      2\n",
		"wrong answers (first 2 of 2):\n", `  test_3.JPEG  got "nope"  want "dromedary"`,
		"failures:\n", "       2  HTTP 500 Internal Server Error: boom\n")
	wantContains(t, "stderr", errs, "imgrec loadgen: 2 wrong and 2 failed of 200 requests\n")

	// Without --expected only the failures count.
	code, out, _ = runCmd(t.Context(), "--url", srv.URL, "--image-folder", courseImages, "--num-request", "100")
	if code != 1 {
		t.Errorf("exit %d, want 1 for the 500", code)
	}
	wantContains(t, "summary", out, "ok          99\n", "wrong       0 (labels not checked: no --expected)\n", "failed      1\n")
}

func TestLoadgenJSON(t *testing.T) {
	srv := newCourseServer(t, nil)
	code, out, errs := runCmd(t.Context(), "--json", "--url", srv.URL, "--image-folder", courseImages, "--num-request", "20",
		"--concurrency", "2", "--expected", courseLabels)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s struct {
		Requests, Planned, OK, Wrong, Failed int
		Interrupted                          bool
		WallSeconds                          float64                         `json:"wall_seconds"`
		Throughput                           float64                         `json:"throughput_rps"`
		Latency                              struct{ P50, P99, Max float64 } `json:"latency_seconds"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout is not one JSON object (%v):\n%s", err, out)
	}
	if s.Requests != 20 || s.Planned != 20 || s.OK != 20 || s.Wrong != 0 || s.Failed != 0 || s.Interrupted {
		t.Errorf("counts %+v", s)
	}
	if s.WallSeconds <= 0 || s.WallSeconds > 60 || s.Throughput <= 0 || s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.Max {
		t.Errorf("implausible measures in seconds: %+v", s)
	}
}

func TestLoadgenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var mu sync.Mutex
	srv := newCourseServer(t, func(w http.ResponseWriter, name string) {
		mu.Lock()
		if n++; n == 10 {
			cancel() // as Ctrl-C would
		}
		mu.Unlock()
		fmt.Fprint(w, "x")
	})
	code, out, errs := runCmd(ctx, "--url", srv.URL, "--image-folder", courseImages, "--num-request", "100000", "--concurrency", "2")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errs)
	}
	wantContains(t, "summary", out, " of 100000 (interrupted), concurrency 2\n", "failed      0\n")
	wantContains(t, "stderr", errs, "imgrec loadgen: interrupted after ")
}

func TestLoadgenEnvAndHeader(t *testing.T) {
	srv := newCourseServer(t, nil)
	csvPath := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(csvPath, []byte("\ufefffile,label\r\ntest_0.JPEG,bathtub\r\ntest_1.JPEG, tile roof\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMGREC_NUM_REQUEST", "7")
	t.Setenv("IMGREC_URL", srv.URL)
	code, out, errs := runCmd(t.Context(), "--image-folder", courseImages, "--expected", csvPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	wantContains(t, "summary", out, "requests    7 of 7", "ok          7\n")
	wantContains(t, "stderr", errs, "98 of 100 images have no label in "+csvPath)
}

func TestLoadgenUsage(t *testing.T) {
	srv := newCourseServer(t, nil)
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, ".hidden.jpg"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCSV := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(badCSV, []byte("test_0.JPEG,bathtub\ntest_1.JPEG,tile roof,extra\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--url", srv.URL, "--image-folder", courseImages, "--num-request", "1"}
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no url", []string{"--image-folder", courseImages, "--num-request", "1"}, "--url is required"},
		{"no folder", []string{"--url", srv.URL, "--num-request", "1"}, "--image-folder is required"},
		{"no count", []string{"--url", srv.URL, "--image-folder", courseImages}, "--num-request 0: must be at least 1"},
		{"zero concurrency", append(ok, "--concurrency", "0"), "--concurrency 0: must be at least 1"},
		{"bad number", append(ok, "--num_request", "many"), `invalid value "many"`},
		{"unknown flag", append(ok, "--frobnicate"), "flag provided but not defined"},
		{"stray argument", append(ok, "extra"), `unexpected argument "extra"`},
		{"empty folder", []string{"--url", srv.URL, "--image-folder", empty, "--num-request", "1"}, "no .jpg, .jpeg or .png files"},
		{"missing folder", []string{"--url", srv.URL, "--image-folder", empty + "/nope", "--num-request", "1"}, "no such file"},
		{"missing csv", append(ok, "--expected", empty+"/nope.csv"), "--expected: open "},
		{"bad csv", append(ok, "--expected", badCSV), "wrong number of fields"},
		{"bad url", []string{"--url", "ftp://x/", "--image-folder", courseImages, "--num-request", "1"}, `URL "ftp://x/"`},
		{"rate and workload", append(ok, "--rate", "5", "--workload", "burst:3"), "--rate and --workload: give one"},
		{"workload and count", append(ok, "--workload", "burst:3"), "--num-request with --workload"},
		{"rate without count", []string{"--url", srv.URL, "--image-folder", courseImages, "--rate", "5"}, "--num-request 0: must be at least 1"},
		{"open with concurrency", append(ok, "--rate", "5", "--concurrency", "3"), "--concurrency is for the closed loop"},
		{"closed with max in flight", append(ok, "--max-in-flight", "3"), "--max-in-flight is for the open loop"},
		{"arrival without rate", append(ok, "--arrival", "constant"), "--arrival goes with --rate"},
		{"bad arrival", append(ok, "--rate", "5", "--arrival", "bursty"), `--arrival "bursty": want poisson or constant`},
		{"zero rate", append(ok, "--rate", "0"), "--rate 0: want requests a second above 0"},
		{"bad workload", []string{"--url", srv.URL, "--image-folder", courseImages, "--workload", "poisson:5"}, "--workload: workload \"poisson:5\""},
		{"zero max in flight", append(ok, "--rate", "5", "--max-in-flight", "0"), "--max-in-flight 0: must be at least 1"},
	} {
		code, out, errs := runCmd(t.Context(), tc.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.msg) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", tc.name, code, out, errs, tc.msg)
		}
	}
	if len(srv.seen) != 0 {
		t.Errorf("bad invocations sent %d requests", len(srv.seen))
	}
}

func TestLoadgenHelpShowsAliasesOnce(t *testing.T) {
	code, _, errs := runCmd(t.Context(), "-h")
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantContains(t, "help", errs, "Usage: imgrec loadgen --url URL", "  -image-folder DIR", "course spelling --image_folder",
		"  -num-request int", "course spelling --num_request", "  -concurrency int", "  -expected CSV", "  -json", "  -timeout duration")
	for _, alias := range []string{"  -image_folder", "  -num_request"} {
		if strings.Contains(errs, alias) {
			t.Errorf("help lists alias %s as a flag of its own:\n%s", alias, errs)
		}
	}
}

// TestLoadgenOpenLoopWorkload sends simulate's poisson:50,2s (seed 3) to the
// stand-in server, open loop, and reads back the CSV and the CDF: one line
// per arrival, each sent no sooner than simulate says it arrives, the
// course's labels, and the CSV's first column a workload simulate replays.
func TestLoadgenOpenLoopWorkload(t *testing.T) {
	srv := newCourseServer(t, nil)
	dir := t.TempDir()
	csvPath, svgPath := filepath.Join(dir, "run.csv"), filepath.Join(dir, "run.svg")
	code, out, errs := runCmd(t.Context(), "--url", srv.URL, "--image-folder", courseImages, "--workload", "poisson:50,2s", "--seed", "3",
		"--expected", courseLabels, "--out", csvPath, "--cdf", svgPath, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	w, err := simulate.ParseWorkload("poisson:50,2s", 3)
	if err != nil {
		t.Fatal(err)
	}
	n := len(w.Arrivals)
	var s struct {
		Mode, Workload       string
		Planned, OK, Dropped int
		Scheduled            float64 `json:"scheduled_rate_rps"`
		Sent                 float64 `json:"send_rate_rps"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if s.Mode != "open" || s.Workload != "poisson:50,2s, seed 3" || s.Planned != n || s.OK != n || s.Dropped != 0 || s.Sent <= 0 {
		t.Errorf("summary %+v, want %d arrivals all ok", s, n)
	}
	if want := float64(n-1) / (w.Arrivals[n-1] - w.Arrivals[0]).Seconds(); math.Abs(s.Scheduled-want) > 1e-9 {
		t.Errorf("scheduled rate %v, want %v", s.Scheduled, want)
	}

	labels, err := readExpected(courseLabels)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := loadgen.ReadCSV(f, csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != n {
		t.Fatalf("%d CSV lines, want %d", len(records), n)
	}
	for i, r := range records {
		name := fmt.Sprintf("test_%d.JPEG", i%100)
		if r.Sent < w.Arrivals[i] || r.Name != name || r.Status != 200 || r.Label != labels[name] || r.Outcome != "ok" || r.Error != "" || r.Latency <= 0 {
			t.Errorf("line %d: %+v; want %s sent at %v or after, answered %q", i+2, r, name, w.Arrivals[i], labels[name])
		}
	}
	f.Seek(0, io.SeekStart)
	if replay, err := simulate.ReadSeconds(f, csvPath); err != nil || len(replay) != n {
		t.Errorf("simulate reads %d arrivals from the CSV (%v), want %d", len(replay), err, n)
	}

	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := xmlWellFormed(svgPath); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "CDF", string(svg), `<polyline data-series="measured"`, `class="legend" data-series="measured"`,
		"imgrec loadgen "+srv.URL+": open loop, poisson:50,2s, seed 3, "+fmt.Sprint(n)+" requests")
}

// TestLoadgenRateConstant: --rate 40 --arrival constant sends request i no
// sooner than i/40 s, and the text summary says how the open loop went.
func TestLoadgenRateConstant(t *testing.T) {
	srv := newCourseServer(t, nil)
	csvPath := filepath.Join(t.TempDir(), "run.csv")
	code, out, errs := runCmd(t.Context(), "--url", srv.URL, "--image-folder", courseImages, "--num-request", "20", "--rate", "40",
		"--arrival", "constant", "--max-in-flight", "5", "--out", csvPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	wantContains(t, "summary", out, "requests    20 of 20, open loop: constant 40/s, at most 5 in flight\n",
		"(scheduled 40.0 req/s); 0 dropped, ", "ok          20\n")
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	records, err := loadgen.ReadCSV(bytes.NewReader(b), csvPath)
	if err != nil || len(records) != 20 {
		t.Fatalf("%d records, %v", len(records), err)
	}
	for i, r := range records {
		if due := time.Duration(i) * time.Second / 40; r.Sent < due {
			t.Errorf("request %d sent at %v, due at %v", i, r.Sent, due)
		}
	}
}
