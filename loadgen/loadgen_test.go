package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// testImages returns n small images with binary content unique to each.
func testImages(n int) []Image {
	imgs := make([]Image, n)
	for i := range imgs {
		imgs[i] = Image{Name: fmt.Sprintf("test_%d.JPEG", i), Data: fmt.Appendf([]byte{0xff, 0xd8, 0}, "image %d\r\n--", i)}
	}
	return imgs
}

func labelsOf(imgs []Image) map[string]string {
	m := map[string]string{}
	for i, img := range imgs {
		m[img.Name] = fmt.Sprintf("label %d", i)
	}
	return m
}

// readUpload parses r as a multipart form for real and checks that it holds
// exactly one part, in field, whose bytes are those of the image it names.
func readUpload(t *testing.T, r *http.Request, field string, imgs []Image) string {
	t.Helper()
	mr, err := r.MultipartReader()
	if err != nil {
		t.Errorf("request is not multipart: %v", err)
		return ""
	}
	part, err := mr.NextPart()
	if err != nil {
		t.Errorf("first part: %v", err)
		return ""
	}
	if part.FormName() != field {
		t.Errorf("field %q, want %q", part.FormName(), field)
	}
	data, err := io.ReadAll(part)
	if err != nil {
		t.Errorf("reading part: %v", err)
	}
	name := part.FileName()
	i := slices.IndexFunc(imgs, func(img Image) bool { return img.Name == name })
	if i < 0 {
		t.Errorf("unknown filename %q", name)
		return name
	}
	if !bytes.Equal(data, imgs[i].Data) {
		t.Errorf("%s: got bytes %q, want %q", name, data, imgs[i].Data)
	}
	if ct := part.Header.Get("Content-Type"); ct != "image/jpeg" {
		t.Errorf("%s: part Content-Type %q, want image/jpeg", name, ct)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("want exactly one part, next: %v", err)
	}
	return name
}

func TestRunUploadsAsTheCourseGenerator(t *testing.T) {
	imgs := testImages(5)
	labels := labelsOf(imgs)
	for _, field := range []string{"", "inputFile"} {
		t.Run("field="+field, func(t *testing.T) {
			want := field
			if want == "" {
				want = DefaultField
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					t.Errorf("method %s, want POST", r.Method)
				}
				w.Header().Set("Content-Type", "text/plain")
				fmt.Fprintln(w, labels[readUpload(t, r, want, imgs)])
			}))
			defer srv.Close()

			s, err := Run(t.Context(), Config{URL: srv.URL + "/", Images: imgs, Requests: 12, Concurrency: 3, Expected: labels, Field: field})
			if err != nil {
				t.Fatal(err)
			}
			if s.Planned != 12 || s.Requests != 12 || s.OK != 12 || s.Wrong != 0 || s.Failed != 0 || !s.LabelsChecked || s.Interrupted {
				t.Errorf("summary %+v, want 12 requests all ok", s)
			}
			if s.Concurrency != 3 || s.Wall <= 0 || s.Throughput <= 0 || s.Latency.Max <= 0 || s.Latency.Min > s.Latency.P50 {
				t.Errorf("implausible measures: %+v", s)
			}
		})
	}
}

func TestRunCountsWrongAndFailed(t *testing.T) {
	imgs := testImages(10)
	labels := labelsOf(imgs)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch name := readUpload(t, r, DefaultField, imgs); name {
		case "test_1.JPEG", "test_2.JPEG":
			fmt.Fprint(w, "nope")
		case "test_3.JPEG":
			http.Error(w, "model exploded\nsecond line", http.StatusInternalServerError)
		case "test_4.JPEG":
			http.Error(w, "", http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, "  "+labels[name]+"\n") // whitespace is trimmed
		}
	}))
	defer srv.Close()

	// A timeout that no answer comes near, however slow this machine:
	// TestRunTimeout has the requests that time out.
	cfg := Config{URL: srv.URL, Images: imgs, Requests: 20, Concurrency: 4, Expected: labels, Timeout: time.Minute}
	s, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 20 || s.OK != 12 || s.Wrong != 4 || s.Failed != 4 {
		t.Errorf("requests/ok/wrong/failed = %d/%d/%d/%d, want 20/12/4/4", s.Requests, s.OK, s.Wrong, s.Failed)
	}
	if len(s.WrongExamples) != 4 {
		t.Errorf("wrong examples %v, want 4", s.WrongExamples)
	}
	for _, w := range s.WrongExamples {
		if (w.File != "test_1.JPEG" && w.File != "test_2.JPEG") || w.Got != "nope" || w.Want != labels[w.File] {
			t.Errorf("wrong example %+v", w)
		}
	}
	got := map[string]int{}
	for _, f := range s.Failures {
		got[f.Reason] = f.Count
	}
	want := map[string]int{"HTTP 500 Internal Server Error: model exploded": 2, "HTTP 503 Service Unavailable": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("failures %v, want %v", got, want)
	}
	// One record per request, in the order they were taken, each with its outcome.
	outcomes := map[string]int{}
	for i, r := range s.Records {
		outcomes[r.Outcome]++
		if want := imgs[i%len(imgs)].Name; r.Name != want {
			t.Errorf("record %d names %s, want %s", i, r.Name, want)
		}
		if r.Name == "test_3.JPEG" && (r.Status != 500 || r.Error != "HTTP 500 Internal Server Error: model exploded") {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if len(s.Records) != 20 || outcomes[OutcomeOK] != 12 || outcomes[OutcomeWrong] != 4 || outcomes[OutcomeFailed] != 4 || s.OpenLoop || s.SendRate <= 0 {
		t.Errorf("%d records, outcomes %v, open %v, send rate %v", len(s.Records), outcomes, s.OpenLoop, s.SendRate)
	}

	// Without expected labels, any 200 is ok.
	cfg.Expected = nil
	s, err = Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.OK != 16 || s.Wrong != 0 || s.Failed != 4 || s.LabelsChecked {
		t.Errorf("unchecked: ok/wrong/failed = %d/%d/%d checked %v, want 16/0/4 false", s.OK, s.Wrong, s.Failed, s.LabelsChecked)
	}
}

// TestRunTimeout: a request the server never answers fails once the
// timeout is up, and counts as taking at least that long. The server holds
// every request until the client gives up, so each one times out however
// fast or slow this machine is, and no answer shares the short timeout.
func TestRunTimeout(t *testing.T) {
	imgs := testImages(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // read, so a client giving up ends r's context
		<-r.Context().Done()        // no answer, ever
	}))
	defer srv.Close()

	cfg := Config{URL: srv.URL, Images: imgs, Requests: 4, Concurrency: 2, Expected: labelsOf(imgs), Timeout: 150 * time.Millisecond}
	s, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 4 || s.OK != 0 || s.Wrong != 0 || s.Failed != 4 {
		t.Errorf("requests/ok/wrong/failed = %d/%d/%d/%d, want 4/0/0/4", s.Requests, s.OK, s.Wrong, s.Failed)
	}
	if want := []Failure{{"timeout after 150ms", 4}}; !slices.Equal(s.Failures, want) {
		t.Errorf("failures %v, want %v", s.Failures, want)
	}
	if s.Latency.Min < cfg.Timeout {
		t.Errorf("min latency %v: timed-out requests should count at least the %v timeout", s.Latency.Min, cfg.Timeout)
	}
}

func TestRunKeepsExactlyConcurrencyInFlight(t *testing.T) {
	for _, tc := range []struct{ c, n int }{{1, 5}, {4, 40}, {16, 200}, {8, 3}} {
		t.Run(fmt.Sprintf("c=%d,n=%d", tc.c, tc.n), func(t *testing.T) {
			imgs := testImages(3)
			var mu sync.Mutex
			waves := sync.NewCond(&mu)
			inFlight, most, conns := 0, 0, 0
			arrived, wave, stuck := 0, 0, false
			// The server answers in waves: it holds requests until C are in
			// flight (or all that remain), then answers them together, as a
			// busy server would. The burst of idle connections this makes is
			// what MaxIdleConnsPerHost must absorb. A wave that never fills
			// is let go after a minute, which no slow machine reaches.
			watchdog := time.AfterFunc(time.Minute, func() {
				mu.Lock()
				stuck = true
				waves.Broadcast()
				mu.Unlock()
			})
			defer watchdog.Stop()
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				readUpload(t, r, DefaultField, imgs)
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				arrived++
				if arrived == min(tc.c, tc.n-wave*tc.c) {
					arrived = 0
					wave++
					waves.Broadcast()
				} else {
					for w := wave; w == wave && !stuck; {
						waves.Wait()
					}
				}
				inFlight--
				mu.Unlock()
				fmt.Fprint(w, "x")
			}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					mu.Lock()
					conns++
					mu.Unlock()
				}
			}
			srv.Start()
			defer srv.Close()

			// A slow Progress holds workers back, so whole waves of
			// connections sit idle at once.
			slow := func(Snapshot) { time.Sleep(200 * time.Microsecond) }
			s, err := Run(t.Context(), Config{URL: srv.URL, Images: imgs, Requests: tc.n, Concurrency: tc.c, Progress: slow})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if stuck {
				t.Errorf("server stuck in wave %d with %d requests in flight: concurrency below %d", wave, inFlight, tc.c)
			}
			if most != min(tc.c, tc.n) {
				t.Errorf("at most %d requests in flight, want %d", most, min(tc.c, tc.n))
			}
			if s.OK != tc.n {
				t.Errorf("ok %d, want %d", s.OK, tc.n)
			}
			// An idle connection is kept for every worker, so none is redialled.
			if conns > min(tc.c, tc.n) {
				t.Errorf("%d connections opened for %d workers", conns, min(tc.c, tc.n))
			}
		})
	}
}

func TestRunCyclesThroughImagesInOrder(t *testing.T) {
	imgs := testImages(3)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := readUpload(t, r, DefaultField, imgs)
		mu.Lock()
		seen = append(seen, name)
		mu.Unlock()
	}))
	defer srv.Close()

	if _, err := Run(t.Context(), Config{URL: srv.URL, Images: imgs, Requests: 7, Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	want := []string{"test_0.JPEG", "test_1.JPEG", "test_2.JPEG", "test_0.JPEG", "test_1.JPEG", "test_2.JPEG", "test_0.JPEG"}
	if !slices.Equal(seen, want) {
		t.Errorf("sent %v, want %v", seen, want)
	}

	// Concurrent workers may overtake each other, but each image is sent its share.
	seen = nil
	if _, err := Run(t.Context(), Config{URL: srv.URL, Images: imgs, Requests: 32, Concurrency: 5}); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, n := range seen {
		counts[n]++
	}
	if counts["test_0.JPEG"] != 11 || counts["test_1.JPEG"] != 11 || counts["test_2.JPEG"] != 10 {
		t.Errorf("images sent %v, want 11/11/10", counts)
	}
}

// TestRunCourseImages uploads course images to a server that answers from
// its own table of labels, which no file name gives away, one of them
// deliberately wrong: loadgen must check each answer against the label
// expected for the image it sent, and count and report the wrong one.
func TestRunCourseImages(t *testing.T) {
	dir := "../../shared/data/imagenet-100"
	names := []string{"test_0.JPEG", "test_1.JPEG", "test_2.JPEG"}
	var imgs []Image
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("course images (../shared, read in place): %v", err)
		}
		imgs = append(imgs, Image{Name: n, Data: b})
	}
	// The course's labels (data/classification_results.csv).
	expected := map[string]string{"test_0.JPEG": "bathtub", "test_1.JPEG": "tile roof", "test_2.JPEG": "jigsaw puzzle"}
	answers := maps.Clone(expected)
	answers["test_2.JPEG"] = "bathtub" // wrong: another image's label
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answers[readUpload(t, r, DefaultField, imgs)])
	}))
	defer srv.Close()
	s, err := Run(t.Context(), Config{URL: srv.URL, Images: imgs, Requests: 6, Concurrency: 2, Expected: expected})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 6 || s.OK != 4 || s.Wrong != 2 || s.Failed != 0 || !s.LabelsChecked {
		t.Errorf("requests/ok/wrong/failed = %d/%d/%d/%d checked %v, want 6/4/2/0 true", s.Requests, s.OK, s.Wrong, s.Failed, s.LabelsChecked)
	}
	want := Wrong{File: "test_2.JPEG", Got: "bathtub", Want: "jigsaw puzzle"}
	if len(s.WrongExamples) != 2 || s.WrongExamples[0] != want || s.WrongExamples[1] != want {
		t.Errorf("wrong examples %+v, want twice %+v", s.WrongExamples, want)
	}
}

func TestRunInterrupted(t *testing.T) {
	imgs := testImages(4)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	received := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		readUpload(t, r, DefaultField, imgs)
		mu.Lock()
		received++
		if received == 5 {
			cancel()
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // requests in flight when cancelled still finish
		fmt.Fprint(w, "x")
	}))
	defer srv.Close()

	const c = 3
	s, err := Run(ctx, Config{URL: srv.URL, Images: imgs, Requests: 1000, Concurrency: c})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !s.Interrupted || s.Planned != 1000 || s.Requests < 5 || s.Requests >= 5+2*c {
		t.Errorf("summary %+v: want interrupted after about 5 of 1000", s)
	}
	if s.Requests != received || s.OK != s.Requests || s.Failed != 0 {
		t.Errorf("server got %d; summary %d requests, %d ok, %d failed: in-flight requests should complete", received, s.Requests, s.OK, s.Failed)
	}
}

func TestRunConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s, err := Run(t.Context(), Config{URL: url, Images: testImages(2), Requests: 4, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != 4 || len(s.Failures) != 1 || s.Failures[0] != (Failure{"connection refused", 4}) {
		t.Errorf("failed %d, reasons %v: want 4 × connection refused", s.Failed, s.Failures)
	}
}

func TestRunCapsFailureReasons(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		msg := fmt.Sprintf("busy %d", n%13) // 13 distinct reasons
		mu.Unlock()
		http.Error(w, msg, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s, err := Run(t.Context(), Config{URL: srv.URL, Images: testImages(1), Requests: 26, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Failures) != maxReasons+1 {
		t.Fatalf("%d reasons kept, want %d: %v", len(s.Failures), maxReasons+1, s.Failures)
	}
	total := 0
	for _, f := range s.Failures {
		total += f.Count
	}
	if last := s.Failures[maxReasons]; last != (Failure{otherReasons, 6}) || total != s.Failed || s.Failed != 26 {
		t.Errorf("reasons %v (total %d, failed %d): want 10 × 2 then %q × 6", s.Failures, total, s.Failed, otherReasons)
	}
}

func TestRunReportsProgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "label 0")
	}))
	defer srv.Close()
	var snaps []Snapshot // Progress is never called concurrently
	imgs := testImages(2)
	_, err := Run(t.Context(), Config{URL: srv.URL, Images: imgs, Requests: 9, Concurrency: 3, Expected: labelsOf(imgs),
		Progress: func(s Snapshot) { snaps = append(snaps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 9 {
		t.Fatalf("%d progress calls, want 9", len(snaps))
	}
	for i, s := range snaps {
		if s.Total != 9 || s.Done != i+1 || s.OK+s.Wrong+s.Failed != s.Done || (i > 0 && s.Elapsed < snaps[i-1].Elapsed) {
			t.Errorf("snapshot %d: %+v", i, s)
		}
	}
	if last := snaps[8]; last.OK != 5 || last.Wrong != 4 {
		t.Errorf("last snapshot %+v, want 5 ok (test_0) and 4 wrong (test_1)", last)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	good := Config{URL: "http://127.0.0.1:1/", Images: testImages(1), Requests: 1, Concurrency: 1}
	for name, mod := range map[string]func(*Config){
		"no URL":        func(c *Config) { c.URL = "" },
		"relative URL":  func(c *Config) { c.URL = "/upload" },
		"ftp URL":       func(c *Config) { c.URL = "ftp://host/" },
		"no images":     func(c *Config) { c.Images = nil },
		"0 requests":    func(c *Config) { c.Requests = 0 },
		"0 concurrency": func(c *Config) { c.Concurrency = 0 },
		"neg timeout":   func(c *Config) { c.Timeout = -time.Second },
	} {
		cfg := good
		mod(&cfg)
		_, err := Run(t.Context(), cfg)
		if imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("%s: err %v, want code %s", name, err, imgrec.EINVALID)
		}
	}
}

func TestTruncateKeepsCharactersWhole(t *testing.T) {
	if got := truncate("ééé", 3); got != "é…" {
		t.Errorf("truncate(ééé, 3) = %q, want é…", got)
	}
	if got := truncate("short", 200); got != "short" {
		t.Errorf("truncate(short, 200) = %q", got)
	}
}
