package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/web"
)

// jobsWait bounds each wait for jobs to be answered in these tests: what a
// loaded machine never reaches, so that it only makes them slower.
const jobsWait = 3 * time.Minute

// distinctImages returns n course images whose bytes all differ, each with a
// JPEG comment naming it after the start-of-image marker (decoders skip
// comments, so the labels stay the course's), under distinct names, and the
// label each should get. Distinct bytes keep the result cache out of a test.
func distinctImages(t testing.TB, tag string, n int) ([]loadgen.Image, map[string]string) {
	t.Helper()
	course := loadCourseImages(t)
	expected := standinExpected(t)
	imgs := make([]loadgen.Image, n)
	want := map[string]string{}
	for i := range imgs {
		src := course[i%len(course)]
		name := fmt.Sprintf("%s-%d-%s", tag, i, src.Name)
		imgs[i] = loadgen.Image{Name: name, Data: withComment(src.Data, name)}
		want[name] = expected[src.Name]
	}
	return imgs, want
}

// withComment inserts a COM segment holding text after a JPEG's SOI marker.
func withComment(jpeg []byte, text string) []byte {
	seg := []byte{0xFF, 0xFE, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(text)))
	seg = append(seg, text...)
	return bytes.Join([][]byte{jpeg[:2], seg, jpeg[2:]}, nil)
}

// freeAddr is a free 127.0.0.1 address, for a server that must come back
// on the same one (the page's origin).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serveAt runs `imgrec serve` on addr with its data in dir.
func serveAt(t testing.TB, addr, dir string, args ...string) *served {
	t.Helper()
	s := startProcess(t, servingLine, append([]string{"serve", "--addr", addr, "--data-dir", dir, "--model", standinModel,
		"--admin-token", "t", "--log-level", "info"}, args...)...)
	s.dataDir = dir
	return s
}

// kill SIGKILLs the process and waits for it.
func (s *served) kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
}

// upload sends one image to path (POST /v1/jobs or /v1/classify) with an
// optional Idempotency-Key, and decodes the job it answers with.
func upload(t testing.TB, url, path string, img loadgen.Image, idemKey string) (int, http.Header, imgrec.Job, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", img.Name)
	fw.Write(img.Data)
	mw.Close()
	req, _ := http.NewRequest("POST", strings.TrimSuffix(url, "/")+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var j imgrec.Job
	json.Unmarshal(b, &j)
	return resp.StatusCode, resp.Header, j, string(b)
}

// getJob reads GET /v1/jobs/{id}[?wait=].
func getJob(t testing.TB, url, id, wait string) (int, imgrec.Job) {
	t.Helper()
	u := strings.TrimSuffix(url, "/") + "/v1/jobs/" + id
	if wait != "" {
		u += "?wait=" + wait
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var j imgrec.Job
	json.NewDecoder(resp.Body).Decode(&j)
	return resp.StatusCode, j
}

// submitAll submits the images as async jobs, 20 at a time, each answered
// 202; it returns the job id of each name.
func submitAll(t testing.TB, url string, imgs []loadgen.Image) map[string]string {
	t.Helper()
	ids := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 20)
	for _, img := range imgs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			code, _, j, body := upload(t, url, "/v1/jobs", img, "")
			if code != http.StatusAccepted || j.ID == "" {
				t.Errorf("submit %s: %d %s; want 202 with a job", img.Name, code, body)
				return
			}
			mu.Lock()
			ids[img.Name] = j.ID
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// answers long-polls every job by id until it is over and returns the
// jobs by name.
func answers(t testing.TB, url string, ids map[string]string) map[string]imgrec.Job {
	t.Helper()
	deadline := time.Now().Add(jobsWait)
	got := map[string]imgrec.Job{}
	for name, id := range ids {
		for {
			code, j := getJob(t, url, id, "30s")
			if code != 200 {
				t.Fatalf("job %s (%s): %d, want 200", id, name, code)
			}
			if j.Over() {
				got[name] = j
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s (%s) not answered within %v: %+v", id, name, jobsWait, j)
			}
		}
	}
	return got
}

// TestServeRestartAnswersEveryJob: 200 jobs accepted with 202, serve
// SIGKILLed at once (workers and all), started again on the same data
// directory: every job is answered by id, with its image's label. An
// Idempotency-Key used before the kill still names its job after it, and
// the results are in the cache.
func TestServeRestartAnswersEveryJob(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	imgs, want := distinctImages(t, "restart", 200)
	first := serveAt(t, addr, dir)
	ids := submitAll(t, first.url, imgs[1:])
	code, _, keyed, body := upload(t, first.url, "/v1/jobs", imgs[0], "before-the-kill")
	if code != http.StatusAccepted {
		t.Fatalf("submit with a key: %d %s", code, body)
	}
	ids[imgs[0].Name] = keyed.ID
	first.kill(t)

	again := serveAt(t, addr, dir)
	queued := 0
	for _, id := range ids {
		if code, j := getJob(t, again.url, id, ""); code == 200 && !j.Over() {
			queued++
		}
	}
	t.Logf("%d of %d jobs unanswered when serve came back", queued, len(ids))
	got := answers(t, again.url, ids)
	right := 0
	for name, j := range got {
		if j.State == imgrec.JobDone && j.Label == want[name] && j.ID == ids[name] && j.Name == name {
			right++
		} else {
			t.Errorf("%s: %+v, want done with %q", name, j, want[name])
		}
	}
	t.Logf("%d/%d jobs answered by id with the right label after SIGKILL and restart", right, len(imgs))

	code, h, retry, body := upload(t, again.url, "/v1/jobs", imgs[0], "before-the-kill")
	if code != http.StatusAccepted || retry.ID != keyed.ID || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the key used before the kill, after it: %d %s; want job %s replayed", code, body, keyed.ID)
	}
	copied := loadgen.Image{Name: "copy.JPEG", Data: imgs[7].Data}
	if code, _, j, body := upload(t, again.url, "/v1/classify", copied, ""); code != 200 || !j.Cached || j.Label != want[imgs[7].Name] {
		t.Errorf("bytes answered before: %d %s; want %q from the cache", code, body, want[imgs[7].Name])
	}
}

// checkTwoTiers runs the checks on two web tiers sharing a queue, a
// job store and buckets, with workers behind them: a job taken by one is
// read, long-polled and watched on the other; a retry with an
// Idempotency-Key on the other gets the first's job; the other answers
// bytes the first's workers classified from the result cache; and a retry
// of a job whose request was never queued (queueURL, blobsURL: where to
// leave one) is answered.
func checkTwoTiers(t *testing.T, web1, web2 *served, queueURL, blobsURL string) {
	imgs, want := distinctImages(t, "tiers", 13)

	// Submitted on one, on the other at once and until answered.
	ids := submitAll(t, web1.url, imgs[:10])
	for name, id := range ids {
		if code, j := getJob(t, web2.url, id, ""); code != 200 || j.Name != name {
			t.Fatalf("job %s on the other tier right after its 202: %d %+v", id, code, j)
		}
	}
	pending := map[string]string{} // id → name
	for name, id := range ids {
		pending[id] = name
	}
	deadline := time.Now().Add(jobsWait)
	for len(pending) > 0 {
		var list []string
		for id := range pending {
			list = append(list, id)
		}
		var w struct {
			Jobs    []imgrec.Job
			Unknown []string
		}
		if code := getJSONBody(t, web2.url+"v1/jobs?wait=10s&ids="+strings.Join(list, ","), &w); code != 200 || len(w.Unknown) > 0 {
			t.Fatalf("watch on the other tier: %d, unknown %v", code, w.Unknown)
		}
		for _, j := range w.Jobs {
			if name := pending[j.ID]; j.State != imgrec.JobDone || j.Label != want[name] {
				t.Errorf("%s on the other tier: %+v, want done with %q", name, j, want[name])
			}
			delete(pending, j.ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs not answered within %v", len(pending), jobsWait)
		}
	}
	// A long poll on the other tier for a job just taken.
	code, _, j, body := upload(t, web1.url, "/v1/jobs", imgs[10], "")
	if code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", code, body)
	}
	for start := time.Now(); !j.Over(); {
		if code, j = getJob(t, web2.url, j.ID, "30s"); code != 200 || time.Since(start) > jobsWait {
			t.Fatalf("long poll on the other tier: %d %+v", code, j)
		}
	}
	if j.Label != want[imgs[10].Name] {
		t.Errorf("long poll on the other tier: %+v, want %q", j, want[imgs[10].Name])
	}

	// A retry with the same Idempotency-Key on the other tier.
	key := fmt.Sprintf("retry-%d", time.Now().UnixNano())
	code, _, firstTry, body := upload(t, web1.url, "/v1/classify", imgs[11], key)
	if code != 200 || firstTry.Label != want[imgs[11].Name] {
		t.Fatalf("classify with a key: %d %s", code, body)
	}
	code, h, retry, body := upload(t, web2.url, "/v1/classify", imgs[11], key)
	if code != 200 || retry.ID != firstTry.ID || retry.Label != firstTry.Label || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retry on the other tier: %d %s %v; want job %s replayed", code, body, h, firstTry.ID)
	}
	code, _, _, body = upload(t, web2.url, "/v1/jobs", imgs[0], key)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "another image") {
		t.Errorf("the key with another image on the other tier: %d %s; want 422 and why", code, body)
	}

	// The cache: bytes the workers classified, sent to the other tier under
	// another name, are answered without a worker. That tier learns the
	// workers' model from the store; until it has, a lookup misses.
	for start := time.Now(); ; {
		img := loadgen.Image{Name: fmt.Sprintf("copy-%d.JPEG", time.Now().UnixNano()), Data: imgs[0].Data}
		code, _, j, body := upload(t, web2.url, "/v1/classify", img, "")
		if code != 200 || j.Label != want[imgs[0].Name] {
			t.Fatalf("the same bytes on the other tier: %d %s", code, body)
		}
		if j.Cached {
			break
		}
		if time.Since(start) > jobsWait {
			t.Fatalf("no answer from the cache on the other tier within %v", jobsWait)
		}
		time.Sleep(time.Second)
	}
	if m := getText(t, web2.url+"metrics"); !regexp.MustCompile(`imgrec_cache_lookups_total\{outcome="hit"\} [1-9]`).MatchString(m) {
		t.Errorf("the other tier's metrics count no hit:\n%s", m)
	}

	// A job whose tier died between recording it and queueing its request,
	// as that tier leaves it in the real stores (the image stored, the job
	// queued an hour ago, no request): a retry with its key is answered.
	bf := backendFlags(flag.NewFlagSet("orphan", flag.ContinueOnError), "", "", "")
	bf.queueURL, bf.blobsURL = queueURL, blobsURL
	bk, err := bf.open(t.Context(), slog.New(slog.DiscardHandler), "")
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	img := imgs[12]
	key = fmt.Sprintf("orphan-%d", time.Now().UnixNano())
	id := web.IdempotentJobID(key)
	if err := bk.input.Put(t.Context(), img.Name, img.Data); err != nil {
		t.Fatal(err)
	}
	if _, err := bk.jobs.Create(t.Context(), imgrec.Job{ID: id, Name: img.Name, Key: img.Name, State: imgrec.JobQueued,
		Image: imgrec.ImageDigest(img.Data), Submitted: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	code, h, j, body = upload(t, web2.url, "/v1/classify", img, key)
	if code != 200 || j.ID != id || j.Label != want[img.Name] || j.Requeued == nil || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retry of a job never queued: %d %s; want job %s answered %q, queued again", code, body, id, want[img.Name])
	}
}

func getJSONBody(t testing.TB, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode
}

func getText(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestWebTiersOnNATS: two `imgrec web` processes and a controller on an
// external NATS server (the job store's buckets on it too) and file buckets.
func TestWebTiersOnNATS(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // where the controller packs the model
	nats, blobs := natsAndFiles(t)
	defer nats.Close()
	tier := func() *served {
		return startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", nats.URL(), "--blobs", blobs, "--log-level", "info")
	}
	web1, web2 := tier(), tier()
	startProcess(t, regexp.MustCompile(`controller started`), "controller", "--queue", nats.URL(), "--blobs", blobs,
		"--model", standinModel, "--metrics-addr", "")
	checkTwoTiers(t, web1, web2, nats.URL(), blobs)
}

// TestWebTiersOnAWS: the same on moto's SQS, S3 and DynamoDB, the job table
// found from the queue's name.
func TestWebTiersOnAWS(t *testing.T) {
	tiers := useAWSTiers(t, moto.Context(t), fmt.Sprintf("tiers-%d-requests", time.Now().UnixNano()%1e9))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	queue, blobs := tiers.queue, tiers.blobs
	tier := func() *served {
		return startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", queue, "--blobs", blobs, "--log-level", "info")
	}
	web1, web2 := tier(), tier()
	startProcess(t, regexp.MustCompile(`controller started`), "controller", "--queue", queue, "--blobs", blobs,
		"--model", standinModel, "--metrics-addr", "", "--max-instances", "3")
	checkTwoTiers(t, web1, web2, queue, blobs)
}

// TestPageAfterRestart: files uploaded through the page, serve SIGKILLed
// and started again on the same data directory and address, the page
// reloaded: its rows come back and each ends with its image's label.
func TestPageAfterRestart(t *testing.T) {
	ctx := startBrowser(t)
	dir, addr := t.TempDir(), freeAddr(t)
	first := serveAt(t, addr, dir)
	imgs, want := distinctImages(t, "page", 12)
	files := make([]string, len(imgs))
	for i, img := range imgs {
		files[i] = filepath.Join(t.TempDir(), img.Name)
		if err := os.WriteFile(files[i], img.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	act(t, ctx, chromedp.Navigate(first.url))
	waitInPage(t, ctx, "the limits shown", `document.getElementById("limits").textContent.includes("10 MiB")`)
	act(t, ctx, chromedp.SetUploadFiles(chromedp.ID("files"), files))
	// Every file uploaded (its job kept by the page), answered or not.
	waitInPage(t, ctx, "12 jobs kept by the page",
		`JSON.parse(sessionStorage.getItem("imgrec.uploads") || "[]").filter(r => r.id).length === 12`)
	first.kill(t)

	again := serveAt(t, addr, dir)
	act(t, ctx, chromedp.Navigate(again.url)) // a reload, at the same address
	waitInPage(t, ctx, "all 12 rows answered after the reload", `[...document.querySelectorAll("#uploads tbody tr")].filter(
		tr => tr.dataset.state === "done" || tr.dataset.state === "failed").length === 12`)
	rows := uploadRows(t, ctx)
	if len(rows) != 12 {
		t.Fatalf("%d rows after the reload, want 12: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.State != "done" || r.Label != want[r.Name] {
			t.Errorf("row %q after the reload: %s %q, want done %q", r.Name, r.State, r.Label, want[r.Name])
		}
	}
}
