package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/local"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/web"
	"github.com/imgrec/imgrec/worker"
)

func init() {
	register("serve", "run the whole system on this machine: web tier, queue, buckets, controller, workers", runServe)
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "serve [--addr HOST:PORT] [--data-dir DIR] [--model PATH] [--min-instances N] [--max-instances N] [--admin-token T] [--queue URL] [--blobs URL]")
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP listen address")
	dataDir := fs.String("data-dir", defaultDataDir(), "where the embedded queue, the file buckets and the packed weights are kept")
	modelFlag := fs.String("model", "", "ResNet-18 weights (.pth); default $IMGREC_MODEL, then the cache of 'imgrec model pull'")
	profile := fs.String("profile", "reference", "preprocessing profile for the workers: reference or imagenet")
	adminToken := fs.String("admin-token", "", "token that enables POST /v1/reset (Authorization: Bearer TOKEN)")
	fsync := fs.Bool("fsync", true, "fsync every stored image and result; false roughly doubles throughput but a power loss may forget recent objects")
	queueURL := fs.String("queue", "embedded", "request queue: embedded (a NATS JetStream server in this process, kept under --data-dir), "+queueForms)
	blobs := fs.String("blobs", "", blobsUsage+" (default: file buckets under --data-dir)")
	workerThreads := fs.Int("worker-threads", 1, "inference threads of each local worker: on one machine, more workers of one thread beat fewer of many")
	maxAttempts := fs.Int("max-attempts", worker.DefaultMaxAttempts, "deliveries of one request before it is dead-lettered")
	wf := webFlags(fs)
	pf := policyFlags(fs)
	qf := queueFlags(fs)
	af := awsFlags(fs)
	newLogger := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger()
	if _, err := vision.ParseProfile(*profile); err != nil {
		return err
	}
	modelPath, err := packedModel(*modelFlag, filepath.Join(*dataDir, "models"))
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}

	// The workers get the queue's URL: the embedded server's is known once it runs.
	workerQueue := *queueURL
	var q imgrec.Queue
	if *queueURL == "embedded" {
		nq, err := qf.embedded(filepath.Join(*dataDir, "nats"), log)
		if err != nil {
			return err
		}
		q, workerQueue = nq, nq.URL()
	} else if q, err = qf.open(ctx, *queueURL, af, log); err != nil {
		return err
	}
	defer q.Close()
	blobsURL := *blobs
	if blobsURL == "" {
		blobsURL = fileURL(*dataDir)
		if !*fsync {
			blobsURL += "?sync=0"
		}
	}
	b, err := openBuckets(ctx, blobsURL, af)
	if err != nil {
		return err
	}

	provider := local.New(local.Config{
		Command: workerArgv(exe, workerQueue, blobsURL, modelPath, qf, append(af.args(),
			"--profile", *profile, "--max-attempts", fmt.Sprint(*maxAttempts), "--max-pixels", fmt.Sprint(*wf.maxPixels),
			"--threads", fmt.Sprint(*workerThreads))...),
		Logger: log,
	})
	defer func() {
		log.Info("stopping workers")
		cctx, cancel := context.WithTimeout(context.Background(), local.DefaultDrainTimeout)
		defer cancel()
		if err := provider.Close(cctx); err != nil {
			log.Warn("closing workers", "err", err)
		}
	}()

	reg := newRegistry()
	metrics := autoscale.NewMetrics(reg)
	ctl := &autoscale.Controller{
		Queue: q, Provider: provider, Scaler: autoscale.NewScaler(pf.policy()),
		Logger: log.With("component", "controller"), Observed: metrics.Observe,
	}

	srv, err := web.New(ctx, web.Config{
		Queue: q, Input: b.input, Output: b.output, Check: wf.check(),
		MaxUploadBytes: *wf.maxUpload, MaxPixels: *wf.maxPixels, Timeout: *wf.timeout, InlineMaxBytes: *wf.inlineMax, AdminToken: *adminToken,
		Submitted: ctl.Nudge, Instances: provider.List, Registry: reg, Gatherer: reg, Logger: log.With("component", "web"),
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ctlDone := make(chan struct{})
	ctlCtx, stopCtl := context.WithCancel(ctx)
	go func() { defer close(ctlDone); ctl.Run(ctlCtx) }()
	defer func() { stopCtl(); <-ctlDone }()

	log.Info("serving", "data_dir", *dataDir, "model", modelPath, "queue", workerQueue,
		"min_instances", pf.p.Min, "max_instances", pf.p.Max)
	return serveHTTP(ctx, log, *addr, srv, 5*time.Second, func(a net.Addr) {
		fmt.Fprintf(e.stderr, "imgrec serving on http://%s/ (Ctrl-C to stop)\n", a)
	})
}

// webFlagSet holds the web tier's limits, shared by serve and web.
type webFlagSet struct {
	maxUpload *int64
	maxPixels *int64
	timeout   *time.Duration
	inlineMax *int
}

func webFlags(fs *flag.FlagSet) *webFlagSet {
	return &webFlagSet{
		maxUpload: fs.Int64("max-upload-bytes", web.DefaultMaxUploadBytes, "largest accepted upload, in bytes"),
		maxPixels: fs.Int64("max-pixels", vision.DefaultMaxPixels, "largest accepted image, in pixels (width × height)"),
		timeout:   fs.Duration("timeout", web.DefaultTimeout, "how long a request waits for its answer"),
		inlineMax: fs.Int("inline-max-bytes", 0, "send images up to this size inside the request message too, saving workers a bucket read (0: never; a message the queue refuses is sent with the key alone; SQS takes 256 KiB, base64 adds a third)"),
	}
}

func (w *webFlagSet) check() func([]byte) error {
	lim := vision.Limits{MaxPixels: *w.maxPixels}
	return func(b []byte) error { return vision.Check(b, lim) }
}

// policyFlagSet holds the controller's tunables, shared by serve and controller.
type policyFlagSet struct{ p autoscale.Policy }

func policyFlags(fs *flag.FlagSet) *policyFlagSet {
	pf := &policyFlagSet{}
	fs.IntVar(&pf.p.Min, "min-instances", 0, "instances kept running even when idle")
	fs.IntVar(&pf.p.Max, "max-instances", autoscale.DefaultMax, "most instances ever running")
	fs.IntVar(&pf.p.TargetPerInstance, "target-per-instance", autoscale.DefaultTargetPerInstance, "queue depth one instance absorbs: desired = ceil(depth / this), never fewer than are busy, nothing that would boot after the backlog is gone")
	fs.DurationVar(&pf.p.Window, "scale-window", autoscale.DefaultWindow, "depth readings this recent are considered together (the largest counts)")
	fs.DurationVar(&pf.p.ScaleInAfter, "scale-in-after", autoscale.DefaultScaleInAfter, "how long fewer instances must suffice before idle ones are stopped")
	fs.IntVar(&pf.p.WarmPool, "warm-pool", 0, "stopped instances kept for a fast restart (0: as many as --max-instances; -1: none, idle instances are terminated)")
	return pf
}

func (pf *policyFlagSet) policy() autoscale.Policy { return pf.p }
