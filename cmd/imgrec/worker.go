package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/nn"
	"github.com/imgrec/imgrec/probe"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/worker"
)

func init() {
	register("worker", "run one app-tier worker: pull, classify, store, reply, ack", runWorker)
}

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker", "worker --queue nats://HOST:PORT|sqs://NAME --blobs file:///DIR|s3://PREFIX [--jobs nats://HOST:PORT|dynamodb://TABLE] [--model PATH] [flags]")
	bf := backendFlags(fs, "", queueUsage+" (required)", blobsUsage+" (required)")
	modelFlag := fs.String("model", "", modelUsage)
	profileFlag := fs.String("profile", "reference", "preprocessing profile: reference or imagenet")
	id := fs.String("id", "", "instance id reported in answers and logs (default $IMGREC_INSTANCE_ID, else the host name)")
	maxAttempts := fs.Int("max-attempts", worker.DefaultMaxAttempts, "deliveries of one request before it is dead-lettered")
	maxPixels := fs.Int64("max-pixels", vision.DefaultMaxPixels, "refuse images with more pixels than this")
	threads := fs.Int("threads", 0, "inference threads (default: one per core); see GOMAXPROCS for the whole process")
	batch := fs.Int("batch", worker.DefaultMaxBatch, "most images classified in one pass; a batch is whatever is in hand when the classifier is free")
	concurrency := fs.Int("concurrency", worker.DefaultConcurrency, "most requests in hand at once (received, not yet acknowledged)")
	metricsAddr := fs.String("metrics-addr", "", metricsAddrUsage)
	lf := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := bf.check(); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	if *id == "" {
		if *id = os.Getenv(imgrec.InstanceIDEnv); *id == "" {
			*id, _ = os.Hostname()
		}
	}
	if *threads < 0 {
		return usagef("--threads %d: want 0 (one per core) or more", *threads)
	}
	ops, err := listenOps(*metricsAddr)
	if err != nil {
		return err
	}
	defer ops.Close()
	nn.SetThreads(*threads)
	classifier, modelPath, err := loadClassifier(*modelFlag, *profileFlag)
	if err != nil {
		return err
	}
	if *batch < 1 || *concurrency < *batch {
		return usagef("--batch %d, --concurrency %d: want 1 ≤ batch ≤ concurrency", *batch, *concurrency)
	}
	classifier.MaxBatch = *batch
	var model imgrec.Model
	if bf.jobs.cache {
		digest, err := resnet.Digest(modelPath)
		if err != nil {
			return err
		}
		model = imgrec.Model{Digest: digest, Profile: *profileFlag}
	}
	bk, err := bf.open(ctx, log, "")
	if err != nil {
		return err
	}
	defer bk.Close()
	status, err := statusWriter()
	if err != nil {
		return err
	}
	if status != nil { // started by a local provider: it closes our stdin to ask for a drain
		var stop context.CancelFunc
		ctx, stop = imgrec.DrainOnEOF(ctx, os.Stdin)
		defer stop()
	}
	reg := newRegistry()
	w, err := worker.New(worker.Config{
		Queue: bk.queue, Input: bk.input, Output: bk.output,
		Jobs: bk.jobs, Cache: bf.jobs.cache, Model: model, ModelEvery: modelEvery(bf.jobs.ttl),
		Classifier: classifier,
		Decode: func(data []byte) (*imgrec.Image, error) {
			return vision.Decode(data, vision.Limits{MaxPixels: *maxPixels})
		},
		Size: func(data []byte) (int, int, error) {
			_, w, h, err := vision.Config(data)
			return w, h, err
		},
		ID:          *id,
		MaxAttempts: *maxAttempts,
		MaxBatch:    *batch,
		Concurrency: *concurrency,
		ExtendEvery: bf.queue.extendEvery,
		Status:      status,
		Registry:    reg,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	// Served until the drain is over, so the last requests are counted.
	defer ops.serve(log, reg, &probe.Readiness{Checks: []probe.Check{
		probe.Queue(bk.queue), probe.Blobs("input bucket", bk.input), probe.Blobs("output bucket", bk.output), probe.Jobs(bk.jobs),
	}}, nil)()
	log.Info("worker started", "instance", *id, "model", modelPath, "digest", model.Digest, "queue", bf.queueURL)
	return w.Run(ctx)
}

// localWorkerEnv is added to the environment of the workers that serve and
// a local controller start: many workers on one machine cannot share a
// metrics port, so they serve none, whatever IMGREC_METRICS_ADDR their
// parent was given. serve's /metrics has the web tier's and the
// controller's; run workers yourself (imgrec worker --metrics-addr) to
// scrape each.
var localWorkerEnv = []string{"IMGREC_METRICS_ADDR="}

// statusWriter opens the status pipe a local provider passes (imgrec.StatusFDEnv).
func statusWriter() (io.Writer, error) {
	v := os.Getenv(imgrec.StatusFDEnv)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: want a file descriptor number ≥ 3", imgrec.StatusFDEnv, v)
	}
	return os.NewFile(uintptr(fd), "status"), nil
}

// modelEvery is how often a worker records its model again: hourly, or
// twice within a shorter --job-ttl, so the record never expires under
// the web tiers.
func modelEvery(ttl time.Duration) time.Duration {
	return min(worker.DefaultModelEvery, ttl/2)
}
