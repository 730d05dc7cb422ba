package main

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/local"
	"github.com/imgrec/imgrec/resnet"
)

func init() {
	register("controller", "run the autoscaling controller alone: scale workers on queue depth", runController)
}

func runController(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "controller", "controller --queue nats://HOST:PORT --blobs file:///DIR [--provider local] [flags]")
	queueURL := fs.String("queue", "", "request queue: nats://HOST:PORT (required)")
	blobs := fs.String("blobs", "", "buckets the workers use: file:///DIR (required for the local provider)")
	providerName := fs.String("provider", "local", "where workers run: local (child processes of this controller)")
	modelFlag := fs.String("model", "", "weights the workers load; default $IMGREC_MODEL, then the cache of 'imgrec model pull'")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9090", "where /metrics is served (empty: nowhere)")
	pf := policyFlags(fs)
	qf := queueFlags(fs)
	newLogger := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *queueURL == "" {
		return usagef("--queue is required")
	}
	if *providerName != "local" {
		return usagef("--provider %q: only local is available", *providerName)
	}
	if *blobs == "" {
		return usagef("--blobs is required: the local provider's workers need it")
	}
	log := newLogger()
	q, err := qf.dial(*queueURL, log)
	if err != nil {
		return err
	}
	defer q.Close()
	cache, err := resnet.CacheDir()
	if err != nil {
		return err
	}
	modelPath, err := packedModel(*modelFlag, cache)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	provider := local.New(local.Config{
		Command: workerArgv(exe, *queueURL, *blobs, modelPath, qf),
		Logger:  log,
	})
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), local.DefaultDrainTimeout)
		defer cancel()
		provider.Close(cctx)
	}()

	reg := prometheus.NewRegistry()
	metrics := autoscale.NewMetrics(reg)
	if *metricsAddr != "" {
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go serveHTTP(mctx, log, *metricsAddr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), time.Second, func(a net.Addr) {})
	}
	ctl := &autoscale.Controller{Queue: q, Provider: provider, Scaler: autoscale.NewScaler(pf.policy()), Logger: log, Observed: metrics.Observe}
	log.Info("controller started", "queue", *queueURL, "provider", *providerName, "max_instances", pf.p.Max)
	return ctl.Run(ctx)
}
