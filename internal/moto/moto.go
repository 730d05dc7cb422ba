// Package moto starts a moto server (a real AWS-API server for S3, SQS and
// EC2) on 127.0.0.1 for tests, and gives clients an aws.Config for it.
//
// moto is on the machine image (`python3 -m moto.server`); when it is
// missing, Start skips the test with a message saying how to get it, unless
// IMGREC_REQUIRE_MOTO=1 (set by CI), where a missing moto fails the test.
package moto

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/imgrec/imgrec/internal/testserver"
)

// serverScript runs moto.server with its SQS races closed (see the script).
//
//go:embed server.py
var serverScript string

// Region and the static credentials every client of the test server uses.
const (
	Region    = "us-east-1"
	AccessKey = "testing"
	SecretKey = "testing"
)

// Server is a running moto server.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	cmd      *exec.Cmd
	logs     *testserver.Output // all of it
}

var kind = &testserver.Kind[*Server]{
	Name:    "moto server",
	Require: "IMGREC_REQUIRE_MOTO",
	Hint:    "install it with `pip install 'moto[server]'` or run on the project's machine image",
	Start:   start,
	Stop:    (*Server).stop,
}

// Shared returns one moto server for the whole test binary, started on first
// use; it lives until the process exits. Tests sharing it must use distinct
// resource names (buckets, queues, cluster tags) or call Reset themselves
// while no other test runs.
func Shared(t testing.TB) *Server {
	t.Helper()
	return kind.Shared(t)
}

// Start starts a moto server of the test's own, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return kind.Own(t)
}

func start() (*Server, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil, err
	}
	// The real interpreter, not a launcher such as a pyenv shim, which would
	// run moto as a grandchild beyond the reach of Pdeathsig.
	out, err := exec.Command(python, "-c", "import sys, moto.server; print(sys.executable)").Output()
	if err != nil {
		return nil, fmt.Errorf("python3 cannot import moto.server: %w", err)
	}
	python = strings.TrimSpace(string(out))
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), logs: new(testserver.Output)}
	s.cmd = exec.Command(python, "-c", serverScript, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	// The shared server has no test to stop it, so it dies with the test
	// binary, even one killed outright (on Linux; elsewhere it outlives
	// it: stop it with `pkill -f moto.server`).
	s.cmd.SysProcAttr = testserver.DieWithParent(os.Kill)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(startWait)
	for {
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("not answering on %s after %v: %s", s.Endpoint, startWait, s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// Reset clears every resource the server holds.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(s.Endpoint+"/moto-api/reset", "", nil)
	if err != nil {
		t.Fatalf("moto reset: %v", err)
	}
	resp.Body.Close()
}

// Config is an aws.Config for the server: static credentials, Region and
// BaseEndpoint. S3 clients still need UsePathStyle.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	}
}

// Setenv sets, for the test's duration, the environment Env lists, so the
// processes the test starts reach the server.
func (s *Server) Setenv(t testing.TB) {
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Env is the environment a child process (imgrec web, worker, ...) needs to
// reach the server through the standard AWS configuration chain.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Bounds for a hang, not promises of speed: a loaded machine may start
// python slowly, and a test's waits (a minute each) all run under the one
// Context.
const (
	startWait  = time.Minute
	testBudget = 10 * time.Minute
)

// Context is a context for one test's calls to the server.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testBudget)
	t.Cleanup(cancel)
	return ctx
}
