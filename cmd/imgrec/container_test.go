package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec/loadgen"
)

// needTool finds a command the container tests need, or skips the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipContainers(t, fmt.Sprintf("%s not found: %v", name, err))
	}
	return path
}

// skipContainers skips a container test that cannot run here, saying why
// and how to make it run; with IMGREC_REQUIRE_PODMAN=1 (CI installs podman
// and sets it) it fails instead.
func skipContainers(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("IMGREC_REQUIRE_PODMAN") == "1" {
		t.Fatalf("%s, and IMGREC_REQUIRE_PODMAN=1", why)
	}
	t.Skipf("%s (apt-get install podman runc netavark aardvark-dns iptables podman-compose; "+
		"on VMs without systemd also CONTAINERS_CONF=.ci/containers.conf, as .ci/run sets)", why)
}

// podman runs podman with args and returns its stdout; a failure fails the
// test with podman's stderr.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCommand(t, "podman", args...)
	if err != nil {
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func runCommand(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var errs strings.Builder
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w\n%s", err, errs.String())
	}
	return string(out), nil
}

// TestContainer builds the image with make image and runs it with podman:
// serve alone on the host's network answering the course workload, then the
// compose file's NATS, web tier, worker and controller containers answering
// a burst sent from a container on their network.
func TestContainer(t *testing.T) {
	needTool(t, "podman")
	needTool(t, "make")
	tag := fmt.Sprintf("localhost/imgrec-test:%d", rand.Uint32())
	dir := t.TempDir()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	start := time.Now()
	if out, err := runCommand(t, "make", "-C", "../..", "--no-print-directory", "image", "GO="+goCmd, "IMAGE="+tag,
		"BIN="+filepath.Join(dir, "imgrec"), "IMAGE_CONTEXT="+filepath.Join(dir, "context"), "CONTAINER_ENGINE=podman"); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image (the static build included) took %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { runCommand(t, "podman", "rmi", "-f", tag) })
	// Podman installed is not podman working (see .ci/containers.conf).
	if out, err := runCommand(t, "podman", "run", "--rm", "--network", "none", tag, "version"); err != nil || !strings.HasPrefix(out, "imgrec ") {
		skipContainers(t, fmt.Sprintf("podman cannot run the image here: %v %s", err, out))
	}

	t.Run("image", func(t *testing.T) {
		var img []struct {
			Size   int64
			Config struct {
				User       string
				Entrypoint []string
				Cmd        []string
				Env        []string
				Volumes    map[string]struct{}
			}
		}
		if err := json.Unmarshal([]byte(podman(t, "image", "inspect", tag)), &img); err != nil || len(img) != 1 {
			t.Fatalf("podman image inspect: %v", err)
		}
		c := img[0].Config
		if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/imgrec"}) ||
			!slices.Equal(c.Cmd, []string{"serve", "--addr", "0.0.0.0:8080"}) || !slices.Contains(c.Env, "IMGREC_DATA_DIR=/data") {
			t.Errorf("image config %+v; want user 65532, entrypoint imgrec, serve on 0.0.0.0:8080 with its data in /data", c)
		}
		if _, ok := c.Volumes["/data"]; !ok {
			t.Errorf("volumes %v; want /data", c.Volumes)
		}
		t.Logf("image size %.1f MB", float64(img[0].Size)/1e6)
	})

	t.Run("serve", func(t *testing.T) {
		model, err := filepath.Abs(standinModel)
		if err != nil {
			t.Fatal(err)
		}
		port := freePort(t)
		name := fmt.Sprintf("imgrec-test-serve-%d", rand.Uint32())
		// The host's network: a port published through netavark is not
		// reachable from the host on every machine (../shared/NOTES.md).
		podman(t, "run", "-d", "--name", name, "--network", "host",
			"-v", model+":/model/resnet18.pth:ro", "-e", "IMGREC_MODEL=/model/resnet18.pth",
			tag, "serve", "--addr", "127.0.0.1:"+port, "--cache=false")
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("container log:\n%s", containerLog(name))
			}
			runCommand(t, "podman", "rm", "-f", "-v", name)
		})
		url := "http://127.0.0.1:" + port + "/"
		waitFor(t, "the container's /readyz", func() bool {
			if state := strings.TrimSpace(podman(t, "inspect", "--format", "{{.State.Status}}", name)); state != "running" {
				t.Fatalf("container %s:\n%s", state, containerLog(name))
			}
			resp, err := http.Get(url + "readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		if top := podman(t, "top", name, "user", "huser", "comm"); !strings.Contains(top, "imgrec      65532") || strings.Contains(top, "root") {
			t.Errorf("processes in the container:\n%s\nwant imgrec (65532), never root", top)
		}
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: url, Images: loadCourseImages(t), Requests: 100, Concurrency: 100, Expected: standinExpected(t), Timeout: generous,
		})
		if err != nil || sum.OK != 100 {
			t.Fatalf("%v: ok %d, wrong %d, failed %d: %+v", err, sum.OK, sum.Wrong, sum.Failed, sum.Failures)
		}
		// SIGTERM, as docker stop and podman stop send it: the drain, and exit 0.
		podman(t, "stop", "--time", "60", name)
		if code := strings.TrimSpace(podman(t, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
			t.Errorf("exit code after podman stop: %s, want 0", code)
		}
	})

	t.Run("compose", func(t *testing.T) {
		needTool(t, "podman-compose")
		model, err := filepath.Abs(standinModel)
		if err != nil {
			t.Fatal(err)
		}
		images, _ := filepath.Abs(filepath.Join(sharedDir, "data/imagenet-100"))
		expected, _ := filepath.Abs(filepath.Join(sharedDir, "models/resnet18-standin-expected.csv"))
		project := fmt.Sprintf("imgrectest%d", rand.Uint32())
		compose := func(args ...string) (string, error) {
			cmd := exec.Command("podman-compose", append([]string{"-p", project, "-f", "../../deploy/compose.yaml"}, args...)...)
			cmd.Env = append(os.Environ(), "IMGREC_IMAGE="+tag, "IMGREC_MODEL_FILE="+model, "IMGREC_PORT="+freePort(t))
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		services := []string{"nats", "web", "worker", "controller"}
		t.Cleanup(func() {
			if t.Failed() {
				for _, s := range services {
					t.Logf("%s log:\n%s", s, containerLog(project+"_"+s+"_1"))
				}
			}
			if out, err := compose("down", "-v"); err != nil {
				t.Errorf("podman-compose down: %v\n%s", err, out)
			}
			runCommand(t, "podman", "network", "rm", "-f", project+"_default") // podman-compose 1.0 leaves it
		})
		start := time.Now()
		if out, err := compose("up", "-d"); err != nil {
			t.Fatalf("podman-compose up: %v\n%s", err, out)
		}
		logOf := func(service string) string { return containerLog(project + "_" + service + "_1") }
		// The host cannot reach the compose network on every machine: wait
		// on the tiers' own words, then send the burst from a container on it.
		waitFor(t, "the web tier and the worker up", func() bool {
			return strings.Contains(logOf("web"), `"msg":"listening"`) && strings.Contains(logOf("worker"), `"msg":"worker started"`) &&
				strings.Contains(logOf("controller"), `"msg":"controller started"`)
		})
		t.Logf("compose up: %v", time.Since(start).Round(time.Millisecond))
		out := podman(t, "run", "--rm", "--network", project+"_default", "-v", images+":/images:ro", "-v", expected+":/expected.csv:ro",
			tag, "loadgen", "--url", "http://web:8080/", "--image-folder", "/images", "--num-request", "100", "--concurrency", "100",
			"--expected", "/expected.csv", "--timeout", "2m", "--json")
		var sum struct{ OK, Wrong, Failed int }
		if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.OK != 100 {
			t.Fatalf("the burst through the compose network: %v %s", err, out)
		}
		// The worker container was pulling before the burst came, so it
		// took part (the controller may have added workers of its own).
		if n := strings.Count(logOf("worker"), `"msg":"done"`); n == 0 {
			t.Errorf("the worker container answered none of the burst")
		}
	})
}

// containerLog is what a container wrote, stdout and stderr (imgrec logs
// on stderr, which podman logs hands on as such).
func containerLog(name string) string {
	out, err := exec.Command("podman", "logs", name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s(podman logs: %v)", out, err)
	}
	return string(out)
}

// freePort is a port nothing listens on now, for a server that cannot be
// told to pick one itself.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
