package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/nova"
)

// TestHybridDemo is issue 15's demonstration: the seed-003 layout with
// cloud bursting, on the local Nova and moto's SQS, S3 and EC2. `imgrec
// infra up --openstack` makes the queue and buckets and launches the web
// tier as a Nova server whose user data runs `imgrec web` against them;
// `imgrec controller --provider nova,ec2 --max-instances nova=2,ec2=3`,
// configured by up's exports, answers a burst of 100 — more than Nova's 2
// can hold — with servers on Nova first and then instances on EC2; every
// request is answered right, each instance's provider shows in the web
// tier's /v1/status and the controller's /metrics, both providers go back
// to 0 active; `infra down --yes` leaves no server, instance, queue or
// bucket of the cluster. Neither the local Nova's servers nor moto's
// instances run code: an `imgrec web` process stands in for the web
// tier's server, two `imgrec worker` processes for the workers.
func TestHybridDemo(t *testing.T) {
	srv, api := useMoto(t, false)
	cluster := fmt.Sprintf("hybrid-%d", time.Now().UnixNano()%1e9)
	nv, project := useLocalNova(t, cluster)
	admin := nv.ComputeClient(t, "admin", project, nova.Microversion) // sees user data
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	// The cluster's servers by role and status, through Nova itself.
	serverMap := func() map[string][]string {
		m := map[string][]string{}
		for _, s := range listServers(t, ctx, admin, imgrec.LabelCluster+"="+cluster) {
			k := s.Metadata[imgrec.LabelRole] + " " + s.Status
			m[k] = append(m[k], s.ID)
		}
		return m
	}
	var ctl *served
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(novaWait); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				log := ""
				if ctl != nil {
					log = ctl.logText()
				}
				t.Fatalf("no %s within %v; servers %v, EC2 %v\ncontroller log:\n%s", what, novaWait, serverMap(), api.states(cluster), log)
			}
		}
	}

	// 1. Queue, buckets and the web tier's server.
	code, stdout, stderr := runImgrec(t, "infra", "up", "--cluster", cluster, "--endpoint-url", srv.Endpoint,
		"--openstack", "--os-cloud", "local", "--nova-image", "fakeimage6", "--nova-flavor", "m1.small",
		"--nova-network", "3cb9bc59-5699-4588-a4b1-b87f96708bc6") // the local Nova's network "private"
	if code != 0 {
		t.Fatalf("infra up: exit %d: %s", code, stderr)
	}
	t.Cleanup(func() {
		execute(context.Background(), "infra", "down", "--yes", "--cluster", cluster, "--openstack", "--os-cloud", "local", "--endpoint-url", srv.Endpoint)
	})
	settings := exports(t, stdout)
	for k, v := range settings {
		t.Setenv(k, v)
	}
	for k, v := range map[string]string{"IMGREC_OPENSTACK": "true", "IMGREC_OS_CLOUD": "local", "IMGREC_NOVA_IMAGE": "fakeimage6",
		"IMGREC_NOVA_FLAVOR": "m1.small", "IMGREC_CLUSTER": cluster, "IMGREC_ENDPOINT_URL": srv.Endpoint} {
		if settings[k] != v {
			t.Errorf("infra up exported %s=%q, want %q:\n%s", k, settings[k], v, stdout)
		}
	}
	if !regexp.MustCompile(`server \S+ \(web tier\): created, ACTIVE at private=192\.168\.\d+\.\d+\n`).MatchString(stderr) ||
		!regexp.MustCompile(`the web tier: http://192\.168\.\d+\.\d+:8080/`).MatchString(stderr) {
		t.Errorf("infra up did not report the web tier's server and address:\n%s", stderr)
	}
	web := serverMap()["web ACTIVE"]
	if len(web) != 1 {
		t.Fatalf("after infra up, servers %v; want one ACTIVE web tier", serverMap())
	}
	s, err := servers.Get(ctx, admin, web[0]).Extract()
	if err != nil {
		t.Fatal(err)
	}
	script, _ := base64.StdEncoding.DecodeString(*s.Userdata)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/imgrec web --addr 0.0.0.0:8080 --queue sqs://imgrec-" + cluster + "-requests --blobs s3://imgrec-" + cluster + " ",
		"Environment=AWS_REGION=us-east-1\n", "Environment=AWS_ENDPOINT_URL=" + srv.Endpoint + "\n", "EnvironmentFile=-/etc/imgrec/web.env\n",
	} {
		if !strings.Contains(string(script), want) {
			t.Errorf("the web tier's user data lacks %q:\n%s", want, script)
		}
	}
	if code, again, stderr := runImgrec(t, "infra", "up", "--cluster", cluster); code != 0 || !strings.Contains(stderr, "(web tier): exists") ||
		len(serverMap()["web ACTIVE"]) != 1 || exports(t, again)["IMGREC_NOVA_IMAGE"] != "fakeimage6" {
		t.Errorf("infra up again (from the exports): exit %d, %s; servers %v; want the same web tier", code, stderr, serverMap())
	}
	code, stdout, _ = runImgrec(t, "infra", "status", "--cluster", cluster)
	if code != 0 || !regexp.MustCompile(`SERVERS \(OpenStack\)\s+web 1\s+worker 0\n`).MatchString(stdout) ||
		!regexp.MustCompile(web[0]+`\s+web\s+ACTIVE\s+private=`).MatchString(stdout) {
		t.Errorf("infra status: exit %d:\n%s", code, stdout)
	}

	// 2. The controller over both clouds, Nova first; the web tier, as its
	// server would run it, showing the controller's instances.
	ctl = startProcess(t, regexp.MustCompile(`controller started`), "controller", "--provider", "nova,ec2",
		"--max-instances", "nova=2,ec2=3", "--ec2-image-id", motoAMI, "--min-billed", "0",
		"--scale-window", "500ms", "--scale-in-after", "500ms", "--metrics-addr", "127.0.0.1:0", "--log-level", "info")
	var metricsURL string
	wait("the controller's metrics address", func() bool {
		m := regexp.MustCompile(`msg=listening addr=(http://\S+)/`).FindStringSubmatch(ctl.logText())
		if m != nil {
			metricsURL = m[1]
		}
		return m != nil
	})
	webTier := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--controller-url", metricsURL)

	loaded := startLoadgen(t, webTier.url, "--timeout", novaWait.String())
	ec2Active := func() (ids []string) {
		for id, st := range api.states(cluster) {
			if st == ec2types.InstanceStateNamePending || st == ec2types.InstanceStateNameRunning {
				ids = append(ids, id)
			}
		}
		return ids
	}
	wait("2 Nova servers and 3 EC2 instances up", func() bool {
		return len(serverMap()["worker ACTIVE"]) == 2 && len(ec2Active()) == 3
	})
	log := ctl.logText()
	novaAt := strings.Index(log, "reservation=")  // in nova's "instances launched"
	ec2At := strings.Index(log, "type=t3.medium") // in ec2's
	// Whether the 5 were placed in one decision or, as the queue filled,
	// in several depends on timing; the order does not.
	if novaAt < 0 || ec2At < 0 || novaAt > ec2At {
		t.Errorf("the controller did not launch on Nova before EC2:\n%s", log)
	}

	// Each instance's provider, in the web tier's status and the
	// controller's metrics.
	var status struct {
		Instances []imgrec.Instance `json:"instances"`
	}
	wait("the web tier's status showing both providers", func() bool {
		status.Instances = nil
		getJSONFrom(t, webTier.url+"v1/status", &status)
		byProvider := map[string]int{}
		for _, in := range status.Instances {
			if strings.HasPrefix(in.ID, in.Provider+":") && in.State == imgrec.StateRunning {
				byProvider[in.Provider]++
			}
		}
		return byProvider["nova"] == 2 && byProvider["ec2"] == 3
	})
	metric := func(provider, state string) string {
		return fmt.Sprintf(`imgrec_instances{provider=%q,state=%q}`, provider, state)
	}
	if m := getText(t, metricsURL+"/metrics"); !strings.Contains(m, metric("nova", "running")+" 2") || !strings.Contains(m, metric("ec2", "running")+" 3") {
		t.Errorf("controller metrics lack the instances by provider:\n%s", grep(m, "imgrec_instances"))
	}

	workers := standinWorkers(t)
	(<-loaded).wantAllAnswered(t, ctl)

	// 3. Back to 0 active on both.
	wait("0 instances active on both providers", func() bool {
		m := getText(t, metricsURL+"/metrics")
		for _, p := range []string{"nova", "ec2"} {
			for _, st := range []string{"pending", "running", "stopping"} {
				if !strings.Contains(m, metric(p, st)+" 0") {
					return false
				}
			}
		}
		return len(ec2Active()) == 0 && len(serverMap()["worker ACTIVE"]) == 0
	})

	// 4. Down, after the tiers and the controller are stopped.
	stopAll(t, append(workers, webTier, ctl)...)
	left := serverMap()
	code, stdout, stderr = runImgrec(t, "infra", "down", "--yes", "--cluster", cluster)
	if code != 0 {
		t.Fatalf("infra down: exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"deleting 3 servers: ", " (web)", " (worker)", "servers deleted", "terminating 3 instances",
		"cluster " + cluster + ": down (3 instances terminated, 3 servers deleted, "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("down's report lacks %q (servers before: %v):\n%s", want, left, stdout)
		}
	}
	if m := serverMap(); len(m) > 0 {
		t.Errorf("after down, servers %v", m)
	}
	for id, st := range api.states(cluster) {
		if st != ec2types.InstanceStateNameTerminated {
			t.Errorf("after down, instance %s is %s", id, st)
		}
	}
	if q := api.queues("imgrec-" + cluster); len(q) > 0 {
		t.Errorf("after down, queues %v", q)
	}
	for _, b := range []string{"imgrec-" + cluster + "-input", "imgrec-" + cluster + "-output"} {
		if api.bucketExists(b) {
			t.Errorf("after down, bucket %s exists", b)
		}
	}
}

func getJSONFrom(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getText(t, url)), v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
