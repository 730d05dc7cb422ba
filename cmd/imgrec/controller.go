package main

import (
	"context"

	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/probe"
)

func init() {
	register("controller", "run the autoscaling controller alone: scale workers on queue depth", runController)
}

func runController(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "controller", "controller --queue nats://HOST:PORT|sqs://NAME --blobs file:///DIR|s3://PREFIX [--provider local|ec2|nova] [flags]")
	bf := backendFlags(fs, "", queueUsage+" (required)", "the workers' "+blobsUsage+" (required)")
	prov := providerFlags(fs)
	metricsAddr := fs.String("metrics-addr", "", metricsAddrUsage)
	sf := scalingFlags(fs, autoscale.DefaultInterval)
	minBilled := fs.Duration("min-billed", -1, "keep an idle instance until it has run this long, since stopping it sooner saves nothing (default: 1m with --provider ec2, EC2's least charge per start; else 0)")
	lf := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := bf.check(); err != nil {
		return err // the workers need --blobs too
	}
	if err := prov.check(); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	ops, err := listenOps(*metricsAddr)
	if err != nil {
		return err
	}
	defer ops.Close()
	q, err := bf.queue.open(ctx, bf.queueURL, bf.aws, log)
	if err != nil {
		return err
	}
	defer q.Close()
	provider, closeProvider, err := prov.open(ctx, bf.aws, sf.cfg.Max, log, func(exe, model string) []string {
		return bf.workerArgv(exe, bf.queueURL, model, lf.workerArgs()...)
	})
	if err != nil {
		return err
	}
	defer closeProvider()

	reg := newRegistry()
	metrics := autoscale.NewMetrics(reg)
	defer ops.serve(log, reg, &probe.Readiness{Checks: []probe.Check{probe.Queue(q), probe.Instances(provider.List)}})()
	cfg := sf.cfg
	switch {
	case *minBilled >= 0:
		cfg.MinBilled = *minBilled
	case prov.name == "ec2":
		cfg.MinBilled = autoscale.EC2MinBilled
	}
	ctl := &autoscale.Controller{Interval: sf.interval, Queue: q, Provider: provider, Policy: autoscale.NewBootAware(cfg), Logger: log, Observed: metrics.Observe}
	log.Info("controller started", "queue", bf.queueURL, "provider", prov.name, "max_instances", cfg.Max)
	return ctl.Run(ctx)
}
