// Package autoscale decides how many worker instances should run and asks a
// Provider for them. Decisions are a pure function of observations (Scaler),
// separate from the loop that gathers them (Controller), so a simulator can
// replay the same code in virtual time.
package autoscale

import (
	"fmt"
	"slices"
	"time"

	"github.com/imgrec/imgrec"
)

// Policy holds the tunables. Zero values take the defaults below.
type Policy struct {
	Min, Max int
	// TargetPerInstance is the depth (waiting + in flight) one instance is
	// expected to absorb: desired = ceil(depth / TargetPerInstance).
	TargetPerInstance int
	// Window is how far back depth readings are remembered; the largest
	// counts, so one low reading cannot trigger a scale-in.
	Window time.Duration
	// ScaleInAfter is how long fewer instances must be enough before any
	// is stopped. A burst in that time cancels the scale-in.
	ScaleInAfter time.Duration
	// WarmPool is how many stopped instances are kept for a fast Start;
	// more are terminated.
	WarmPool int
}

// Defaults.
const (
	DefaultMax               = 20
	DefaultTargetPerInstance = 5
	DefaultWindow            = 2 * time.Second
	DefaultScaleInAfter      = time.Second
)

func (p Policy) withDefaults() Policy {
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	p.Min = min(max(p.Min, 0), p.Max)
	if p.TargetPerInstance <= 0 {
		p.TargetPerInstance = DefaultTargetPerInstance
	}
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	if p.ScaleInAfter <= 0 {
		p.ScaleInAfter = DefaultScaleInAfter
	}
	if p.WarmPool <= 0 {
		p.WarmPool = p.Max
	}
	return p
}

// Observation is what the controller sees at one instant.
type Observation struct {
	Time      time.Time
	Stats     imgrec.QueueStats
	Instances []imgrec.Instance
}

// Decision is what to do about an observation, with the inputs that led to it.
type Decision struct {
	Depth     int            `json:"depth"`           // windowed depth the decision used
	Desired   int            `json:"desired"`         // instances wanted
	Active    int            `json:"active"`          // pending + running before acting
	Counts    map[string]int `json:"counts"`          // instances by state before acting
	Start     []string       `json:"start,omitempty"` // stopped instances to restart
	Launch    int            `json:"launch,omitempty"`
	Stop      []string       `json:"stop,omitempty"` // idle instances to drain into the warm pool
	Terminate []string       `json:"terminate,omitempty"`
	Reason    string         `json:"reason"`
}

// Acts reports whether the decision changes anything.
func (d Decision) Acts() bool {
	return len(d.Start)+d.Launch+len(d.Stop)+len(d.Terminate) > 0
}

// Scaler turns observations into decisions. It remembers recent depth and
// when a scale-in became possible; it is not safe for concurrent use.
type Scaler struct {
	policy   Policy
	readings []reading
	lowSince time.Time // when desired first fell below active; zero if it has not
}

type reading struct {
	at    time.Time
	depth int
}

// NewScaler returns a Scaler for p (defaults filled in).
func NewScaler(p Policy) *Scaler { return &Scaler{policy: p.withDefaults()} }

// Policy returns the policy in force, defaults included.
func (s *Scaler) Policy() Policy { return s.policy }

// Decide computes the actions for one observation.
func (s *Scaler) Decide(o Observation) Decision {
	p := s.policy
	s.readings = append(s.readings, reading{o.Time, o.Stats.Depth()})
	for len(s.readings) > 1 && o.Time.Sub(s.readings[0].at) > p.Window {
		s.readings = s.readings[1:]
	}
	depth := 0
	for _, r := range s.readings {
		depth = max(depth, r.depth)
	}
	desired := min(max((depth+p.TargetPerInstance-1)/p.TargetPerInstance, p.Min), p.Max)

	byState := map[imgrec.InstanceState][]imgrec.Instance{}
	counts := map[string]int{}
	for _, in := range o.Instances {
		byState[in.State] = append(byState[in.State], in)
		counts[string(in.State)]++
	}
	active := len(byState[imgrec.StatePending]) + len(byState[imgrec.StateRunning])
	d := Decision{Depth: depth, Desired: desired, Active: active, Counts: counts}

	switch {
	case desired > active:
		s.lowSince = time.Time{}
		need := desired - active
		// Restart the warm pool first: it is faster and cheaper than a launch.
		stopped := oldestFirst(byState[imgrec.StateStopped])
		for _, in := range stopped[:min(need, len(stopped))] {
			d.Start = append(d.Start, in.ID)
		}
		d.Launch = need - len(d.Start)
		d.Reason = fmt.Sprintf("depth %d needs %d instances, %d active", depth, desired, active)
	case desired < active:
		if s.lowSince.IsZero() {
			s.lowSince = o.Time
		}
		if wait := p.ScaleInAfter - o.Time.Sub(s.lowSince); wait > 0 {
			d.Reason = fmt.Sprintf("depth %d needs %d of %d active; scale-in in %s unless work arrives", depth, desired, active, wait.Round(100*time.Millisecond))
			break
		}
		// Only idle running instances, newest first so long-lived ones stay warm.
		var idle []imgrec.Instance
		for _, in := range byState[imgrec.StateRunning] {
			if !in.Busy {
				idle = append(idle, in)
			}
		}
		idle = oldestFirst(idle)
		slices.Reverse(idle)
		for _, in := range idle[:min(active-desired, len(idle))] {
			d.Stop = append(d.Stop, in.ID)
		}
		d.Reason = fmt.Sprintf("depth %d needs %d of %d active for %s; stopping %d idle", depth, desired, active, p.ScaleInAfter, len(d.Stop))
	default:
		s.lowSince = time.Time{}
		d.Reason = fmt.Sprintf("depth %d: %d active is right", depth, active)
	}

	// Trim the warm pool to its size, oldest stopped first, never one we restart.
	if extra := len(byState[imgrec.StateStopped]) - len(d.Start) - p.WarmPool; extra > 0 {
		for _, in := range oldestFirst(byState[imgrec.StateStopped]) {
			if extra == 0 {
				break
			}
			if !slices.Contains(d.Start, in.ID) {
				d.Terminate = append(d.Terminate, in.ID)
				extra--
			}
		}
	}
	return d
}

func oldestFirst(in []imgrec.Instance) []imgrec.Instance {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b imgrec.Instance) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	return out
}

// compareIDs orders "w-2" before "w-10".
func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
