package autoscale

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

// DefaultInterval is how often BootAware observes and decides.
const DefaultInterval = time.Second

// Controller runs a Policy against a live queue and provider.
type Controller struct {
	Queue    imgrec.Queue
	Provider imgrec.Provider
	Policy   Policy
	// Interval overrides the Policy's Cadence().Every.
	Interval time.Duration
	Logger   *slog.Logger
	// Observed, if set, is called after every decision (metrics, status pages).
	Observed func(Observation, Decision)

	nudgeOnce sync.Once
	nudge     chan struct{}
}

// minNudgeGap bounds how often nudges can make the controller step.
const minNudgeGap = 100 * time.Millisecond

// Run observes and acts every Interval, and soon after a Nudge if the
// Policy's Cadence asks for it, until ctx is cancelled. Failures to observe
// or act are logged and retried on the next step.
func (c *Controller) Run(ctx context.Context) error {
	cadence := c.Policy.Cadence()
	interval := c.Interval
	if interval <= 0 {
		interval = cadence.Every
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var nudges chan struct{} // nil: never ready, so nudges are ignored
	if cadence.OnArrival {
		nudges = c.nudges()
	}
	for {
		last := time.Now()
		c.Step(ctx, last)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-nudges:
			select {
			case <-time.After(minNudgeGap - time.Since(last)):
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Nudge asks for a step now rather than at the next tick: the web tier calls
// it when work arrives, so a burst on an idle system does not wait a tick.
// It never blocks.
func (c *Controller) Nudge() {
	select {
	case c.nudges() <- struct{}{}:
	default:
	}
}

func (c *Controller) nudges() chan struct{} {
	c.nudgeOnce.Do(func() { c.nudge = make(chan struct{}, 1) })
	return c.nudge
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
	d := c.Policy.Decide(o)
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
