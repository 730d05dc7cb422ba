package nova_test

// These tests run against a real Nova (internal/localnova: Debian's nova
// with its fake hypervisor): they show the provider's API behaviour — tags
// and metadata, states, capacity, what it refuses to touch, the user data it
// sends — while the worker's drain on shutdown is the worker's own tests'
// concern, since the local Nova's servers run no code. Its state changes
// are asynchronous, as on a cloud (BUILD → ACTIVE in about a second here),
// so every check of a state waits for it, generously: the machine may be
// busy.

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/internal/localnova"
	"github.com/imgrec/imgrec/natsq"
	"github.com/imgrec/imgrec/nova"
	"github.com/imgrec/imgrec/userdata"
)

// generous bounds every wait for a state: a server takes about a second to
// build here, but the machine is shared.
const generous = 2 * time.Minute

// The local Nova's network "private" (its only one) and a flavor too large
// for its fake hypervisor.
const privateNetwork = "3cb9bc59-5699-4588-a4b1-b87f96708bc6"

var clusters atomic.Int32

// testCluster is a project of the shared local Nova and a cluster name that
// no other test uses, with a session of user "demo" in that project made
// from the OS_* environment (as an openrc file sets it).
type testCluster struct {
	srv     *localnova.Server
	project string
	name    string
	cloud   *nova.Cloud
	api     *gophercloud.ServiceClient // the project's own view, for checks
	admin   *gophercloud.ServiceClient // a cloud admin's, which sees user data
}

func newCluster(t *testing.T) *testCluster {
	t.Helper()
	srv := localnova.Shared(t)
	n := clusters.Add(1)
	c := &testCluster{
		srv:     srv,
		project: fmt.Sprintf("proj-%d-%d", time.Now().UnixNano()%1e6, n),
		name:    fmt.Sprintf("test-%d-%d", time.Now().UnixNano()%1e6, n),
	}
	srv.Setenv(t, "demo", c.project)
	cloud, err := nova.Connect(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	c.cloud = cloud
	c.api = srv.ComputeClient(t, "demo", c.project, nova.Microversion)
	c.admin = srv.ComputeClient(t, "admin", c.project, nova.Microversion)
	return c
}

func testWorker() userdata.Worker {
	return userdata.Worker{Args: []string{"--queue", "nats://10.0.0.5:4222", "--blobs", "s3://demo-images", "--model", userdata.Model}}
}

func (c *testCluster) provider(t *testing.T, cfg nova.Config) *nova.Provider {
	t.Helper()
	if cfg.Cluster == "" {
		cfg.Cluster = c.name
	}
	if cfg.Image == "" {
		cfg.Image = localnova.Image
	}
	if cfg.Flavor == "" {
		cfg.Flavor = localnova.Flavor
	}
	if cfg.Worker.Args == nil {
		cfg.Worker = testWorker()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	p, err := nova.New(t.Context(), c.cloud, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// get returns the server as Nova shows it to the project (404: nil).
func (c *testCluster) get(t *testing.T, id string) *servers.Server {
	t.Helper()
	s, err := servers.Get(t.Context(), c.api, id).Extract()
	if gophercloud.ResponseCodeIs(err, 404) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return s
}

// create makes a server with the raw API: a neighbour of the cluster's.
func (c *testCluster) create(t *testing.T, name string, tags []string, meta map[string]string) string {
	t.Helper()
	s, err := servers.Create(t.Context(), c.api, servers.CreateOpts{
		Name: name, ImageRef: localnova.Image, FlavorRef: localnova.Flavor, Networks: "auto",
		Tags: tags, Metadata: meta,
	}, nil).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { servers.Delete(t.Context(), c.api, s.ID) })
	return s.ID
}

// waitStatus waits until Nova shows server id in status with no task.
func (c *testCluster) waitStatus(t *testing.T, id, status string) {
	t.Helper()
	waitFor(t, id+" "+status, func() bool {
		s := c.get(t, id)
		return s != nil && s.Status == status && s.TaskState == ""
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(generous); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, generous)
		}
	}
}

// waitList waits until the provider's List satisfies cond and returns it.
func waitList(t *testing.T, p imgrec.Provider, what string, cond func([]imgrec.Instance) bool) []imgrec.Instance {
	t.Helper()
	var insts []imgrec.Instance
	for deadline := time.Now().Add(generous); ; time.Sleep(100 * time.Millisecond) {
		if insts = conformance.List(t, p); cond(insts) {
			return insts
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; List: %+v", what, generous, insts)
		}
	}
}

func TestConformance(t *testing.T) {
	c := newCluster(t)
	p := c.provider(t, nova.Config{})
	conformance.Provider(t, p, conformance.ProviderOptions{Timeout: generous, Poll: 100 * time.Millisecond})
}

func TestLaunchMarksAndSettings(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	// A key pair of the project's (imported: the local Nova generates none at 2.92+).
	kp := c.name + "-key"
	if _, err := c.api.Post(ctx, c.api.ServiceURL("os-keypairs"), map[string]any{"keypair": map[string]any{
		"name": kp, "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFQXwwJ+A3nWfWzvGzNy1fTz2zN+eRBBrZ0vbJh9X5Q/ imgrec-test",
	}}, nil, &gophercloud.RequestOpts{OkCodes: []int{200, 201}}); err != nil {
		t.Fatalf("import key pair: %v", err)
	}
	p := c.provider(t, nova.Config{
		Image: "fakeimage6", Flavor: "m1.small", // by name
		Network: privateNetwork, SecurityGroups: []string{"default"}, KeyName: kp,
		AvailabilityZone: "nova", ConfigDrive: true,
	})
	launched, err := p.Launch(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(launched) != 3 || len(slices.Compact(conformance.IDs(launched))) != 3 {
		t.Fatalf("Launch(3) returned %+v", launched)
	}
	for _, in := range launched {
		if in.State != imgrec.StatePending && in.State != imgrec.StateRunning {
			t.Errorf("%s is %s right after Launch, want pending or running", in.ID, in.State)
		}
	}
	for _, id := range conformance.IDs(launched) {
		c.waitStatus(t, id, "ACTIVE")
		s := c.get(t, id)
		if s.Tags == nil || !slices.Contains(*s.Tags, "imgrec:cluster="+c.name) || !slices.Contains(*s.Tags, "imgrec:role=worker") {
			t.Errorf("%s: tags %v, want imgrec:cluster=%s and imgrec:role=worker", id, s.Tags, c.name)
		}
		if s.Metadata["imgrec:cluster"] != c.name || s.Metadata["imgrec:role"] != "worker" {
			t.Errorf("%s: metadata %v, want imgrec:cluster: %s and imgrec:role: worker", id, s.Metadata, c.name)
		}
		if !strings.HasPrefix(s.Name, "imgrec-"+c.name+"-worker") {
			t.Errorf("%s: name %q", id, s.Name)
		}
		if s.Image["id"] != "a440c04b-79fa-479c-bed1-0b816eaec379" || s.Flavor["original_name"] != "m1.small" || s.KeyName != kp ||
			s.AvailabilityZone != "nova" || !s.ConfigDrive {
			t.Errorf("%s: image %v flavor %v key %q zone %q config drive %v, not as configured", id, s.Image, s.Flavor, s.KeyName, s.AvailabilityZone, s.ConfigDrive)
		}
		if _, ok := s.Addresses["private"]; !ok {
			t.Errorf("%s: addresses %v, want a port on the network private", id, s.Addresses)
		}
		if len(s.SecurityGroups) != 1 || s.SecurityGroups[0]["name"] != "default" {
			t.Errorf("%s: security groups %v, want default", id, s.SecurityGroups)
		}
	}
	got := waitList(t, p, "3 running", func(in []imgrec.Instance) bool { return conformance.CountState(in, imgrec.StateRunning) == 3 })
	if !slices.Equal(conformance.IDs(got), conformance.IDs(launched)) {
		t.Errorf("List: %v, want the launched %v", conformance.IDs(got), conformance.IDs(launched))
	}
	if err := p.Terminate(ctx, conformance.IDs(launched)); err != nil {
		t.Fatal(err)
	}
	waitList(t, p, "none left", func(in []imgrec.Instance) bool { return len(in) == 0 })
}

func TestUserDataStartsTheWorker(t *testing.T) {
	c := newCluster(t)
	p := c.provider(t, nova.Config{Worker: userdata.Worker{
		Args: []string{"--queue", "nats://10.0.0.5:4222", "--blobs", "s3://" + c.name, "--model", userdata.Model,
			"--log-level", "info", "--id-note", `50% of "$HOME"`},
		Env:          []string{"AWS_REGION=eu-west-3", "NOTE=a b"},
		DrainTimeout: 2 * time.Minute,
	}})
	launched, err := p.Launch(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate(t.Context(), conformance.IDs(launched)) })
	// Only an admin sees a server's user data (microversion 2.3 and later).
	s, err := servers.Get(t.Context(), c.admin, launched[0].ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if s.Userdata == nil {
		t.Fatalf("%s has no user data", s.ID)
	}
	raw, err := base64.StdEncoding.DecodeString(*s.Userdata)
	if err != nil {
		t.Fatalf("user data is not base64: %v", err)
	}
	conformance.WantUserData(t, string(raw),
		"#!/bin/sh\n",
		"(provider nova)",
		"ExecStart=/usr/local/bin/imgrec worker --queue nats://10.0.0.5:4222 --blobs s3://"+c.name+
			" --model /var/lib/imgrec/resnet18-f37072fd.pth --log-level info --id-note \"50%% of \\\"$$HOME\\\"\"\n",
		"Environment=AWS_REGION=eu-west-3\n",
		"Environment=\"NOTE=a b\"\n",
		"EnvironmentFile=-/etc/imgrec/worker.env\n",
		"KillSignal=SIGTERM\n",
		"TimeoutStopSec=120\n",
		"Environment=IMGREC_INSTANCE_ID=%s",
		"systemctl enable --now imgrec-worker.service\n",
	)
}

func TestNewRefusesBadConfig(t *testing.T) {
	c := newCluster(t)
	for name, tc := range map[string]struct {
		cfg  nova.Config
		code string
	}{
		"no cluster":          {nova.Config{Image: localnova.Image, Flavor: "1", Worker: testWorker()}, imgrec.EINVALID},
		"uppercase":           {nova.Config{Cluster: "Demo", Image: localnova.Image, Flavor: "1", Worker: testWorker()}, imgrec.EINVALID},
		"no image":            {nova.Config{Cluster: "demo", Flavor: "1", Worker: testWorker()}, imgrec.EINVALID},
		"no flavor":           {nova.Config{Cluster: "demo", Image: localnova.Image, Worker: testWorker()}, imgrec.EINVALID},
		"no worker":           {nova.Config{Cluster: "demo", Image: localnova.Image, Flavor: "1"}, imgrec.EINVALID},
		"network name":        {nova.Config{Cluster: "demo", Image: localnova.Image, Flavor: "1", Network: "private", Worker: testWorker()}, imgrec.EINVALID},
		"unknown flavor":      {nova.Config{Cluster: "demo", Image: localnova.Image, Flavor: "m9.huge", Worker: testWorker()}, imgrec.ENOTFOUND},
		"unknown image":       {nova.Config{Cluster: "demo", Image: "no-such-image", Flavor: "1", Worker: testWorker()}, imgrec.ENOTFOUND},
		"unknown image id":    {nova.Config{Cluster: "demo", Image: "00000000-0000-0000-0000-000000000000", Flavor: "1", Worker: testWorker()}, imgrec.ENOTFOUND},
		"ambiguous image":     {nova.Config{Cluster: "demo", Image: "fakeimage123456", Flavor: "1", Worker: testWorker()}, imgrec.EINVALID},
		"user data too large": {nova.Config{Cluster: "demo", Image: localnova.Image, Flavor: "1", Worker: userdata.Worker{Args: []string{strings.Repeat("x", 50<<10)}}}, imgrec.ETOOLARGE},
	} {
		_, err := nova.New(t.Context(), c.cloud, tc.cfg)
		if imgrec.ErrorCode(err) != tc.code {
			t.Errorf("%s: got %v, want %s", name, err, tc.code)
		}
	}
}

// TestOnlyItsOwnServers creates, with the raw API, an unmarked server, one
// of another cluster, one of the cluster that is not a worker, and two
// marked only half (tags without metadata, metadata without tags): the
// provider must neither list nor touch any of them.
func TestOnlyItsOwnServers(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	other := c.name + "-other"
	neighbours := map[string]string{ // id → what it is
		c.create(t, "plain", nil, nil):                               "unmarked",
		c.create(t, "other", nova.Tags(other), nova.Metadata(other)): "another cluster's",
		c.create(t, "web", []string{"imgrec:cluster=" + c.name, "imgrec:role=web"}, map[string]string{"imgrec:cluster": c.name, "imgrec:role": "web"}): "not a worker",
		c.create(t, "tags-only", nova.Tags(c.name), nil):         "tagged, without metadata",
		c.create(t, "metadata-only", nil, nova.Metadata(c.name)): "with metadata, untagged",
	}
	var stoppedOne string
	for id, what := range neighbours {
		c.waitStatus(t, id, "ACTIVE")
		if what == "another cluster's" {
			stoppedOne = id
			if err := servers.Stop(ctx, c.api, id).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			c.waitStatus(t, id, "SHUTOFF")
		}
	}

	p := c.provider(t, nova.Config{})
	mine, err := p.Launch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, p, "mine running", func(in []imgrec.Instance) bool { return conformance.CountState(in, imgrec.StateRunning) == 1 })
	if got := conformance.IDs(conformance.List(t, p)); !slices.Equal(got, []string{mine[0].ID}) {
		t.Errorf("List: %v, want only %s", got, mine[0].ID)
	}
	for id, what := range neighbours {
		conformance.LeavesAlone(t, ctx, p, mine[0].ID, id, id+", "+what)
	}
	// A moment for anything wrongly asked of Nova to show.
	time.Sleep(time.Second)
	for id, what := range neighbours {
		want := "ACTIVE"
		if id == stoppedOne {
			want = "SHUTOFF"
		}
		if s := c.get(t, id); s == nil || s.Status != want || s.TaskState != "" {
			t.Errorf("%s (%s): %+v, want it left %s", id, what, s, want)
		}
	}
	if s := c.get(t, mine[0].ID); s == nil || s.Status != "ACTIVE" || s.TaskState != "" {
		t.Errorf("mine %s after the refused calls: %+v, want ACTIVE", mine[0].ID, s)
	}
	if err := p.Terminate(ctx, conformance.IDs(mine)); err != nil {
		t.Fatal(err)
	}
}

// TestMaxIsRespected: Nova's states change asynchronously, so each step
// waits for the last to show, and a moment passes before the refused Start
// is checked.
func TestMaxIsRespected(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	p := c.provider(t, nova.Config{Max: 3})
	insts := conformance.Capacity(t, ctx, p, conformance.CapacityOptions{
		Settle: func(t *testing.T, what string, cond func([]imgrec.Instance) bool) { waitList(t, p, what, cond) },
		Quiet:  time.Second,
	})
	if err := p.Terminate(ctx, conformance.IDs(insts)); err != nil {
		t.Fatal(err)
	}
	waitList(t, p, "none left", func(in []imgrec.Instance) bool { return len(in) == 0 })
}

// TestTerminateStopsFirst: Nova's delete destroys a running server at once,
// so Terminate asks for a stop (a clean shutdown: the worker drains) and
// deletes the server once it is SHUTOFF; Nova's record of the server's
// actions shows the order.
func TestTerminateStopsFirst(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	p := c.provider(t, nova.Config{})
	launched, err := p.Launch(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, p, "2 running", func(in []imgrec.Instance) bool { return conformance.CountState(in, imgrec.StateRunning) == 2 })
	running, stopped := launched[0].ID, launched[1].ID
	if err := p.Stop(ctx, []string{stopped}); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(t, stopped, "SHUTOFF")
	if err := p.Terminate(ctx, []string{running, stopped}); err != nil {
		t.Fatal(err)
	}
	for _, in := range conformance.List(t, p) {
		if in.State != imgrec.StateStopping {
			t.Errorf("right after Terminate: %+v, want stopping", in)
		}
	}
	waitList(t, p, "both gone", func(in []imgrec.Instance) bool { return len(in) == 0 })
	waitFor(t, "both deleted", func() bool { return c.get(t, running) == nil && c.get(t, stopped) == nil })
	for id, want := range map[string][]string{running: {"create", "stop", "delete"}, stopped: {"create", "stop", "delete"}} {
		pages, err := instanceactions.List(c.api, id, nil).AllPages(ctx)
		if err != nil {
			t.Fatalf("actions of %s: %v", id, err)
		}
		acts, err := instanceactions.ExtractInstanceActions(pages)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		slices.SortFunc(acts, func(a, b instanceactions.InstanceAction) int { return a.StartTime.Compare(b.StartTime) })
		for _, a := range acts {
			got = append(got, a.Action)
		}
		if !slices.Equal(got, want) {
			t.Errorf("actions on %s: %v, want %v", id, got, want)
		}
	}
}

// TestServersInErrorAreDeleted launches with a flavor no host can take: Nova
// puts the servers in ERROR (NoValidHost). They count toward nothing, List
// says why they failed, and the provider deletes them.
func TestServersInErrorAreDeleted(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	// Only an admin makes flavors; this one is far larger than the fake hypervisor.
	flavor := c.name + "-huge"
	var made struct {
		Flavor struct {
			ID string `json:"id"`
		} `json:"flavor"`
	}
	if _, err := c.admin.Post(ctx, c.admin.ServiceURL("flavors"), map[string]any{"flavor": map[string]any{
		"name": flavor, "vcpus": 4096, "ram": 1 << 24, "disk": 1,
	}}, &made, &gophercloud.RequestOpts{OkCodes: []int{200, 201}}); err != nil {
		t.Fatalf("create flavor: %v", err)
	}
	t.Cleanup(func() { c.admin.Delete(ctx, c.admin.ServiceURL("flavors", made.Flavor.ID), nil) })
	p := c.provider(t, nova.Config{Flavor: flavor, Max: 2})
	launched, err := p.Launch(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The failure is seen (stopping, with Nova's fault) or already cleaned up.
	var sawFault atomic.Bool
	waitList(t, p, "the servers in ERROR deleted", func(in []imgrec.Instance) bool {
		for _, i := range in {
			if i.State == imgrec.StateStopping && strings.Contains(i.Detail, "ERROR") && strings.Contains(i.Detail, "No valid host") {
				sawFault.Store(true)
			}
			if i.State == imgrec.StatePending || i.State == imgrec.StateRunning {
				return false
			}
		}
		return len(in) == 0
	})
	for _, id := range conformance.IDs(launched) {
		waitFor(t, id+" deleted", func() bool { return c.get(t, id) == nil })
	}
	if !sawFault.Load() {
		t.Errorf("List never said why the servers failed")
	}
	// They hold no capacity: a full launch fits.
	good := c.provider(t, nova.Config{Max: 2})
	more, err := good.Launch(ctx, 2)
	if err != nil {
		t.Fatalf("Launch(2) after the failed ones, max 2: %v", err)
	}
	waitList(t, good, "2 running", func(in []imgrec.Instance) bool { return conformance.CountState(in, imgrec.StateRunning) == 2 })
	if err := good.Terminate(ctx, conformance.IDs(more)); err != nil {
		t.Fatal(err)
	}
	waitList(t, good, "none left", func(in []imgrec.Instance) bool { return len(in) == 0 })
}

// TestWarmPoolThroughController drives the autoscale Controller step by step
// with a real queue: a burst launches marked servers, an idle queue stops
// them into the warm pool (trimmed to its size by deleting the oldest), and
// the next burst starts the stopped one before launching anything. Steps
// run on the wall clock, as the controller's own loop would, until each
// expected fleet shows.
func TestWarmPoolThroughController(t *testing.T) {
	c := newCluster(t)
	q, err := natsq.Embedded(natsq.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	p := c.provider(t, nova.Config{Max: 3})
	ctl := &autoscale.Controller{
		Queue: q, Provider: p, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Policy: autoscale.NewBootAware(autoscale.Config{Max: 3, TargetPerInstance: 1, Window: time.Second, ScaleInAfter: time.Second, WarmPool: 1}),
	}
	ctx := t.Context()
	until := func(what string, cond func([]imgrec.Instance) bool) []imgrec.Instance {
		t.Helper()
		var insts []imgrec.Instance
		for deadline := time.Now().Add(generous); ; time.Sleep(200 * time.Millisecond) {
			ctl.Step(ctx, time.Now())
			if insts = conformance.List(t, p); cond(insts) {
				return insts
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %v; List: %+v", what, generous, insts)
			}
		}
	}
	sent := 0
	send := func(n int) {
		for range n {
			sent++
			if err := q.Send(ctx, imgrec.Request{ID: fmt.Sprint(sent), Key: fmt.Sprintf("test_%d.JPEG", sent), Sent: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}

	send(2)
	insts := until("2 running", func(in []imgrec.Instance) bool { return conformance.CountState(in, imgrec.StateRunning) == 2 })
	if len(insts) != 2 {
		t.Fatalf("after a burst of 2: %+v, want exactly 2", insts)
	}
	burst := conformance.IDs(insts)
	for _, id := range burst {
		if s := c.get(t, id); s.Metadata["imgrec:cluster"] != c.name {
			t.Errorf("%s launched by the controller lacks the cluster's metadata: %v", id, s.Metadata)
		}
	}

	// Nobody works on the local Nova's servers: purge the queue to make it idle.
	if err := q.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	insts = until("one stopped server left (warm pool 1)", func(in []imgrec.Instance) bool {
		return len(in) == 1 && in[0].State == imgrec.StateStopped
	})
	warm := insts[0].ID
	if !slices.Contains(burst, warm) {
		t.Errorf("the warm server %s is not one of the first burst's %v", warm, burst)
	}

	send(1)
	insts = until(warm+" running again", func(in []imgrec.Instance) bool {
		return conformance.CountState(in, imgrec.StateRunning) == 1
	})
	if len(insts) != 1 || insts[0].ID != warm {
		t.Fatalf("burst of 1 with %s warm: %+v, want %s started and nothing launched", warm, insts, warm)
	}
	// More work than the pool holds: the pool is empty, so it launches.
	send(3)
	until("3 running (max 3)", func(in []imgrec.Instance) bool { return conformance.CountState(in, imgrec.StateRunning) == 3 })
	q.Purge(ctx)
	if err := p.Terminate(ctx, conformance.IDs(conformance.List(t, p))); err != nil {
		t.Fatal(err)
	}
	waitList(t, p, "none left", func(in []imgrec.Instance) bool { return len(in) == 0 })
}

// TestConnect reaches the local Nova the ways an operator does: a named
// cloud of clouds.yaml (by --os-cloud, by OS_CLOUD; from
// OS_CLIENT_CONFIG_FILE, the working directory or ~/.config/openstack), and
// the OS_* variables (every other test). The servers land in the project
// the credentials name, and only there.
func TestConnect(t *testing.T) {
	srv := localnova.Shared(t)
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
		"OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME", "OS_INTERFACE", "OS_CLOUD", "OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
	project := fmt.Sprintf("proj-connect-%d", time.Now().UnixNano()%1e6)
	yaml := srv.CloudsYAML("here", "carol", project)
	dir := t.TempDir()
	file := dir + "/clouds.yaml"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no clouds.yaml of the machine's

	launch := func(how string, cloud string) {
		t.Helper()
		c, err := nova.Connect(t.Context(), cloud)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if !strings.Contains(c.Source, "clouds.yaml cloud here") {
			t.Errorf("%s: source %q", how, c.Source)
		}
		p, err := nova.New(t.Context(), c, nova.Config{Cluster: "connect", Image: "fakeimage6", Flavor: "m1.tiny", Worker: testWorker()})
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		insts, err := p.Launch(t.Context(), 1)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		mine := srv.ComputeClient(t, "carol", project, nova.Microversion)
		if s, err := servers.Get(t.Context(), mine, insts[0].ID).Extract(); err != nil || s.TenantID != project {
			t.Errorf("%s: server %s in project %s: %+v, %v", how, insts[0].ID, project, s, err)
		}
		other := srv.ComputeClient(t, "carol", project+"-other", nova.Microversion)
		if _, err := servers.Get(t.Context(), other, insts[0].ID).Extract(); !gophercloud.ResponseCodeIs(err, 404) && !gophercloud.ResponseCodeIs(err, 403) {
			t.Errorf("%s: another project sees %s: %v", how, insts[0].ID, err)
		}
		if err := p.Terminate(t.Context(), conformance.IDs(insts)); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("OS_CLIENT_CONFIG_FILE", file)
	launch("--os-cloud here with OS_CLIENT_CONFIG_FILE", "here")
	t.Setenv("OS_CLOUD", "here")
	launch("OS_CLOUD=here", "")
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_CLIENT_CONFIG_FILE", "")
	t.Chdir(dir)
	launch("./clouds.yaml", "here")
	t.Chdir(t.TempDir())
	if err := os.MkdirAll(os.Getenv("XDG_CONFIG_HOME")+"/openstack", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("XDG_CONFIG_HOME")+"/openstack/clouds.yaml", []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	launch("~/.config/openstack/clouds.yaml", "here")

	// Mistakes say what is wrong.
	if _, err := nova.Connect(t.Context(), "elsewhere"); imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), `"elsewhere"`) {
		t.Errorf("unknown cloud: %v, want %s naming it", err, imgrec.EINVALID)
	}
	if _, err := nova.Connect(t.Context(), ""); imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), "OS_AUTH_URL") {
		t.Errorf("no cloud and no OS_* variables: %v, want %s naming OS_AUTH_URL", err, imgrec.EINVALID)
	}
	for _, kv := range []string{"OS_AUTH_URL=http://127.0.0.1:1/identity/v3", "OS_USERNAME=carol", "OS_PASSWORD=x",
		"OS_PROJECT_NAME=" + project, "OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_DOMAIN_NAME=Default"} {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if _, err := nova.Connect(t.Context(), ""); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("no identity service at OS_AUTH_URL: %v, want %s naming it", err, imgrec.EUNAVAILABLE)
	}
}
