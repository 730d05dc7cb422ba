package autoscale

import (
	"math"
	"slices"
	"time"

	"github.com/imgrec/imgrec"
)

// never is a drain time that does not come: the queue grows, or the
// service time is unknown.
const never = time.Duration(math.MaxInt64)

// estimate is a running mean that turns into a moving average of the last
// few samples, so it follows a change without jumping at one outlier.
type estimate struct {
	v time.Duration
	n int
}

const estimateMemory = 8

func (e *estimate) add(x time.Duration) {
	e.n++
	e.v += (x - e.v) / time.Duration(min(e.n, estimateMemory))
}

// estimates are what BootAware measures of its instances: how long a
// launch and a restart take from pending to running, per part of the fleet
// (see Config.Parts; one part, "", without parts), and how long one
// request takes.
type estimates struct {
	boot, restart map[string]*estimate // by part
	service       estimate
	part          func(imgrec.Instance) string // the part an instance is on
	seen          map[string]seenInstance
	gen           int          // observations learnt from, to forget instances no longer listed
	ref           drainReading // start of the current service measurement
}

type seenInstance struct {
	state   imgrec.InstanceState
	since   time.Time
	restart bool // its current or last boot was a restart
	gen     int  // the observation that last listed it
}

// drainReading is an observation while requests were waiting, so every
// running instance was busy.
type drainReading struct {
	at             time.Time
	depth, running int
}

func newEstimates(cfg Config, part func(imgrec.Instance) string) estimates {
	e := estimates{
		boot:    map[string]*estimate{"": {v: cfg.BootTime}},
		restart: map[string]*estimate{"": {v: cfg.RestartTime}},
		service: estimate{v: cfg.ServiceTime},
		part:    part,
		seen:    map[string]seenInstance{},
	}
	for _, p := range cfg.Parts {
		e.boot[p.Name] = &estimate{v: p.BootTime}
		e.restart[p.Name] = &estimate{v: p.RestartTime}
	}
	return e
}

// bootOf and restartOf are how long a launch and a restart take on part.
func (e *estimates) bootOf(part string) time.Duration    { return e.of(e.boot, part).v }
func (e *estimates) restartOf(part string) time.Duration { return e.of(e.restart, part).v }

func (e *estimates) of(m map[string]*estimate, part string) *estimate {
	if x, ok := m[part]; ok {
		return x
	}
	return m[""] // an instance of no known part: Config's guesses
}

// learn measures boots from instances seen pending then running, and the
// service time from how fast busy instances drain the queue.
func (e *estimates) learn(o Observation, f fleet) {
	e.gen++
	for _, in := range o.Instances {
		prev, known := e.seen[in.ID]
		cur := seenInstance{state: in.State, since: in.Since, restart: prev.restart, gen: e.gen}
		switch {
		case in.State == imgrec.StatePending && prev.state != imgrec.StatePending:
			cur.restart = known // an instance seen before is being restarted
		case in.State == imgrec.StateRunning && prev.state == imgrec.StatePending && in.Since.After(prev.since):
			if prev.restart {
				e.of(e.restart, e.part(in)).add(in.Since.Sub(prev.since))
			} else {
				e.of(e.boot, e.part(in)).add(in.Since.Sub(prev.since))
			}
		}
		e.seen[in.ID] = cur
	}
	for id, x := range e.seen {
		if x.gen != e.gen {
			delete(e.seen, id) // gone for good
		}
	}

	// Requests done per instance-second while requests wait. Arrivals in
	// between make the queue look slower, so the estimate errs long, which
	// errs toward launching.
	now := drainReading{o.Time, o.Stats.Depth(), len(f[imgrec.StateRunning])}
	if o.Stats.Waiting == 0 || now.running == 0 {
		e.ref = drainReading{}
		return
	}
	if e.ref.at.IsZero() {
		e.ref = now
		return
	}
	if dt := now.at.Sub(e.ref.at); dt >= time.Second {
		if done := e.ref.depth - now.depth; done > 0 {
			e.service.add(dt * time.Duration(max(e.ref.running, now.running)) / time.Duration(done))
		}
		e.ref = now
	}
}

// eta is how long a pending instance is still expected to boot.
func (e *estimates) eta(now time.Time, in imgrec.Instance) time.Duration {
	boot := e.bootOf(e.part(in))
	if e.seen[in.ID].restart {
		boot = e.restartOf(e.part(in))
	}
	return max(boot-now.Sub(in.Since), 0)
}

// arrivals are the etas of pending instances, soonest first.
func (e *estimates) arrivals(now time.Time, pending []imgrec.Instance) []time.Duration {
	out := make([]time.Duration, len(pending))
	for i, in := range pending {
		out[i] = e.eta(now, in)
	}
	slices.Sort(out)
	return out
}

// backlog is the queue as BootAware foresees it: depth requests,
// shrinking by rate a second (negative while it grows), and by perInstance
// more a second for each instance that comes up.
type backlog struct {
	depth, rate, perInstance float64
}

// drainTime is when the backlog is gone if one more instance comes up at
// each of arrivals (sorted); never if it does not drain.
func (b backlog) drainTime(arrivals []time.Duration) time.Duration {
	if b.depth <= 0 {
		return 0
	}
	if b.perInstance == 0 {
		return never // service time unknown: no telling
	}
	depth, rate, t := b.depth, b.rate, 0.0
	for _, a := range arrivals {
		dt := a.Seconds() - t
		if rate > 0 && depth <= rate*dt {
			break
		}
		depth -= rate * dt
		t, rate = a.Seconds(), rate+b.perInstance
	}
	if rate <= 0 {
		return never
	}
	if end := t + depth/rate; end < never.Seconds() {
		return time.Duration(end * float64(time.Second))
	}
	return never
}

func insertSorted(s []time.Duration, x time.Duration) []time.Duration {
	i, _ := slices.BinarySearch(s, x)
	return slices.Insert(s, i, x)
}
