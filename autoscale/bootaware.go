package autoscale

import (
	"fmt"
	"slices"
	"time"

	"github.com/imgrec/imgrec"
)

// BootAware is our policy, (e). It wants one instance per TargetPerInstance
// requests in the queue (waiting + in flight), never fewer than are busy,
// within Min..Max, using the largest wish of the last Window. Aware of boot
// times, it brings up no instance that would come up after those running
// or booting have drained the backlog, judged from the boot and service
// times it measures; and while the backlog only drains, it cancels booting
// instances beyond the wish, which cost nothing yet. It restarts the warm
// pool before launching, and stops idle instances ScaleInAfter once fewer
// suffice, down to zero, though none before its billed minimum is used up.
// Where restarts are free (MinBilled 0, as for local workers), once all work
// is done (nothing waiting, nothing in flight, no instance busy) for
// ScaleInAfter, the Window's memory of busier times no longer holds the
// fleet: it goes down to Min at once.
type BootAware struct {
	cfg       Config
	readings  []reading
	lowSince  time.Time // when desired first fell below active; zero if it has not
	idleSince time.Time // since when all work is done; zero while there is work
	est       estimates
}

type reading struct {
	at      time.Time
	n       int
	running int
	busy    int
}

// NewBootAware returns a BootAware for cfg (defaults filled in).
func NewBootAware(cfg Config) *BootAware {
	cfg = cfg.withDefaults()
	return &BootAware{cfg: cfg, est: newEstimates(cfg)}
}

// Config returns the tunables in force, defaults included.
func (s *BootAware) Config() Config { return s.cfg }

// Cadence: every second, and as soon as work arrives.
func (s *BootAware) Cadence() Cadence { return Cadence{Every: DefaultInterval, OnArrival: true} }

// Decide computes the actions for one observation.
func (s *BootAware) Decide(o Observation) Decision {
	cfg := s.cfg
	f, counts := sortFleet(o.Instances)
	s.est.learn(o, f)
	s.readings = append(s.readings, reading{o.Time, o.Stats.Depth(), len(f[imgrec.StateRunning]), o.Stats.InFlight})
	for len(s.readings) > 1 && o.Time.Sub(s.readings[0].at) > cfg.Window {
		s.readings = s.readings[1:]
	}
	switch {
	case o.Stats.Depth() > 0 || slices.ContainsFunc(o.Instances, func(in imgrec.Instance) bool { return in.Busy }):
		s.idleSince = time.Time{}
	case s.idleSince.IsZero():
		s.idleSince = o.Time
	}
	// Only where a restart is not billed anew: with a billed minimum, the
	// next burst often comes before stopping would have paid off.
	done := cfg.MinBilled == 0 && !s.idleSince.IsZero() && o.Time.Sub(s.idleSince) >= cfg.ScaleInAfter
	if done {
		s.readings = s.readings[len(s.readings)-1:]
	}
	depth, busy := 0, 0
	for _, r := range s.readings {
		depth = max(depth, r.n)
		busy = max(busy, r.busy)
	}
	desired := min(max((depth+cfg.TargetPerInstance-1)/cfg.TargetPerInstance, busy, cfg.Min), cfg.Max)
	active := f.active()
	d := Decision{Depth: depth, Desired: desired, Active: active, Counts: counts}

	// While the backlog only drains, booting instances beyond the wish are
	// cancelled at once, newest first: they cost nothing yet and would come
	// up to too little work. While requests arrive, they stay.
	var late []string
	if pending := f[imgrec.StatePending]; desired < active && s.draining() {
		for i := len(pending) - 1; i >= 0 && len(late) < active-desired; i-- {
			late = append(late, pending[i].ID)
		}
	}
	if len(late) > 0 {
		d.Terminate = append(d.Terminate, late...)
		d.Reason = fmt.Sprintf("depth %d needs %d of %d active; cancelling %d booting", depth, desired, active, len(late))
		active -= len(late)
	}
	switch {
	case desired > active:
		s.lowSince = time.Time{}
		s.grow(o, f, &d, desired-active, cfg.Min-active)
		d.Reason = fmt.Sprintf("depth %d needs %d instances, %d active", depth, desired, active)
		if held := desired - active - len(d.Start) - d.Launch; held > 0 {
			d.Reason += fmt.Sprintf("; %d more would come up after the backlog is done", held)
		}
	case desired < active:
		if s.lowSince.IsZero() {
			s.lowSince = o.Time
		}
		if wait := cfg.ScaleInAfter - o.Time.Sub(s.lowSince); wait > 0 && !done {
			d.Reason = fmt.Sprintf("depth %d needs %d of %d active; scale-in in %s unless work arrives", depth, desired, active, wait.Round(100*time.Millisecond))
			break
		}
		var idle []imgrec.Instance
		for _, in := range f.idle() {
			// Kept until the last step before its billed minimum runs out.
			if o.Time.Sub(in.Since) >= max(cfg.MinBilled-DefaultInterval, 0) {
				idle = append(idle, in)
			}
		}
		surplus := ids(idle[:min(active-desired, len(idle))])
		if cfg.WarmPool < 0 {
			d.Terminate = surplus
			d.Reason = fmt.Sprintf("depth %d needs %d of %d active; terminating %d idle (no warm pool)", depth, desired, active, len(surplus))
		} else {
			d.Stop = surplus
			d.Reason = fmt.Sprintf("depth %d needs %d of %d active; stopping %d idle", depth, desired, active, len(surplus))
		}
	default:
		s.lowSince = time.Time{}
		if len(late) == 0 {
			d.Reason = fmt.Sprintf("depth %d: %d active is right", depth, active)
		}
	}

	// Trim the warm pool to its size, oldest stopped first, never one we restart.
	if extra := len(f[imgrec.StateStopped]) - len(d.Start) - max(cfg.WarmPool, 0); extra > 0 {
		for _, in := range f[imgrec.StateStopped] {
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

// grow adds up to need instances, warm pool first, but beyond the first
// floor (to reach Min) none that would come up after the fleet already
// running or booting has drained the backlog now in the queue.
func (s *BootAware) grow(o Observation, f fleet, d *Decision, need, floor int) {
	b := s.backlog(o, f, o.Stats.Depth())
	arrivals := s.est.arrivals(o.Time, f[imgrec.StatePending])
	stopped := f[imgrec.StateStopped]
	for i := range need {
		drain := b.drainTime(arrivals)
		if i < floor {
			drain = never
		}
		switch {
		case len(d.Start) < len(stopped) && s.est.restart.v < drain:
			d.Start = append(d.Start, stopped[len(d.Start)].ID)
			arrivals = insertSorted(arrivals, s.est.restart.v)
		case s.est.boot.v < drain:
			d.Launch++
			arrivals = insertSorted(arrivals, s.est.boot.v)
		default:
			return
		}
	}
}

// backlog foresees depth requests drained by the running instances at
// their full speed or, if instances were already running at the start of
// the window, at the rate the queue was seen shrinking if that is slower:
// arrivals slow it down. (With none running, a rise of the queue is the
// burst itself, not a rate of arrivals to expect.)
func (s *BootAware) backlog(o Observation, f fleet, depth int) backlog {
	if s.est.service.v == 0 {
		return backlog{depth: float64(depth)}
	}
	per := 1 / s.est.service.v.Seconds()
	running := len(f[imgrec.StateRunning])
	b := backlog{depth: float64(depth), rate: float64(running) * per, perInstance: per}
	if first := s.readings[0]; first.running > 0 && o.Time.Sub(first.at) >= time.Second {
		b.rate = min(b.rate, float64(first.n-o.Stats.Depth())/o.Time.Sub(first.at).Seconds())
	}
	return b
}

// draining reports whether the queue has not grown within the window.
func (s *BootAware) draining() bool {
	for i := 1; i < len(s.readings); i++ {
		if s.readings[i].n > s.readings[i-1].n {
			return false
		}
	}
	return true
}
