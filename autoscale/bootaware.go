package autoscale

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
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
//
// Over a fleet of several providers (Config.Parts), it adds the cheapest
// way first: a stopped instance of the cheapest part with room, else a
// launch there (where package burst puts it), else a stopped instance of a
// dearer part, each only if it would come up in time by its own part's boot
// times; and it stops, cancels and trims the dearest part's instances
// first, never a cheaper one in place of a dearer one held to the end of
// its billed minimum.
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
	s := &BootAware{cfg: cfg}
	s.est = newEstimates(cfg, s.part)
	return s
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
	done := s.freeRestarts() && !s.idleSince.IsZero() && o.Time.Sub(s.idleSince) >= cfg.ScaleInAfter
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
	if desired < active && s.draining() {
		pending := slices.Clone(f[imgrec.StatePending])
		slices.Reverse(pending)
		for _, in := range s.dearestFirst(pending)[:min(active-desired, len(pending))] {
			late = append(late, in.ID)
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
		where := s.grow(o, f, &d, desired-active, cfg.Min-active)
		d.Reason = fmt.Sprintf("depth %d needs %d instances, %d active", depth, desired, active)
		if held := desired - active - len(d.Start) - d.Launch; held > 0 {
			d.Reason += fmt.Sprintf("; %d more would come up after the backlog is done", held)
		}
		d.Reason += where
	case desired < active:
		if s.lowSince.IsZero() {
			s.lowSince = o.Time
		}
		if wait := cfg.ScaleInAfter - o.Time.Sub(s.lowSince); wait > 0 && !done {
			d.Reason = fmt.Sprintf("depth %d needs %d of %d active; scale-in in %s unless work arrives", depth, desired, active, wait.Round(100*time.Millisecond))
			break
		}
		surplus := ids(s.surplus(o.Time, f.idle(), active-desired))
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

	// Trim the warm pool to its size, the dearest part's first, oldest
	// stopped first within a part, never one we restart.
	if extra := len(f[imgrec.StateStopped]) - len(d.Start) - max(cfg.WarmPool, 0); extra > 0 {
		for _, in := range s.dearestFirst(f[imgrec.StateStopped]) {
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

// grow adds up to need instances, the cheapest way first (warm pool
// first within a part), but beyond the first floor (to reach Min) none
// that would come up after the fleet already running or booting has
// drained the backlog now in the queue. Over several parts it returns
// where the instances go, for the decision's reason.
func (s *BootAware) grow(o Observation, f fleet, d *Decision, need, floor int) string {
	b := s.backlog(o, f, o.Stats.Depth())
	arrivals := s.est.arrivals(o.Time, f[imgrec.StatePending])
	parts := s.parts()
	room := make([]int, len(parts))
	stopped := make([][]imgrec.Instance, len(parts))
	for i, p := range parts {
		room[i] = p.Max
	}
	for _, in := range slices.Concat(f[imgrec.StatePending], f[imgrec.StateRunning]) {
		if i := s.partIndex(in); i >= 0 {
			room[i]--
		}
	}
	for _, in := range f[imgrec.StateStopped] { // oldest first
		if i := s.partIndex(in); i >= 0 {
			stopped[i] = append(stopped[i], in)
		}
	}
	starts, launches := make([]int, len(parts)), make([]int, len(parts))
	for n := range need {
		drain := b.drainTime(arrivals)
		if n < floor {
			drain = never
		}
		added := false
		launchable := true // launches go to the cheapest part with room
		for i, p := range parts {
			if room[i] <= 0 {
				continue
			}
			if up := s.est.restartOf(p.Name); starts[i] < len(stopped[i]) && up < drain {
				d.Start = append(d.Start, stopped[i][starts[i]].ID)
				starts[i]++
				arrivals, added = insertSorted(arrivals, up), true
			} else if up := s.est.bootOf(p.Name); launchable && up < drain {
				d.Launch++
				launches[i]++
				arrivals, added = insertSorted(arrivals, up), true
			}
			if added {
				room[i]--
				break
			}
			launchable = false
		}
		if !added {
			break
		}
	}
	if len(s.cfg.Parts) == 0 {
		return ""
	}
	var where []string
	for i, p := range parts {
		if starts[i]+launches[i] > 0 {
			where = append(where, fmt.Sprintf("%s: start %d, launch %d", p.Name, starts[i], launches[i]))
		}
	}
	if len(where) == 0 {
		return ""
	}
	return " (" + strings.Join(where, "; ") + ")"
}

// surplus picks up to n idle instances (idle: newest first) to stop, the
// dearest part's first. An instance is kept until the last step before its
// billed minimum runs out; one held so still takes its place in the order,
// so that no cheaper instance is stopped in its stead (it goes when its
// minute is up).
func (s *BootAware) surplus(now time.Time, idle []imgrec.Instance, n int) []imgrec.Instance {
	var out []imgrec.Instance
	sorted := s.dearestFirst(idle)
	for i := 0; i < len(sorted) && n > 0; {
		j := i + 1
		for j < len(sorted) && s.price(sorted[j]) == s.price(sorted[i]) {
			j++
		}
		var ready []imgrec.Instance
		for _, in := range sorted[i:j] {
			if now.Sub(in.Since) >= max(s.minBilled(in)-DefaultInterval, 0) {
				ready = append(ready, in)
			}
		}
		out = append(out, ready[:min(n, len(ready))]...)
		n -= min(n, j-i)
		i = j
	}
	return out
}

// parts returns the fleet's parts, cheapest first; one part of Max
// instances without Config.Parts.
func (s *BootAware) parts() []Part {
	if len(s.cfg.Parts) == 0 {
		return []Part{{Max: s.cfg.Max}}
	}
	return s.cfg.Parts
}

// partIndex is the index in parts of in's part, -1 for none.
func (s *BootAware) partIndex(in imgrec.Instance) int {
	if len(s.cfg.Parts) == 0 {
		return 0
	}
	return slices.IndexFunc(s.cfg.Parts, func(p Part) bool { return p.Name == in.Provider })
}

// part is the name of in's part, for the estimates.
func (s *BootAware) part(in imgrec.Instance) string {
	if i := s.partIndex(in); i >= 0 {
		return s.parts()[i].Name
	}
	return ""
}

func (s *BootAware) price(in imgrec.Instance) float64 {
	if i := s.partIndex(in); i >= 0 {
		return s.parts()[i].Price
	}
	return 0
}

func (s *BootAware) minBilled(in imgrec.Instance) time.Duration {
	if len(s.cfg.Parts) == 0 {
		return s.cfg.MinBilled
	}
	if i := s.partIndex(in); i >= 0 {
		return s.cfg.Parts[i].MinBilled
	}
	return s.cfg.MinBilled
}

// freeRestarts reports whether no instance is billed a minimum per run.
func (s *BootAware) freeRestarts() bool {
	if len(s.cfg.Parts) == 0 {
		return s.cfg.MinBilled == 0
	}
	for _, p := range s.cfg.Parts {
		if p.MinBilled > 0 {
			return false
		}
	}
	return true
}

// dearestFirst sorts a copy of in by price, dearest first, keeping the
// order of equal prices.
func (s *BootAware) dearestFirst(in []imgrec.Instance) []imgrec.Instance {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b imgrec.Instance) int { return cmp.Compare(s.price(b), s.price(a)) })
	return out
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
