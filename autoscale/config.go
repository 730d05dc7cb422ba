package autoscale

import (
	"cmp"
	"slices"
	"time"
)

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
	// Parts, if any, are the providers of a fleet over several (package
	// burst), told apart by Instance.Provider. BootAware then restarts the
	// cheapest part's stopped instances first, expects a launch on the
	// cheapest part with room (where burst places it), judges each by that
	// part's boot times, and stops, cancels and trims the dearest part's
	// first. Max becomes the sum of their caps (or stays below it).
	Parts []Part
}

// Part is what a policy knows of one provider of a fleet of several.
type Part struct {
	Name string // the Instance.Provider of its instances
	Max  int    // most pending + running instances on it
	// Price is what one of its instances costs a second while billed; only
	// the order of the parts' prices matters to BootAware.
	Price float64
	// MinBilled is Config.MinBilled for this part's instances (Config's
	// own is not used for them).
	MinBilled time.Duration
	// BootTime and RestartTime are Config's first guesses for this part;
	// zero takes Config's.
	BootTime, RestartTime time.Duration
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
	if len(c.Parts) > 0 {
		c.Parts = slices.Clone(c.Parts)
		slices.SortStableFunc(c.Parts, func(a, b Part) int { return cmp.Compare(a.Price, b.Price) })
		sum := 0
		for i, p := range c.Parts {
			sum += p.Max
			if p.BootTime == 0 {
				c.Parts[i].BootTime = c.BootTime
			}
			if p.RestartTime == 0 {
				c.Parts[i].RestartTime = c.RestartTime
			}
		}
		if c.Max <= 0 || c.Max > sum {
			c.Max = sum
		}
	}
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
