package autoscale

import "time"

// Config holds the tunables of the policies: BootAware reads them all, the
// baselines only Max. Zero values take the defaults below.
type Config struct {
	Min, Max int
	// TargetPerInstance is the depth (waiting + in flight) one instance is
	// expected to absorb: desired = ceil(depth / TargetPerInstance), but
	// never fewer than the instances busy.
	TargetPerInstance int
	// Window is how far back depth readings are remembered; the largest
	// counts, so one low reading cannot trigger a scale-in.
	Window time.Duration
	// ScaleInAfter is how long fewer instances must be enough before any
	// is stopped. A burst in that time cancels the scale-in.
	ScaleInAfter time.Duration
	// WarmPool is how many stopped instances are kept for a fast Start;
	// more are terminated. Zero means Max; below zero, none: idle instances
	// are terminated rather than stopped.
	WarmPool int
	// BootTime, RestartTime and ServiceTime are first guesses of how long
	// a launch and a restart take to come up and how long a request takes;
	// BootAware replaces them with what it measures. Zero means unknown:
	// until measured, an instance is assumed to come up at once and the
	// backlog never to drain by itself.
	BootTime, RestartTime, ServiceTime time.Duration
	// MinBilled is the least an instance is billed for each time it comes
	// up (60 s on EC2). An idle instance younger than that is kept, since
	// stopping it would save nothing and a restart would be billed anew.
	MinBilled time.Duration
}

// EC2MinBilled is the least EC2 bills for each run of an instance (Linux,
// per-second billing): the MinBilled for instances there.
const EC2MinBilled = time.Minute

// Defaults.
const (
	DefaultMax               = 20
	DefaultTargetPerInstance = 5
	DefaultWindow            = 2 * time.Second
	DefaultScaleInAfter      = time.Second
)

func (c Config) withDefaults() Config {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	c.Min = min(max(c.Min, 0), c.Max)
	if c.TargetPerInstance <= 0 {
		c.TargetPerInstance = DefaultTargetPerInstance
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.ScaleInAfter <= 0 {
		c.ScaleInAfter = DefaultScaleInAfter
	}
	if c.WarmPool == 0 {
		c.WarmPool = c.Max
	}
	return c
}
