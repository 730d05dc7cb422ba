package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/nn"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/worker"
)

func init() {
	register("worker", "run one app-tier worker: pull, classify, store, reply, ack", runWorker)
}

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker", "worker --queue nats://HOST:PORT|sqs://NAME --blobs file:///DIR|s3://PREFIX [--model PATH] [flags]")
	queueURL := fs.String("queue", "", queueUsage+" (required)")
	blobs := fs.String("blobs", "", blobsUsage+" (required)")
	modelFlag := fs.String("model", "", "ResNet-18 weights (.pth); default $IMGREC_MODEL, then the cache of 'imgrec model pull'")
	profileFlag := fs.String("profile", "reference", "preprocessing profile: reference or imagenet")
	id := fs.String("id", "", "instance id reported in answers and logs (default $IMGREC_INSTANCE_ID, else the host name)")
	maxAttempts := fs.Int("max-attempts", worker.DefaultMaxAttempts, "deliveries of one request before it is dead-lettered")
	maxPixels := fs.Int64("max-pixels", vision.DefaultMaxPixels, "refuse images with more pixels than this")
	threads := fs.Int("threads", 0, "inference threads (default: one per core); see GOMAXPROCS for the whole process")
	batch := fs.Int("batch", worker.DefaultMaxBatch, "most images classified in one pass; a batch is whatever is in hand when the classifier is free")
	concurrency := fs.Int("concurrency", worker.DefaultConcurrency, "most requests in hand at once (received, not yet acknowledged)")
	qf := queueFlags(fs)
	af := awsFlags(fs)
	newLogger := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *queueURL == "" || *blobs == "" {
		return usagef("--queue and --blobs are required")
	}
	log := newLogger()
	if *id == "" {
		if *id = os.Getenv(imgrec.InstanceIDEnv); *id == "" {
			*id, _ = os.Hostname()
		}
	}
	if *threads < 0 {
		return usagef("--threads %d: want 0 (one per core) or more", *threads)
	}
	nn.SetThreads(*threads)
	classifier, modelPath, err := loadClassifier(*modelFlag, *profileFlag)
	if err != nil {
		return err
	}
	if *batch < 1 || *concurrency < *batch {
		return usagef("--batch %d, --concurrency %d: want 1 ≤ batch ≤ concurrency", *batch, *concurrency)
	}
	classifier.MaxBatch = *batch
	b, err := openBuckets(ctx, *blobs, af)
	if err != nil {
		return err
	}
	q, err := qf.open(ctx, *queueURL, af, log)
	if err != nil {
		return err
	}
	defer q.Close()
	status, err := statusWriter()
	if err != nil {
		return err
	}
	if status != nil { // started by a local provider: it closes our stdin to ask for a drain
		var stop context.CancelFunc
		ctx, stop = imgrec.DrainOnEOF(ctx, os.Stdin)
		defer stop()
	}
	w, err := worker.New(worker.Config{
		Queue: q, Input: b.input, Output: b.output,
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
		ExtendEvery: qf.visibility / 3,
		Status:      status,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	log.Info("worker started", "instance", *id, "model", modelPath, "queue", *queueURL)
	return w.Run(ctx)
}

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

// workerArgv is the command line a provider runs for one worker.
func workerArgv(exe, queueURL, blobs, modelPath string, qf *queueFlagSet, extra ...string) []string {
	argv := []string{exe, "worker", "--queue", queueURL, "--blobs", blobs, "--model", modelPath,
		"--queue-prefix", qf.prefix, "--visibility", qf.visibility.String(), "--max-deliver", fmt.Sprint(qf.maxDeliver),
		"--log-level", "warn"}
	return append(argv, extra...)
}

// packedModel locates the weights and returns the absolute path of their
// packed copy in dir, made once: a wrong file fails here, with its reason, and
// every worker maps the packed weights instead of parsing the .pth again.
func packedModel(modelFlag, dir string) (string, error) {
	path, err := resnet.Locate(modelFlag)
	if err != nil {
		return "", err
	}
	if path, err = resnet.Prepare(path, dir); err != nil {
		return "", err
	}
	return filepath.Abs(path)
}
