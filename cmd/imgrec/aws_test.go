package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/dynamojobs"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
)

// awsTiers are the queues, buckets and job table of tiers on the shared
// moto server, and the clients that reach them.
type awsTiers struct {
	name          string // the request queue's; the others' names derive from it
	input, output string // the buckets
	queue, blobs  string // --queue and --blobs
	sqs           *sqs.Client
	s3            *s3.Client
}

// useAWSTiers points this process and its children at the shared moto
// server (through the standard AWS chain) and makes the tiers' queues,
// buckets and job table for name, deleted when the test ends.
func useAWSTiers(t *testing.T, ctx context.Context, name string) awsTiers {
	t.Helper()
	srv := moto.Shared(t)
	srv.Setenv(t)
	cfg := srv.Config()
	a := awsTiers{
		name: name, input: name + "-input", output: name + "-output", queue: "sqs://" + name, blobs: "s3://" + name,
		sqs: sqs.NewFromConfig(cfg),
		s3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
	}
	if err := sqsq.CreateQueues(ctx, a.sqs, name, sqsq.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s3blob.CreateBuckets(ctx, a.s3, a.input, a.output); err != nil {
		t.Fatal(err)
	}
	dynamoClient := dynamodb.NewFromConfig(cfg)
	if _, err := dynamojobs.CreateTable(ctx, dynamoClient, jobsTable(name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sqsq.DeleteQueues(context.Background(), a.sqs, name)
		s3blob.DeleteBuckets(context.Background(), a.s3, a.input, a.output)
		dynamojobs.DeleteTable(context.Background(), dynamoClient, jobsTable(name))
	})
	return a
}

// TestTiersOnAWS runs the web tier and the controller, with its local
// worker processes, as separate processes on moto's SQS and S3, found
// through the standard AWS chain (AWS_ENDPOINT_URL, AWS_REGION, static
// keys). The course burst of 100 images, while a worker is SIGKILLed every
// 2 s (five times: on moto a request takes seconds, so killing to the end
// would catch the last few requests in every worker), is answered right
// with no dead letter, the output bucket holds the course's values, and the
// instances go back to 0.
func TestTiersOnAWS(t *testing.T) {
	ctx := moto.Context(t)
	tiers := useAWSTiers(t, ctx, fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1e9))
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // where the controller packs the model
	name, queue, blobs := tiers.name, tiers.queue, tiers.blobs
	// The workers must do every request: the result cache is off.
	web := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0", "--queue", queue, "--blobs", blobs, "--cache=false")
	ctl := startProcess(t, regexp.MustCompile(`controller started`), "controller", "--queue", queue, "--blobs", blobs, "--cache=false",
		"--model", standinModel, "--metrics-addr", "127.0.0.1:0", "--log-level", "info", "--max-instances", "5")
	k := startKiller(2*time.Second, 5, ctl.localWorkers)
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: web.url, Images: loadCourseImages(t), Requests: 100, Concurrency: 100,
		Expected: standinExpected(t), Timeout: 2 * time.Minute,
	})
	kills := k.Stop()
	if err != nil || sum.OK != 100 {
		t.Fatalf("%v (%d workers killed): ok %d, wrong %d, failed %d: %+v %+v\ncontroller log:\n%s", err, kills, sum.OK, sum.Wrong, sum.Failed,
			sum.WrongExamples, sum.Failures, ctl.logText())
	}
	if kills == 0 {
		t.Fatal("no worker was killed: the test proved nothing")
	}
	t.Logf("%d workers killed; latency p50 %v, p99 %v, max %v", kills, sum.Latency.P50, sum.Latency.P99, sum.Latency.Max)
	if dlq, err := sqsq.Describe(ctx, tiers.sqs, name); err != nil || len(dlq) < 2 || dlq[1].Visible+dlq[1].InFlight != 0 {
		t.Errorf("dead-letter queue after %d kills: %+v, %v; want it empty", kills, dlq, err)
	}

	// The output bucket holds the course's values, read through the S3 API.
	out, err := s3blob.Open(ctx, tiers.s3, tiers.output)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := out.List(ctx, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != 100 {
		t.Errorf("output bucket holds %d objects, want 100", len(objects))
	}
	expected := standinExpected(t)
	for _, o := range objects {
		b, err := out.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if want := (imgrec.OutputRecord{Name: o.Key, Label: expected[o.Key+".JPEG"]}).String(); string(b) != want {
			t.Errorf("output %s = %q, want %q", o.Key, b, want)
		}
	}

	// Back to 0 instances, as the controller's gauges say once it has
	// stopped the workers and they have exited.
	var metricsURL string
	waitFor(t, "the controller's metrics address", func() bool {
		m := regexp.MustCompile(`msg=listening addr=(http://\S+/)`).FindStringSubmatch(ctl.logText())
		if m != nil {
			metricsURL = m[1] + "metrics"
		}
		return m != nil
	})
	var metrics string
	waitFor(t, "0 instances", func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		return strings.Contains(metrics, `imgrec_instances{provider="local",state="running"} 0`) &&
			strings.Contains(metrics, `imgrec_instances{provider="local",state="pending"} 0`) &&
			strings.Contains(metrics, `imgrec_instances{provider="local",state="stopping"} 0`)
	})
	if !strings.Contains(metrics, `imgrec_scaling_actions_total{action="launch"}`) {
		t.Errorf("the controller launched no workers:\n%s", metrics)
	}

	// A web tier that stops deletes its response queue.
	web.stop(t)
	infos, err := sqsq.Describe(ctx, tiers.sqs, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Visible+infos[0].InFlight+infos[1].Visible != 0 {
		t.Errorf("queues after the burst and the web tier's exit: %+v; want the request queue and its DLQ, empty", infos)
	}
}
