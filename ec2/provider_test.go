package ec2_test

// These tests run against moto's EC2 (internal/moto), a real EC2 API whose
// instances run no code: they show the provider's API behaviour — tags,
// states, capacity, what it refuses to touch, the user data it sends —
// while the worker's drain on shutdown is the worker's own tests' concern.
// Moto changes states at once (no pending or stopping phase) and keeps
// terminated instances listed, as EC2 does for about an hour.

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/natsq"
	"github.com/imgrec/imgrec/userdata"
)

var clusters atomic.Int32

// newCluster returns a client of the shared moto server and a cluster name
// no other test uses.
func newCluster(t *testing.T) (*awsec2.Client, string) {
	t.Helper()
	srv := moto.Shared(t)
	return awsec2.NewFromConfig(srv.Config()), fmt.Sprintf("test-%d-%d", time.Now().UnixNano()%1e6, clusters.Add(1))
}

func testWorker() userdata.Worker {
	return userdata.Worker{
		Args: []string{"--queue", "sqs://demo-requests", "--blobs", "s3://demo-images", "--model", userdata.Model},
		Env:  []string{"AWS_REGION=us-east-1"},
	}
}

func newProvider(t *testing.T, api *awsec2.Client, cfg ec2.Config) *ec2.Provider {
	t.Helper()
	if cfg.ImageID == "" {
		cfg.ImageID = "ami-12c6146b" // moto takes any id; this one is in its default set
	}
	if cfg.Worker.Args == nil {
		cfg.Worker = testWorker()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	p, err := ec2.New(api, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	api, cluster := newCluster(t)
	p := newProvider(t, api, ec2.Config{Cluster: cluster})
	conformance.Provider(t, p, conformance.ProviderOptions{Poll: 50 * time.Millisecond})
}

// describe returns the instances with ids as EC2 sees them, by id.
func describe(t *testing.T, api *awsec2.Client, ids ...string) map[string]types.Instance {
	t.Helper()
	out, err := api.DescribeInstances(moto.Context(t), &awsec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("describe %v: %v", ids, err)
	}
	m := map[string]types.Instance{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			m[aws.ToString(in.InstanceId)] = in
		}
	}
	return m
}

func tagsOf(in types.Instance) map[string]string {
	m := map[string]string{}
	for _, tag := range in.Tags {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

func TestLaunchTagsAndSettings(t *testing.T) {
	api, cluster := newCluster(t)
	ctx := moto.Context(t)
	vpc, err := api.CreateVpc(ctx, &awsec2.CreateVpcInput{CidrBlock: aws.String("10.7.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := api.CreateSubnet(ctx, &awsec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.7.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := api.CreateSecurityGroup(ctx, &awsec2.CreateSecurityGroupInput{
		GroupName: aws.String(cluster + "-workers"), Description: aws.String("imgrec workers"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateKeyPair(ctx, &awsec2.CreateKeyPairInput{KeyName: aws.String(cluster + "-key")}); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, api, ec2.Config{
		Cluster: cluster, ImageID: "ami-1234abcd", InstanceType: "c7i.large",
		SubnetID: aws.ToString(subnet.Subnet.SubnetId), SecurityGroupIDs: []string{aws.ToString(sg.GroupId)},
		KeyName: cluster + "-key",
	})
	launched, err := p.Launch(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(launched) != 3 {
		t.Fatalf("Launch(3) returned %+v", launched)
	}
	for id, in := range describe(t, api, conformance.IDs(launched)...) {
		tags := tagsOf(in)
		if tags[ec2.TagCluster] != cluster || tags[ec2.TagRole] != ec2.RoleWorker {
			t.Errorf("%s: tags %v, want %s=%s and %s=%s", id, tags, ec2.TagCluster, cluster, ec2.TagRole, ec2.RoleWorker)
		}
		if aws.ToString(in.ImageId) != "ami-1234abcd" || in.InstanceType != "c7i.large" ||
			aws.ToString(in.SubnetId) != aws.ToString(subnet.Subnet.SubnetId) || aws.ToString(in.KeyName) != cluster+"-key" {
			t.Errorf("%s: image %s type %s subnet %s key %s, not as configured", id,
				aws.ToString(in.ImageId), in.InstanceType, aws.ToString(in.SubnetId), aws.ToString(in.KeyName))
		}
		if len(in.SecurityGroups) != 1 || aws.ToString(in.SecurityGroups[0].GroupId) != aws.ToString(sg.GroupId) {
			t.Errorf("%s: security groups %+v, want only %s", id, in.SecurityGroups, aws.ToString(sg.GroupId))
		}
		if in.MetadataOptions == nil || in.MetadataOptions.HttpTokens != types.HttpTokensStateRequired {
			t.Errorf("%s: metadata options %+v, want IMDSv2 tokens required", id, in.MetadataOptions)
		}
	}
	if got := conformance.IDs(conformance.List(t, p)); !slices.Equal(got, conformance.IDs(launched)) {
		t.Errorf("List: %v, want the launched %v", got, conformance.IDs(launched))
	}
}

func TestUserDataStartsTheWorker(t *testing.T) {
	api, cluster := newCluster(t)
	p := newProvider(t, api, ec2.Config{Cluster: cluster, Worker: userdata.Worker{
		Args: []string{"--queue", "sqs://" + cluster + "-requests", "--blobs", "s3://" + cluster + "-images", "--model", userdata.Model,
			"--log-level", "info", "--id-note", `50% of "$HOME"`},
		Env:          []string{"AWS_REGION=eu-west-3", "NOTE=a b"},
		DrainTimeout: 2 * time.Minute,
	}})
	launched, err := p.Launch(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	attr, err := api.DescribeInstanceAttribute(t.Context(), &awsec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(launched[0].ID), Attribute: types.InstanceAttributeNameUserData})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(attr.UserData.Value))
	if err != nil {
		t.Fatalf("user data is not base64: %v", err)
	}
	conformance.WantUserData(t, string(raw),
		"#!/bin/sh\n",
		"ExecStart=/usr/local/bin/imgrec worker --queue sqs://"+cluster+"-requests --blobs s3://"+cluster+"-images"+
			" --model /var/lib/imgrec/resnet18-f37072fd.pth --log-level info --id-note \"50%% of \\\"$$HOME\\\"\"\n",
		"Environment=AWS_REGION=eu-west-3\n",
		"Environment=\"NOTE=a b\"\n",
		"Restart=on-failure\n",
		"KillSignal=SIGTERM\n",
		"TimeoutStopSec=120\n",
		"WantedBy=multi-user.target\n",
		"Environment=IMGREC_INSTANCE_ID=%s",
		"systemctl enable --now imgrec-worker.service\n",
	)
}

// TestUserDataLimit: EC2 takes 16 KiB of user data (the script's other
// refusals are package userdata's tests).
func TestUserDataLimit(t *testing.T) {
	if _, err := ec2.UserData("demo", testWorker()); err != nil {
		t.Fatal(err)
	}
	_, err := ec2.UserData("demo", userdata.Worker{Args: []string{strings.Repeat("x", 17<<10)}})
	if imgrec.ErrorCode(err) != imgrec.ETOOLARGE {
		t.Errorf("user data over 16 KiB: got %v, want %s", err, imgrec.ETOOLARGE)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	api, _ := newCluster(t)
	for name, cfg := range map[string]ec2.Config{
		"no cluster":      {ImageID: "ami-1", Worker: testWorker()},
		"uppercase":       {Cluster: "Demo", ImageID: "ami-1", Worker: testWorker()},
		"no image":        {Cluster: "demo", Worker: testWorker()},
		"no worker":       {Cluster: "demo", ImageID: "ami-1"},
		"space in name":   {Cluster: "de mo", ImageID: "ami-1", Worker: testWorker()},
		"too long a name": {Cluster: strings.Repeat("a", 41), ImageID: "ami-1", Worker: testWorker()},
	} {
		if _, err := ec2.New(api, cfg); imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("%s: got %v, want %s", name, err, imgrec.EINVALID)
		}
	}
}

func TestLaunchFailureSaysWhatFailed(t *testing.T) {
	api, cluster := newCluster(t)
	p := newProvider(t, api, ec2.Config{Cluster: cluster, SubnetID: "subnet-00000000000000000"})
	_, err := p.Launch(t.Context(), 1)
	if imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), "launch 1 instances in cluster "+cluster) ||
		!strings.Contains(err.Error(), "subnet-00000000000000000") {
		t.Errorf("launch into a missing subnet: %v, want %s naming the operation and the subnet", err, imgrec.EINVALID)
	}
	if n := len(conformance.List(t, p)); n != 0 {
		t.Errorf("%d instances after a failed launch", n)
	}
}

// TestOnlyItsOwnInstances creates an untagged instance and one of another
// cluster with the raw API: the provider must neither list nor touch them.
func TestOnlyItsOwnInstances(t *testing.T) {
	api, cluster := newCluster(t)
	ctx := moto.Context(t)
	run := func(tags ...types.Tag) string {
		in := &awsec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
		if len(tags) > 0 {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
		}
		out, err := api.RunInstances(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	untagged := run()
	other := run(types.Tag{Key: aws.String(ec2.TagCluster), Value: aws.String(cluster + "-other")},
		types.Tag{Key: aws.String(ec2.TagRole), Value: aws.String(ec2.RoleWorker)})
	notWorker := run(types.Tag{Key: aws.String(ec2.TagCluster), Value: aws.String(cluster)},
		types.Tag{Key: aws.String(ec2.TagRole), Value: aws.String("web")})
	if _, err := api.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{other}}); err != nil {
		t.Fatal(err)
	}

	p := newProvider(t, api, ec2.Config{Cluster: cluster})
	mine, err := p.Launch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := conformance.IDs(conformance.List(t, p)); !slices.Equal(got, []string{mine[0].ID}) {
		t.Errorf("List: %v, want only %s", got, mine[0].ID)
	}
	for _, id := range []string{untagged, other, notWorker} {
		conformance.LeavesAlone(t, ctx, p, mine[0].ID, id, id)
	}
	want := map[string]types.InstanceStateName{untagged: "running", other: "stopped", notWorker: "running", mine[0].ID: "running"}
	for id, in := range describe(t, api, untagged, other, notWorker, mine[0].ID) {
		if in.State.Name != want[id] {
			t.Errorf("%s is %s, want it left %s", id, in.State.Name, want[id])
		}
	}
	// infra's listing and clean-up are as careful.
	listed, err := ec2.ListCluster(ctx, api, cluster)
	if err != nil || !slices.Equal(conformance.IDs(listed), []string{mine[0].ID}) {
		t.Errorf("ListCluster: %+v, %v; want only %s", listed, err, mine[0].ID)
	}
	gone, err := ec2.TerminateCluster(ctx, api, cluster, nil)
	if err != nil || !slices.Equal(gone, []string{mine[0].ID}) {
		t.Errorf("TerminateCluster: %v, %v; want only %s", gone, err, mine[0].ID)
	}
	want[mine[0].ID] = "terminated"
	for id, in := range describe(t, api, untagged, other, notWorker, mine[0].ID) {
		if in.State.Name != want[id] {
			t.Errorf("after TerminateCluster %s is %s, want %s", id, in.State.Name, want[id])
		}
	}
	if gone, err := ec2.TerminateCluster(ctx, api, cluster, nil); err != nil || len(gone) != 0 {
		t.Errorf("TerminateCluster of an empty cluster: %v, %v; want nothing done", gone, err)
	}
}

// TestMaxIsRespected: moto changes states at once, so nothing settles.
func TestMaxIsRespected(t *testing.T) {
	api, cluster := newCluster(t)
	p := newProvider(t, api, ec2.Config{Cluster: cluster, Max: 3})
	conformance.Capacity(t, moto.Context(t), p, conformance.CapacityOptions{})
}

// TestLaunchedButNotYetDescribed covers EC2's eventual consistency: an
// instance RunInstances returned but DescribeInstances does not show yet
// still counts, so the controller does not launch it again. Moto has no
// delay; a reset of a server of the test's own makes it forget instead.
func TestLaunchedButNotYetDescribed(t *testing.T) {
	srv := moto.Start(t)
	api := awsec2.NewFromConfig(srv.Config())
	p := newProvider(t, api, ec2.Config{Cluster: "lagging", Max: 2})
	launched, err := p.Launch(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	srv.Reset(t)
	insts := conformance.List(t, p)
	if got := conformance.IDs(insts); !slices.Equal(got, conformance.IDs(launched)) || conformance.CountState(insts, imgrec.StatePending) != 2 {
		t.Fatalf("List after EC2 lost sight of the launch: %+v, want both launched instances pending", insts)
	}
	if _, err := p.Launch(t.Context(), 1); imgrec.ErrorCode(err) != imgrec.ECONFLICT {
		t.Errorf("Launch beyond max counting the undescribed: %v, want %s", err, imgrec.ECONFLICT)
	}
}

// TestWarmPoolThroughController drives the autoscale Controller step by step
// (in virtual time) with a real queue: a burst launches tagged instances, an
// idle queue stops them into the warm pool (trimmed to its size by
// terminating the oldest), and the next burst starts the stopped one before
// launching anything.
func TestWarmPoolThroughController(t *testing.T) {
	api, cluster := newCluster(t)
	q, err := natsq.Embedded(natsq.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	p := newProvider(t, api, ec2.Config{Cluster: cluster, Max: 3})
	ctl := &autoscale.Controller{
		Queue: q, Provider: p, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Policy: autoscale.NewBootAware(autoscale.Config{Max: 3, TargetPerInstance: 1, Window: time.Second, ScaleInAfter: time.Second, WarmPool: 1}),
	}
	ctx := moto.Context(t)
	now := time.Now()
	step := func(sec float64) []imgrec.Instance {
		ctl.Step(ctx, now.Add(time.Duration(sec*float64(time.Second))))
		return conformance.List(t, p)
	}
	sent, waiting := 0, 0
	send := func(n int) {
		for range n {
			sent++
			if err := q.Send(ctx, imgrec.Request{ID: fmt.Sprint(sent), Key: fmt.Sprintf("test_%d.JPEG", sent), Sent: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		// The queue's depth trails Send by a moment; the step must see it.
		waiting += n
		for deadline := time.Now().Add(conformance.Generous); ; time.Sleep(10 * time.Millisecond) {
			st, err := q.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Waiting >= waiting {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue shows %d waiting %v after %d were sent", st.Waiting, conformance.Generous, waiting)
			}
		}
	}

	send(2)
	insts := step(0)
	if conformance.CountState(insts, imgrec.StateRunning) != 2 {
		t.Fatalf("after a burst of 2: %+v, want 2 running", insts)
	}
	for id, in := range describe(t, api, conformance.IDs(insts)...) {
		if tagsOf(in)[ec2.TagCluster] != cluster {
			t.Errorf("%s launched by the controller lacks the cluster tag: %v", id, tagsOf(in))
		}
	}
	burst := conformance.IDs(insts)

	// Nobody works on moto's instances: purge the queue to make it idle.
	if err := q.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waiting = 0
	if insts = step(1); conformance.CountState(insts, imgrec.StateRunning) != 2 { // all done since now; the window remembers depth 2
		t.Fatalf("scaled in at once: %+v", insts)
	}
	insts = step(2.1) // all done for ScaleInAfter (no billed minimum here): both idle instances stop
	if conformance.CountState(insts, imgrec.StateStopped) != 2 {
		t.Fatalf("after the queue idled: %+v, want 2 stopped", insts)
	}
	insts = step(3.1) // warm pool of 1: the older stopped one goes
	if conformance.CountState(insts, imgrec.StateStopped) != 1 || len(insts) != 1 {
		t.Fatalf("after trimming the warm pool to 1: %+v, want 1 stopped", insts)
	}
	warm := insts[0].ID

	send(1)
	insts = step(6)
	if len(insts) != 1 || insts[0].ID != warm || insts[0].State != imgrec.StateRunning {
		t.Fatalf("burst of 1 with %s warm: %+v, want %s started and nothing launched", warm, insts, warm)
	}
	if !slices.Contains(burst, warm) {
		t.Errorf("the warm instance %s is not one of the first burst's %v", warm, burst)
	}
	// More work than the pool holds: the pool is empty, so it launches.
	send(3)
	if insts = step(7); conformance.CountState(insts, imgrec.StateRunning) != 3 {
		t.Fatalf("burst of 3 (max 3): %+v, want 3 running", insts)
	}
}
