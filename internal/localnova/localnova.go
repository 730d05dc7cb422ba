// Package localnova starts a real OpenStack Nova compute API on 127.0.0.1
// for tests, as package moto starts moto: the project's
// ../shared/openstack/run-nova.sh (Debian's nova with its fake hypervisor,
// real Placement, a Keystone stand-in that takes any password; servers go
// BUILD → ACTIVE without a VM, and run no code).
//
// When the script is missing or cannot start (its first run downloads
// Debian packages with apt, which needs root), Start and Shared skip the
// test saying why, unless IMGREC_REQUIRE_NOVA=1 (set by CI), where the test
// fails instead.
package localnova

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/imgrec/imgrec/internal/testserver"
)

// Image is one of the local Nova's fixed test images; every flavor fits it.
const Image = "155d900f-4e14-4e4c-a73d-069cbf4541e6"

// Flavor is the id of the local Nova's smallest flavor, m1.tiny.
const Flavor = "1"

// Region is the region of the local Nova's catalog.
const Region = "RegionOne"

// startTimeout bounds the wait for the server to be ready. A first run
// installs the packages (tens of seconds, minutes on a slow mirror), later
// ones take 5–7 s; on a busy machine everything is slower, so the wait is
// generous and ends early when the script exits.
const startTimeout = 10 * time.Minute

// Server is a running local Nova.
type Server struct {
	AuthURL string // http://127.0.0.1:PORT/identity/v3
	Compute string // http://127.0.0.1:PORT/v2.1
	Port    int
	cmd     *exec.Cmd
	logs    *testserver.Output
	done    chan struct{} // closed when the process has exited
}

var kind = &testserver.Kind[*Server]{
	Name:    "local Nova",
	Require: "IMGREC_REQUIRE_NOVA",
	Hint:    "it is ../shared/openstack/run-nova.sh (its first run needs root for apt); IMGREC_REQUIRE_NOVA=1 makes this a failure",
	Start:   start,
	Stop:    (*Server).Stop,
}

// Shared returns one server for the whole test binary, started on first
// use; it lives until the process exits (it gets SIGTERM when the test
// binary dies, on Linux). Tests sharing it keep apart by project or by
// cluster name.
func Shared(t testing.TB) *Server {
	t.Helper()
	return kind.Shared(t)
}

// Start starts a server of the test's own, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return kind.Own(t)
}

// Script returns the path of run-nova.sh: $IMGREC_NOVA_SCRIPT, else
// ../shared/openstack/run-nova.sh beside the module's root.
func Script() (string, error) {
	if s := os.Getenv("IMGREC_NOVA_SCRIPT"); s != "" {
		return s, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
	s := filepath.Join(dir, "..", "shared", "openstack", "run-nova.sh")
	if _, err := os.Stat(s); err != nil {
		return "", fmt.Errorf("run-nova.sh: %w (set IMGREC_NOVA_SCRIPT to its path)", err)
	}
	return s, nil
}

func start() (*Server, error) {
	script, err := Script()
	if err != nil {
		return nil, err
	}
	unlock, err := lockStart()
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	defer unlock()
	dir, err := os.MkdirTemp("", "imgrec-localnova-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ready := filepath.Join(dir, "ready.json")
	s := &Server{logs: &testserver.Output{Max: 64 << 10}, done: make(chan struct{})}
	// run-nova.sh execs python, so the process is the server itself.
	s.cmd = exec.Command(script, "--port", "0", "--ready-file", ready)
	s.cmd.Stdout = s.logs
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	// The shared server has no test to stop it, so it gets SIGTERM (and
	// removes its temporary files) when the test binary dies, even one
	// killed outright (on Linux; elsewhere it outlives it).
	s.cmd.SysProcAttr = testserver.DieWithParent(syscall.SIGTERM)
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.logs.Write(append(sc.Bytes(), '\n'))
		}
		s.cmd.Wait()
		close(s.done)
	}()
	for tick := time.NewTicker(100 * time.Millisecond); ; {
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v):\n%s", script, s.cmd.ProcessState, s.logs)
		case <-tick.C:
		}
		b, err := os.ReadFile(ready)
		if err == nil {
			tick.Stop()
			var info struct {
				AuthURL string `json:"auth_url"`
				Compute string `json:"compute"`
				Port    int    `json:"port"`
			}
			if err := json.Unmarshal(b, &info); err != nil || info.AuthURL == "" {
				s.Stop()
				return nil, fmt.Errorf("ready file %q: %v", b, err)
			}
			s.AuthURL, s.Compute, s.Port = info.AuthURL, info.Compute, info.Port
			break
		}
		if time.Since(t0) > startTimeout {
			s.Stop()
			return nil, fmt.Errorf("not ready after %v:\n%s", startTimeout, s.logs)
		}
	}
	// The ready file is written once the API listens; check it answers.
	resp, err := http.Get(s.AuthURL)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("identity endpoint %s: %w", s.AuthURL, err)
	}
	resp.Body.Close()
	return s, nil
}

// Stop ends the server with SIGTERM (it removes its temporary files) and
// waits for it, killing it if it lingers.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Logs returns the end of the server's output, for failure messages.
func (s *Server) Logs() string { return s.logs.String() }

// Env is the standard OpenStack environment (OS_*) for user in project,
// as an openrc file sets it. The local Keystone takes any password; the
// user "admin" is a cloud admin, any other sees only its project.
func (s *Server) Env(user, project string) []string {
	return []string{
		"OS_AUTH_URL=" + s.AuthURL,
		"OS_USERNAME=" + user,
		"OS_PASSWORD=local-nova-takes-any",
		"OS_PROJECT_NAME=" + project,
		"OS_USER_DOMAIN_NAME=Default",
		"OS_PROJECT_DOMAIN_NAME=Default",
		"OS_REGION_NAME=" + Region,
		"OS_INTERFACE=public",
		"OS_IDENTITY_API_VERSION=3",
	}
}

// Setenv sets Env for the test's duration (and clears OS_CLOUD), so that
// the processes the test starts reach the server.
func (s *Server) Setenv(t testing.TB, user, project string) {
	t.Setenv("OS_CLOUD", "")
	for _, kv := range s.Env(user, project) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// CloudsYAML is a clouds.yaml naming the server cloud for user in project.
func (s *Server) CloudsYAML(cloud, user, project string) string {
	return fmt.Sprintf(`clouds:
  %s:
    auth:
      auth_url: %s
      username: %s
      password: local-nova-takes-any
      project_name: %s
      user_domain_name: Default
      project_domain_name: Default
    region_name: %s
    interface: public
    identity_api_version: 3
`, cloud, s.AuthURL, user, project, Region)
}

// ComputeClient returns a compute client of the server for user in project, at
// microversion, for a test's own look at the servers.
func (s *Server) ComputeClient(t testing.TB, user, project, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: s.AuthURL, Username: user, Password: "local-nova-takes-any",
		DomainName: "Default", TenantName: project,
	})
	if err != nil {
		t.Fatalf("local Nova: authenticate %s in %s: %v", user, project, err)
	}
	c, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{Region: Region})
	if err != nil {
		t.Fatalf("local Nova: compute client: %v", err)
	}
	c.Microversion = microversion
	return c
}
