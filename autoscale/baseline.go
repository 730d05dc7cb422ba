package autoscale

import (
	"fmt"
	"time"

	"github.com/imgrec/imgrec"
)

// The baselines BootAware is compared with (`imgrec simulate`): the
// policies of the course's seed projects, a plain capped-depth rule and
// KEDA's SQS scaler with its defaults. They honour Config.Max only.

// seedIdle is how long the seed projects' instances stay idle before they
// stop.
const seedIdle = 10 * time.Second

// PerMessage is policy (a) or (b) of the seed projects: one instance per
// waiting request up to Max, restarting stopped instances before creating
// new ones.
type PerMessage struct {
	max        int
	graceful   bool
	lastBusy   map[string]time.Time // (a): when each running instance was last seen busy
	emptySince time.Time            // (b): since when the queue has been empty; zero if it is not
}

// NewSelfStop returns policy (a): one instance per waiting request up to
// Max, create-or-restart, and every instance stops itself after 10 s idle
// (applied here at the controller's 1 s steps).
func NewSelfStop(cfg Config) *PerMessage {
	return &PerMessage{max: cfg.withDefaults().Max, lastBusy: map[string]time.Time{}}
}

// NewGracefulStop returns policy (b): like (a), but instead of stopping
// themselves, idle instances are asked to shut down once the queue has
// been empty for 10 s, and any request in those 10 s cancels the request.
func NewGracefulStop(cfg Config) *PerMessage {
	return &PerMessage{max: cfg.withDefaults().Max, graceful: true}
}

// Cadence: the seeds poll the queue every second.
func (m *PerMessage) Cadence() Cadence { return Cadence{Every: time.Second} }

// Decide implements Policy.
func (m *PerMessage) Decide(o Observation) Decision {
	f, counts := sortFleet(o.Instances)
	waiting := o.Stats.Waiting
	desired := min(waiting, m.max)
	active := f.active()
	d := Decision{Depth: waiting, Desired: desired, Active: active, Counts: counts}
	if desired > active {
		f.grow(&d, desired-active)
		d.Reason = fmt.Sprintf("%d waiting, %d active", waiting, active)
	}
	if m.graceful {
		m.gracefulStop(o.Time, o.Stats.Depth(), f, &d)
	} else {
		m.selfStop(o.Time, f, &d)
	}
	return d
}

func (m *PerMessage) selfStop(now time.Time, f fleet, d *Decision) {
	seen := map[string]bool{}
	for _, in := range f[imgrec.StateRunning] {
		seen[in.ID] = true
		last, known := m.lastBusy[in.ID]
		switch {
		case in.Busy:
			m.lastBusy[in.ID] = now
		case !known:
			m.lastBusy[in.ID] = in.Since // idle since it came up
		case now.Sub(last) >= seedIdle:
			d.Stop = append(d.Stop, in.ID)
			d.Reason = fmt.Sprintf("idle for %s", seedIdle)
		}
	}
	for id := range m.lastBusy {
		if !seen[id] {
			delete(m.lastBusy, id) // a restart starts a new idle clock
		}
	}
}

func (m *PerMessage) gracefulStop(now time.Time, depth int, f fleet, d *Decision) {
	if depth > 0 {
		m.emptySince = time.Time{} // work came: the shutdown request is cancelled
		return
	}
	if m.emptySince.IsZero() {
		m.emptySince = now
	}
	if now.Sub(m.emptySince) >= seedIdle {
		d.Stop = ids(f.idle())
		if len(d.Stop) > 0 {
			d.Reason = fmt.Sprintf("queue empty for %s", seedIdle)
		}
	}
}

// DepthCap is policy (c): every 5 s, desired = min(depth, Max); it launches
// new instances and terminates idle surplus ones at once, like an
// autoscaling group whose desired capacity is set from the queue.
type DepthCap struct{ max int }

// NewDepthCap returns policy (c).
func NewDepthCap(cfg Config) *DepthCap { return &DepthCap{max: cfg.withDefaults().Max} }

// Cadence: polled every 5 s.
func (c *DepthCap) Cadence() Cadence { return Cadence{Every: 5 * time.Second} }

// Decide implements Policy.
func (c *DepthCap) Decide(o Observation) Decision {
	f, counts := sortFleet(o.Instances)
	depth := o.Stats.Depth()
	d := Decision{Depth: depth, Desired: min(depth, c.max), Active: f.active(), Counts: counts}
	resize(f, &d)
	return d
}

// resize launches or terminates toward d.Desired, terminating only idle
// instances, for the policies that keep no warm pool.
func resize(f fleet, d *Decision) {
	switch {
	case d.Desired > d.Active:
		d.Launch = d.Desired - d.Active
	case d.Desired < d.Active:
		idle := f.idle()
		d.Terminate = ids(idle[:min(d.Active-d.Desired, len(idle))])
	}
	if d.Acts() {
		d.Reason = fmt.Sprintf("depth %d: %d wanted, %d active", d.Depth, d.Desired, d.Active)
	}
}

// KEDA's defaults for its SQS scaler and the Kubernetes HPA it drives.
const (
	kedaPolling       = 30 * time.Second // pollingInterval
	kedaCooldown      = 300 * time.Second
	kedaQueueLength   = 5 // target messages per replica
	hpaSync           = 15 * time.Second
	hpaStabilization  = 300 * time.Second // scale-down stabilization window
	hpaScaleUpPods    = 4                 // per sync: at most +4 pods or +100 %, whichever is more
	hpaScaleUpPercent = 100
)

// KEDA is policy (d): KEDA's SQS scaler with its defaults.
type KEDA struct {
	max        int
	lastPoll   time.Time
	lastActive time.Time
	recs       []reading // the HPA's recommendations in its stabilization window
}

// NewKEDA returns policy (d): KEDA polls the queue every 30 s and wakes a
// workload at zero to one instance; from there the HPA, every 15 s, aims
// at 5 requests (waiting + in flight) per instance, growing by at most +4
// or +100 % per step, shrinking only to the largest wish of the last 300 s;
// KEDA scales to zero 300 s after it last saw a request.
func NewKEDA(cfg Config) *KEDA { return &KEDA{max: cfg.withDefaults().Max} }

// Cadence: the HPA's sync period; KEDA's own polls are every other step.
func (k *KEDA) Cadence() Cadence { return Cadence{Every: hpaSync} }

// Decide implements Policy.
func (k *KEDA) Decide(o Observation) Decision {
	f, counts := sortFleet(o.Instances)
	depth := o.Stats.Depth()
	current := f.active()
	poll := k.lastPoll.IsZero() || o.Time.Sub(k.lastPoll) >= kedaPolling
	if poll {
		k.lastPoll = o.Time
		if depth > 0 {
			k.lastActive = o.Time
		}
	}
	d := Decision{Depth: depth, Active: current, Counts: counts}
	switch {
	case current == 0:
		k.recs = nil
		if poll && depth > 0 {
			d.Desired = min(1, k.max) // KEDA activates; the HPA takes over from one replica
		}
	case poll && depth == 0 && o.Time.Sub(k.lastActive) >= kedaCooldown:
		d.Desired = 0
	default:
		want := min((depth+kedaQueueLength-1)/kedaQueueLength, k.max)
		want = min(want, max(current+hpaScaleUpPods, current*(100+hpaScaleUpPercent)/100))
		k.recs = append(k.recs, reading{at: o.Time, n: want})
		for len(k.recs) > 1 && o.Time.Sub(k.recs[0].at) >= hpaStabilization {
			k.recs = k.recs[1:]
		}
		d.Desired = 1 // the HPA's minimum while KEDA holds the workload active
		for _, r := range k.recs {
			d.Desired = max(d.Desired, r.n)
		}
	}
	resize(f, &d)
	return d
}
