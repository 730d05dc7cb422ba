package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/web"
	"github.com/imgrec/imgrec/worker"
)

// startWebTier serves the real web tier, configured by the web tier's flags
// (args) as serve and web are, on the in-memory queue and buckets, with a
// worker goroutine running the stand-in model; it returns the tier's host:port.
func startWebTier(t *testing.T, args ...string) string {
	t.Helper()
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	wf := webFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q, err := inmem.NewQueue(inmem.Config{})
	if err != nil {
		t.Fatal(err)
	}
	workerQ := q.Connect()
	in, out := inmem.NewStore(), inmem.NewStore()
	jobs, err := inmem.NewJobStore(inmem.JobStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(ctx, wf.config(web.Config{Queue: q, Input: in, Output: out, Jobs: jobs}))
	if err != nil {
		t.Fatal(err)
	}
	model, err := resnet.Load(standinModel)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Queue: workerQ, Input: in, Output: out, ID: "test-worker",
		Decode:     func(b []byte) (*imgrec.Image, error) { return vision.Decode(b, vision.Limits{}) },
		Classifier: &resnet.Classifier{Model: model, Profile: vision.ProfileReference},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- wf.httpTimeouts().serve(ctx, discardLogger(), "127.0.0.1:0", srv, time.Second, func(a net.Addr) { addr <- a.String() })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
		wg.Wait()
		srv.Close()
		workerQ.Close()
		q.Close()
	})
	select {
	case a := <-addr:
		return a
	case err := <-served:
		t.Fatal(err)
		return ""
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// postImage uploads a course image to the course endpoint.
func postImage(t *testing.T, addr, name string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedDir, "data/imagenet-100", name))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("myfile", name)
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest("POST", "http://"+addr+"/", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	// A connection of its own: a kept-alive one may reach its idle timeout
	// (3 s in TestWebSlowLoris) just as the next POST goes out on it, and
	// the client does not retry a POST the server closed under it.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebSlowLoris opens 50 connections that hold the server without using
// it: some send their headers a byte at a time, some send headers and then
// their body a byte at a time, far below --min-upload-rate, some send
// nothing. The server closes every one of them, and answers good uploads
// meanwhile. Timeouts are short here; the waits are generous.
func TestWebSlowLoris(t *testing.T) {
	addr := startWebTier(t, "--read-header-timeout", "3s", "--read-body-timeout", "3s", "--min-upload-rate", "1024", "--idle-timeout", "3s")
	expected := standinExpected(t)
	stop := make(chan struct{})
	defer close(stop)
	// trickle writes head at once, then tail a byte every 200 ms, until
	// the connection fails or the test ends.
	trickle := func(c net.Conn, head, tail string) {
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := c.Write([]byte{tail[i%len(tail)]}); err != nil {
				return
			}
		}
	}
	const body = "--x\r\nContent-Disposition: form-data; name=\"myfile\"; filename=\"slow.jpg\"\r\n\r\n\xff\xd8\xff\xe0"
	kinds := map[string]func(net.Conn){
		"slow headers": func(c net.Conn) { trickle(c, "POST / HTTP/1.1\r\nHost: imgrec\r\n", "X-Slow: loris\r\n") },
		"slow body": func(c net.Conn) {
			trickle(c, "POST / HTTP/1.1\r\nHost: imgrec\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n", body)
		},
		"silent": func(net.Conn) {},
	}
	type closed struct {
		kind string
		err  error
		got  string
	}
	done := make(chan closed)
	n := 0
	for kind, send := range kinds {
		for range map[string]int{"slow headers": 15, "slow body": 25, "silent": 10}[kind] {
			n++
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go send(c)
			go func() {
				c.SetReadDeadline(time.Now().Add(2 * time.Minute)) // the test's own limit, not the server's
				got, err := io.ReadAll(c)
				done <- closed{kind, err, string(got)}
			}()
		}
	}

	for _, name := range []string{"test_11.JPEG", "test_12.JPEG", "test_13.JPEG"} {
		if code, label := postImage(t, addr, name); code != 200 || label != expected[name] {
			t.Errorf("good upload %s among the slow connections: %d %q, want %q", name, code, label, expected[name])
		}
	}
	for range n {
		c := <-done
		if ne, ok := c.err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("a %q connection still open after 2 minutes", c.kind)
		}
		// A slow body is told why, unless the close came first (it may
		// reset the connection: the rest of the body is on its way).
		if c.kind == "slow body" && c.got != "" && !strings.Contains(c.got, "408 Request Timeout") {
			t.Errorf("a %q connection got %q before it was closed, want 408", c.kind, c.got)
		}
	}
	if code, label := postImage(t, addr, "test_14.JPEG"); code != 200 || label != expected["test_14.JPEG"] {
		t.Errorf("good upload after: %d %q", code, label)
	}
}

// TestWebIdleTimeout: a keep-alive connection left idle after its answer is
// closed once --idle-timeout has passed, and not at once.
func TestWebIdleTimeout(t *testing.T) {
	const idle = 2 * time.Second
	addr := startWebTier(t, "--idle-timeout", idle.String())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 { // two requests: the connection is kept alive
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: imgrec\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on the connection: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: %d, close %v; want 200 and the connection kept", i+1, resp.StatusCode, resp.Close)
		}
	}
	idleSince := time.Now()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	n, err := br.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); n != 0 || err == nil || ok && ne.Timeout() {
		t.Fatalf("idle connection: read %d, %v; want it closed by the server", n, err)
	}
	// The server's idle clock starts after it wrote the answer, a moment
	// before ours; half the timeout is a bound no scheduling delay breaks.
	if waited := time.Since(idleSince); waited < idle/2 {
		t.Errorf("idle connection closed after %s, before the idle timeout of %s", waited, idle)
	}
}

// TestWebFlagsToConfig: the flags' defaults are the web tier's, and 0 turns
// a limit off (web.Config takes a negative value for that).
func TestWebFlagsToConfig(t *testing.T) {
	parse := func(args ...string) (web.Config, httpTimeouts) {
		fs := flag.NewFlagSet("web", flag.ContinueOnError)
		wf := webFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return wf.config(web.Config{}), wf.httpTimeouts()
	}
	c, h := parse()
	if c.MaxUploadsInProgress != web.DefaultMaxUploadsInProgress || c.BodyTimeout != web.DefaultBodyTimeout ||
		c.MinUploadRate != web.DefaultMinUploadRate || h != (httpTimeouts{readHeader: 10 * time.Second, idle: time.Minute}) {
		t.Errorf("defaults: %d uploads, body %s at %d B/s, %+v", c.MaxUploadsInProgress, c.BodyTimeout, c.MinUploadRate, h)
	}
	c, h = parse("--max-uploads-in-progress", "0", "--read-body-timeout", "0", "--min-upload-rate", "0", "--read-header-timeout", "0", "--idle-timeout", "0")
	if c.MaxUploadsInProgress >= 0 || c.BodyTimeout >= 0 || c.MinUploadRate >= 0 || h != (httpTimeouts{}) {
		t.Errorf("all 0: %d uploads, body %s at %d B/s, %+v; want none of them", c.MaxUploadsInProgress, c.BodyTimeout, c.MinUploadRate, h)
	}
}
