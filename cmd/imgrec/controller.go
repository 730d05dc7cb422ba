package main

import (
	"context"
	"net/http"

	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/probe"
)

func init() {
	register("controller", "run the autoscaling controller alone: scale workers on queue depth", runController)
}

func runController(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "controller", "controller --queue nats://HOST:PORT|sqs://NAME --blobs file:///DIR|s3://PREFIX [--provider local|ec2|nova|nova,ec2] [flags]")
	bf := backendFlags(fs, "", queueUsage+" (required)", "the workers' "+blobsUsage+" (required)")
	prov := providerFlags(fs)
	metricsAddr := fs.String("metrics-addr", "", metricsAddrUsage+"; the controller also serves "+instancesPath+" there, the instances of its last look, for web --controller-url")
	sf := scalingFlags(fs, autoscale.DefaultInterval)
	var minBilled minBilledFlag
	fs.Var(&minBilled, "min-billed", "keep an idle instance until it has run this long, since stopping it sooner saves nothing; one duration, or one per provider: ec2=1m,nova=0 (default: 1m for ec2, EC2's least charge per start; 0 for the others)")
	var prices priceFlag
	fs.Var(&prices, "price", "with several providers, what an instance of each costs while it runs, per hour (0.0416 or 0.0416/h), minute (/min) or second (/s): the fleet fills the cheapest first, restarts its stopped instances first and stops the dearest first (default: nova=0,local=0,ec2=0.0416/h)")
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
	parts, err := prov.plan(&sf.caps, &prices, &minBilled)
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
	provider, closeProvider, err := prov.open(ctx, bf.aws, parts, log, func(exe, model string) []string {
		return bf.workerArgv(exe, bf.queueURL, model, lf.workerArgs()...)
	})
	if err != nil {
		return err
	}
	defer closeProvider()

	reg := newRegistry()
	metrics := autoscale.NewMetrics(reg, prov.names()...)
	look := &lastLook{}
	defer ops.serve(log, reg, &probe.Readiness{Checks: []probe.Check{probe.Queue(q), probe.Instances(provider.List)}}, map[string]http.Handler{instancesPath: look})()
	cfg := sf.cfg
	if len(parts) == 1 {
		cfg.MinBilled = parts[0].MinBilled
	} else {
		cfg.Parts = parts
	}
	observed := func(o autoscale.Observation, d autoscale.Decision) {
		metrics.Observe(o, d)
		look.Observe(o, d)
	}
	ctl := &autoscale.Controller{Interval: sf.interval, Queue: q, Provider: provider, Policy: autoscale.NewBootAware(cfg), Logger: log, Observed: observed}
	log.Info("controller started", "queue", bf.queueURL, "provider", prov.name, "max_instances", cfg.Max, "fleet", describeParts(parts))
	return ctl.Run(ctx)
}
