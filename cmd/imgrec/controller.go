package main

import (
	"context"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imgrec/imgrec/autoscale"
)

func init() {
	register("controller", "run the autoscaling controller alone: scale workers on queue depth", runController)
}

func runController(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "controller", "controller --queue nats://HOST:PORT|sqs://NAME --blobs file:///DIR|s3://PREFIX [--provider local|ec2] [flags]")
	queueURL := fs.String("queue", "", queueUsage+" (required)")
	blobs := fs.String("blobs", "", "the workers' "+blobsUsage+" (required)")
	prov := providerFlags(fs)
	af := awsFlags(fs)
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9090", "where /metrics is served (empty: nowhere)")
	pf := policyFlags(fs)
	minBilled := fs.Duration("min-billed", -1, "keep an idle instance until it has run this long, since stopping it sooner saves nothing (default: 1m with --provider ec2, EC2's least charge per start; else 0)")
	qf := queueFlags(fs)
	newLogger := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *queueURL == "" {
		return usagef("--queue is required")
	}
	if err := prov.check(); err != nil {
		return err
	}
	if *blobs == "" {
		return usagef("--blobs is required: the workers need it")
	}
	log := newLogger()
	q, err := qf.open(ctx, *queueURL, af, log)
	if err != nil {
		return err
	}
	defer q.Close()
	provider, closeProvider, err := prov.open(ctx, af, pf.p.Max, log, func(exe, model string) []string {
		return workerArgv(exe, *queueURL, *blobs, model, qf, af.args()...)
	})
	if err != nil {
		return err
	}
	defer closeProvider()

	reg := prometheus.NewRegistry()
	metrics := autoscale.NewMetrics(reg)
	if *metricsAddr != "" {
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go serveHTTP(mctx, log, *metricsAddr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), time.Second, func(a net.Addr) {})
	}
	policy := pf.policy()
	switch {
	case *minBilled >= 0:
		policy.MinBilled = *minBilled
	case prov.name == "ec2":
		policy.MinBilled = autoscale.EC2MinBilled
	}
	ctl := &autoscale.Controller{Queue: q, Provider: provider, Scaler: autoscale.NewScaler(policy), Logger: log, Observed: metrics.Observe}
	log.Info("controller started", "queue", *queueURL, "provider", prov.name, "max_instances", pf.p.Max)
	return ctl.Run(ctx)
}
