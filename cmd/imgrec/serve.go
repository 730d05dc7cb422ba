package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/local"
	"github.com/imgrec/imgrec/resnet"
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
	dataDir := fs.String("data-dir", defaultDataDir(), "where the embedded queue and job store, the file buckets and the packed weights are kept")
	modelFlag := fs.String("model", "", modelUsage)
	profile := fs.String("profile", "reference", "preprocessing profile for the workers: reference or imagenet")
	adminToken := fs.String("admin-token", "", "token that enables POST /v1/reset (Authorization: Bearer TOKEN)")
	fsync := fs.Bool("fsync", true, "fsync every stored image and result; false roughly doubles throughput but a power loss may forget recent objects")
	bf := backendFlags(fs, "embedded", "request queue: embedded (a NATS JetStream server in this process, kept under --data-dir), "+queueForms,
		blobsUsage+" (default: file buckets under --data-dir)")
	workerThreads := fs.Int("worker-threads", 1, "inference threads of each local worker: on one machine, more workers of one thread beat fewer of many")
	workerBatch := fs.Int("worker-batch", worker.DefaultMaxBatch, "most images a local worker classifies in one pass (worker --batch)")
	workerConcurrency := fs.Int("worker-concurrency", worker.DefaultConcurrency, "most requests a local worker holds at once (worker --concurrency)")
	maxAttempts := fs.Int("max-attempts", worker.DefaultMaxAttempts, "deliveries of one request before it is dead-lettered")
	wf := webFlags(fs)
	sf := scalingFlags(fs, serveScaleInterval)
	lf := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	if _, err := vision.ParseProfile(*profile); err != nil {
		return err
	}
	if len(sf.caps.per.names) > 0 {
		return usagef("--max-instances %s: serve runs local workers only; give a number", sf.caps.String())
	}
	if *workerBatch < 1 || *workerConcurrency < *workerBatch {
		return usagef("--worker-batch %d, --worker-concurrency %d: want 1 ≤ batch ≤ concurrency", *workerBatch, *workerConcurrency)
	}
	modelPath, err := packedModel(*modelFlag, filepath.Join(*dataDir, "models"))
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}

	if bf.blobsURL == "" {
		bf.blobsURL = fileURL(*dataDir)
		if !*fsync {
			bf.blobsURL += "?sync=0"
		}
	}
	bk, err := bf.open(ctx, log, filepath.Join(*dataDir, "nats"))
	if err != nil {
		return err
	}
	defer bk.Close()

	provider := local.New(local.Config{
		Command: bf.workerArgv(exe, bk.queueURL, modelPath, append(lf.workerArgs(),
			"--profile", *profile, "--max-attempts", fmt.Sprint(*maxAttempts), "--max-pixels", fmt.Sprint(*wf.maxPixels),
			"--threads", fmt.Sprint(*workerThreads), "--batch", fmt.Sprint(*workerBatch), "--concurrency", fmt.Sprint(*workerConcurrency))...),
		Env:    localWorkerEnv,
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
	metrics := autoscale.NewMetrics(reg, local.Name)
	ctl := &autoscale.Controller{
		Queue: bk.queue, Provider: provider, Policy: autoscale.NewBootAware(sf.cfg), Interval: sf.interval,
		Logger: log.With("component", "controller"), Observed: metrics.Observe,
	}

	// serve packed the weights itself, so its web tier knows the model its
	// workers run and never looks a result up under another.
	digest, err := resnet.Digest(modelPath)
	if err != nil {
		return err
	}
	srv, err := web.New(ctx, wf.config(web.Config{
		Queue: bk.queue, Input: bk.input, Output: bk.output, AdminToken: *adminToken,
		Jobs: bk.jobs, Cache: bf.jobs.cache, Model: imgrec.Model{Digest: digest, Profile: *profile},
		Submitted: ctl.Nudge, Instances: provider.List, Registry: reg, Gatherer: reg, Logger: log.With("component", "web"),
	}))
	if err != nil {
		return err
	}
	defer srv.Close()

	ctlDone := make(chan struct{})
	ctlCtx, stopCtl := context.WithCancel(ctx)
	go func() { defer close(ctlDone); ctl.Run(ctlCtx) }()
	defer func() { stopCtl(); <-ctlDone }()

	log.Info("serving", "data_dir", *dataDir, "model", modelPath, "queue", bk.queueURL,
		"min_instances", sf.cfg.Min, "max_instances", sf.cfg.Max)
	return wf.httpTimeouts().serve(ctx, log, *addr, srv, 5*time.Second, func(a net.Addr) {
		fmt.Fprintf(e.stderr, "imgrec serving on http://%s/ (Ctrl-C to stop)\n", a)
	})
}

// serveScaleInterval: serve reads its embedded queue four times a second, so
// its workers are back to zero within 2 s of the last answer (scale-in-after
// 1 s, plus up to one interval to see the work done and one to act).
const serveScaleInterval = 250 * time.Millisecond
