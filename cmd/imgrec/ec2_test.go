package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
	"github.com/imgrec/imgrec/userdata"
)

// TestControllerOnEC2 runs `imgrec controller --provider ec2` as its own
// process with every backend on moto — EC2 instances, the SQS queue, the S3
// buckets — found through the standard AWS chain (AWS_ENDPOINT_URL,
// AWS_REGION, static keys): requests make tagged instances appear, an idle
// queue stops them into the warm pool, and the next requests start the same
// instances again. Moto's instances run no code, so no worker ever takes a
// request: the test purges the queue to make it idle.
func TestControllerOnEC2(t *testing.T) {
	srv := moto.Shared(t)
	srv.Setenv(t)
	ctx := moto.Context(t)
	cfg := srv.Config()
	api := awsec2.NewFromConfig(cfg)
	cluster := fmt.Sprintf("ctl-%d", time.Now().UnixNano()%1e9)
	sqsClient := sqs.NewFromConfig(cfg)
	s3Client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if err := sqsq.CreateQueues(ctx, sqsClient, cluster, sqsq.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s3blob.CreateBuckets(ctx, s3Client, cluster+"-input", cluster+"-output"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sqsq.DeleteQueues(context.Background(), sqsClient, cluster)
		s3blob.DeleteBuckets(context.Background(), s3Client, cluster+"-input", cluster+"-output")
	})
	q, err := sqsq.Open(ctx, sqsClient, cluster, sqsq.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	queue, blobs := "sqs://"+cluster, "s3://"+cluster
	ctl := startProcess(t, regexp.MustCompile(`controller started`), "controller", "--provider", "ec2",
		"--cluster", cluster, "--ec2-image-id", "ami-12c6146b", "--max-instances", "3",
		"--scale-window", "500ms", "--scale-in-after", "500ms",
		"--min-billed", "0", // not EC2's minute: the test would wait it out
		"--queue", queue, "--blobs", blobs, "--metrics-addr", "", "--log-level", "info")

	// instances lists the cluster's instances through the EC2 API, by state.
	instances := func() map[types.InstanceStateName][]string {
		out, err := api.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("tag:" + ec2.TagCluster), Values: []string{cluster}},
			{Name: aws.String("tag:" + ec2.TagRole), Values: []string{ec2.RoleWorker}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[types.InstanceStateName][]string{}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				m[in.State.Name] = append(m[in.State.Name], aws.ToString(in.InstanceId))
			}
		}
		for _, ids := range m {
			slices.Sort(ids)
		}
		return m
	}
	send := func(n int) {
		for i := range n {
			id := fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
			if err := q.Send(ctx, imgrec.Request{ID: id, Key: "test_" + id + ".JPEG", Sent: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	describe := func(m map[types.InstanceStateName][]string) string {
		return fmt.Sprintf("%v\ncontroller log:\n%s", m, ctl.logText())
	}

	send(7) // 5 per instance: 2 wanted
	var m map[types.InstanceStateName][]string
	waitFor(t, "2 running instances", func() bool { m = instances(); return len(m["running"]) == 2 })
	launched := m["running"]
	attr, err := api.DescribeInstanceAttribute(ctx, &awsec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(launched[0]), Attribute: types.InstanceAttributeNameUserData})
	if err != nil {
		t.Fatal(err)
	}
	script, _ := base64.StdEncoding.DecodeString(aws.ToString(attr.UserData.Value))
	for _, want := range []string{"--queue " + queue, "--blobs " + blobs, "--model " + userdata.Model, "--log-level info",
		"Environment=AWS_REGION=" + moto.Region, "Environment=AWS_ENDPOINT_URL=" + srv.Endpoint} {
		if !strings.Contains(string(script), want) {
			t.Errorf("user data of %s lacks %q:\n%s", launched[0], want, script)
		}
	}
	if strings.Contains(string(script), "--log-level warn") {
		t.Errorf("user data of %s keeps the local workers' --log-level warn:\n%s", launched[0], script)
	}

	if err := q.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both instances stopped into the warm pool", func() bool {
		m = instances()
		return slices.Equal(m["stopped"], launched) && len(m) == 1
	})

	send(3)
	waitFor(t, "the warm instance started again", func() bool { m = instances(); return len(m["running"]) == 1 })
	if !slices.Contains(launched, m["running"][0]) || len(m["stopped"]) != 1 || len(m) != 2 {
		t.Errorf("after a burst of 3 with 2 warm: %s\nwant one of %v started and nothing launched", describe(m), launched)
	}
	if err := q.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the instance stopped again", func() bool { return len(instances()["running"]) == 0 })
	for _, want := range []string{"msg=scale", "instances launched", "instances stopped", "instances started"} {
		if !strings.Contains(ctl.logText(), want) {
			t.Errorf("controller log lacks %q:\n%s", want, ctl.logText())
		}
	}
}

func TestControllerProviderUsage(t *testing.T) {
	base := []string{"controller", "--queue", "nats://127.0.0.1:1", "--blobs", "file:///nowhere"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--provider", "gce"}, `--provider "gce": want local, ec2, nova or several of them`},
		{[]string{"--provider", "nova", "--nova-image", "img", "--nova-flavor", "m1.small"}, "--provider nova needs --cluster, --nova-image and --nova-flavor"},
		{[]string{"--provider", "nova", "--cluster", "demo", "--nova-flavor", "m1.small"}, "--provider nova needs --cluster, --nova-image and --nova-flavor"},
		{[]string{"--provider", "nova", "--cluster", "demo", "--nova-image", "img"}, "--provider nova needs --cluster, --nova-image and --nova-flavor"},
		{[]string{"--provider", "nova", "--cluster", "Demo", "--nova-image", "img", "--nova-flavor", "1"}, `cluster name "Demo"`},
		{[]string{"--provider", "nova", "--cluster", "demo", "--nova-image", "img", "--nova-flavor", "1", "--nova-network", "private"}, `--nova-network: network "private": want a network id`},
		{[]string{"--provider", "ec2", "--ec2-image-id", "ami-1"}, "--provider ec2 needs --cluster and --ec2-image-id"},
		{[]string{"--provider", "ec2", "--cluster", "demo"}, "--provider ec2 needs --cluster and --ec2-image-id"},
		{[]string{"--provider", "ec2", "--cluster", "Demo", "--ec2-image-id", "ami-1"}, `cluster name "Demo"`},
		{[]string{"--provider", "local,local"}, `--provider "local,local": local given twice`},
		{[]string{"--provider", "local,gce"}, `--provider "local,gce": want local, ec2, nova or several of them`},
		{[]string{"--provider", "local,ec2", "--cluster", "demo", "--ec2-image-id", "ami-1"}, "give each provider its cap, e.g. --max-instances local=4,ec2=8"},
		{[]string{"--provider", "local,ec2", "--cluster", "demo", "--ec2-image-id", "ami-1", "--max-instances", "local=2,nova=3"}, "--max-instances names nova, which --provider local,ec2 does not"},
		{[]string{"--provider", "local", "--price", "ec2=1"}, "--price names ec2, which --provider local does not"},
		{[]string{"--provider", "local,ec2", "--price", "ec2=cheap"}, `price "cheap": want a number >= 0`},
		{[]string{"--max-instances", "nova=0"}, `"0": want a whole number >= 1`},
		{[]string{"--min-billed", "ec2=-1s"}, `"-1s": want a duration >= 0`},
	} {
		code, _, stderr := runImgrec(t, append(base, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
