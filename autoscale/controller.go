package autoscale

import (
	"context"
	"log/slog"
	"time"

	"github.com/imgrec/imgrec"
)

// DefaultInterval is how often the controller observes and decides.
const DefaultInterval = time.Second

// Controller runs a Scaler against a live queue and provider.
type Controller struct {
	Queue    imgrec.Queue
	Provider imgrec.Provider
	Scaler   *Scaler
	Interval time.Duration
	Logger   *slog.Logger
	// Observed, if set, is called after every decision (metrics, status pages).
	Observed func(Observation, Decision)
}

// Run observes and acts every Interval until ctx is cancelled. Failures to
// observe or act are logged and retried on the next tick.
func (c *Controller) Run(ctx context.Context) error {
	interval := c.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.Step(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step makes one observation, decision and set of actions.
func (c *Controller) Step(ctx context.Context, now time.Time) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stats, err := c.Queue.Stats(ctx)
	if err != nil {
		log.Warn("queue stats failed", "err", err)
		return
	}
	instances, err := c.Provider.List(ctx)
	if err != nil {
		log.Warn("listing instances failed", "err", err)
		return
	}
	o := Observation{Time: now, Stats: stats, Instances: instances}
	d := c.Scaler.Decide(o)
	if d.Acts() {
		log.Info("scale", "reason", d.Reason, "depth", d.Depth, "waiting", stats.Waiting, "in_flight", stats.InFlight,
			"desired", d.Desired, "active", d.Active, "instances", d.Counts,
			"start", d.Start, "launch", d.Launch, "stop", d.Stop, "terminate", d.Terminate)
	} else {
		log.Debug("hold", "reason", d.Reason, "waiting", stats.Waiting, "in_flight", stats.InFlight, "instances", d.Counts)
	}
	c.act(ctx, log, d)
	if c.Observed != nil {
		c.Observed(o, d)
	}
}

func (c *Controller) act(ctx context.Context, log *slog.Logger, d Decision) {
	if len(d.Start) > 0 {
		if err := c.Provider.Start(ctx, d.Start); err != nil {
			log.Warn("start failed", "ids", d.Start, "err", err)
		}
	}
	if d.Launch > 0 {
		if _, err := c.Provider.Launch(ctx, d.Launch); err != nil {
			log.Warn("launch failed", "n", d.Launch, "err", err)
		}
	}
	if len(d.Stop) > 0 {
		if err := c.Provider.Stop(ctx, d.Stop); err != nil {
			log.Warn("stop failed", "ids", d.Stop, "err", err)
		}
	}
	if len(d.Terminate) > 0 {
		if err := c.Provider.Terminate(ctx, d.Terminate); err != nil {
			log.Warn("terminate failed", "ids", d.Terminate, "err", err)
		}
	}
}
