package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/localnova"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/nova"
	"github.com/imgrec/imgrec/userdata"
)

// novaWait bounds each wait on the local Nova: a server builds in about a
// second there, but the machine is shared.
const novaWait = 2 * time.Minute

// useLocalNova points this process and its children at the local Nova
// (internal/localnova) through a clouds.yaml naming it cloud "local", for
// user "operator" in the cluster's own project, proj-CLUSTER, with none of
// the machine's OS_* variables in the way. It returns the server and the
// project.
func useLocalNova(t *testing.T, cluster string) (*localnova.Server, string) {
	t.Helper()
	srv := localnova.Shared(t)
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID", "OS_USER_DOMAIN_NAME",
		"OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME", "OS_CLOUD"} {
		t.Setenv(k, "")
	}
	project := "proj-" + cluster
	cfgFile := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(cfgFile, []byte(srv.CloudsYAML("local", "operator", project)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", cfgFile)
	return srv, project
}

// listServers lists, through Nova itself, the servers that carry all of
// tags (comma-separated).
func listServers(t *testing.T, ctx context.Context, compute *gophercloud.ServiceClient, tags string) []servers.Server {
	t.Helper()
	pages, err := servers.List(compute, servers.ListOpts{Tags: tags}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestControllerOnNova runs `imgrec controller --provider nova` as its own
// process against the local Nova (internal/localnova), reached through a
// clouds.yaml and --os-cloud, with the web tier as another process on an
// external NATS queue and filesystem buckets: queued requests make marked
// servers appear; since the local Nova's servers run no code, two `imgrec
// worker` processes, started once the servers are there, stand in for the
// workers they would run, and every request is answered right; once the
// queue is idle the servers are stopped into the warm pool, and the next
// requests start one of them again instead of launching.
func TestControllerOnNova(t *testing.T) {
	cluster := fmt.Sprintf("ctl-%d", time.Now().UnixNano()%1e9)
	srv, project := useLocalNova(t, cluster)
	api := srv.ComputeClient(t, "operator", project, nova.Microversion)
	admin := srv.ComputeClient(t, "admin", project, nova.Microversion) // sees user data
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel) // after the clean-up below, which lists

	nats, blobs := natsAndFiles(t)
	defer nats.Close()
	web := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", nats.URL(), "--blobs", blobs)
	ctl := startProcess(t, regexp.MustCompile(`controller started`), "controller", "--provider", "nova",
		"--cluster", cluster, "--os-cloud", "local", "--nova-image", "fakeimage6", "--nova-flavor", "m1.small",
		"--nova-network", "3cb9bc59-5699-4588-a4b1-b87f96708bc6", // the local Nova's network "private"
		"--max-instances", "3", "--scale-window", "500ms", "--scale-in-after", "500ms",
		"--queue", nats.URL(), "--blobs", blobs, "--metrics-addr", "", "--log-level", "info")

	// cluster lists the cluster's servers through Nova itself, by status.
	list := func() map[string][]string {
		m := map[string][]string{}
		for _, s := range listServers(t, ctx, api, strings.Join(nova.Tags(cluster), ",")) {
			st := s.Status
			if s.TaskState != "" {
				st += "/" + s.TaskState
			}
			m[st] = append(m[st], s.ID)
		}
		for _, ids := range m {
			slices.Sort(ids)
		}
		return m
	}
	t.Cleanup(func() {
		for _, ids := range list() {
			for _, id := range ids {
				servers.Delete(context.Background(), api, id)
			}
		}
	})
	var m map[string][]string
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(novaWait); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %v; servers: %v\ncontroller log:\n%s", what, novaWait, m, ctl.logText())
			}
		}
	}

	type result struct {
		sum loadgen.Summary
		err error
	}
	loaded := make(chan result, 1)
	go func() {
		sum, err := loadgen.Run(ctx, loadgen.Config{
			URL: web.url, Images: loadCourseImages(t)[:20], Requests: 20, Concurrency: 10,
			Expected: standinExpected(t), Timeout: novaWait,
		})
		loaded <- result{sum, err}
	}()
	wait("servers launched by the controller", func() bool { m = list(); return len(m["ACTIVE"]) > 0 })
	workers := standinWorkers(t, "--queue", nats.URL(), "--blobs", blobs)
	r := <-loaded
	if r.err != nil || r.sum.OK != 20 {
		t.Fatalf("loadgen: %v %+v\ncontroller log:\n%s", r.err, r.sum, ctl.logText())
	}
	for _, w := range workers {
		w.stop(t)
	}

	// Every server the controller made is marked, runs the worker with
	// this cluster's queue and buckets, and went into the warm pool.
	wait("every server stopped into the warm pool", func() bool {
		m = list()
		return len(m) == 1 && len(m["SHUTOFF"]) > 0
	})
	launched := m["SHUTOFF"]
	if len(launched) > 3 {
		t.Errorf("%d servers, more than --max-instances 3: %v", len(launched), launched)
	}
	for _, id := range launched {
		s, err := servers.Get(ctx, admin, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if s.Metadata[imgrec.LabelCluster] != cluster || s.Metadata[imgrec.LabelRole] != imgrec.RoleWorker || s.Flavor["original_name"] != "m1.small" {
			t.Errorf("%s: metadata %v, flavor %v", id, s.Metadata, s.Flavor)
		}
		script := ""
		if s.Userdata != nil {
			b, _ := base64.StdEncoding.DecodeString(*s.Userdata)
			script = string(b)
		}
		for _, want := range []string{"--queue " + nats.URL(), "--blobs " + blobs, "--model " + userdata.Model, "--log-level info", "(provider nova)"} {
			if !strings.Contains(script, want) {
				t.Errorf("user data of %s lacks %q:\n%s", id, want, script)
			}
		}
	}

	// Work again: a warm server starts, nothing is launched.
	if err := nats.Send(ctx, imgrec.Request{ID: "again", Key: "test_0.JPEG", Sent: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wait("a warm server running again", func() bool { m = list(); return len(m["ACTIVE"]) == 1 })
	if !slices.Contains(launched, m["ACTIVE"][0]) || len(m["SHUTOFF"])+1 != len(launched) {
		t.Errorf("after a request with %v warm: %v; want one of them started and nothing launched", launched, m)
	}
	if err := nats.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	wait("the server stopped again", func() bool { m = list(); return len(m["SHUTOFF"]) == len(launched) && len(m) == 1 })
	for _, want := range []string{"msg=scale", "instances launched", "instances stopped", "instances started", "credentials=\"clouds.yaml cloud local\"",
		"workers cannot reach this machine's files", "workers cannot reach this machine's loopback address"} {
		if !strings.Contains(ctl.logText(), want) {
			t.Errorf("controller log lacks %q:\n%s", want, ctl.logText())
		}
	}
}
