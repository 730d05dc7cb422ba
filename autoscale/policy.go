// Package autoscale decides how many worker instances should run and asks a
// Provider for them. Decisions are a pure function of observations (a
// Policy: BootAware, or one of the baselines it is compared with),
// separate from the loop that gathers them (Controller), so the simulator
// (package simulate) replays the same code in virtual time.
package autoscale

import (
	"slices"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// Policy is an autoscaling policy: it turns observations into decisions.
// The live Controller and the simulator (package simulate) drive the same
// Policies, so what the simulator shows is what the service does. A Policy
// may remember past observations; it is not safe for concurrent use.
type Policy interface {
	Decide(Observation) Decision
	// Cadence is when the decider wants to observe.
	Cadence() Cadence
}

// Cadence is how often a Policy observes.
type Cadence struct {
	Every time.Duration
	// OnArrival also asks for an observation as soon as work arrives
	// (Controller.Nudge), so a burst on an idle system does not wait a tick.
	OnArrival bool
}

// Observation is what the controller sees at one instant.
type Observation struct {
	Time      time.Time
	Stats     imgrec.QueueStats
	Instances []imgrec.Instance
}

// Decision is what to do about an observation, with the inputs that led to it.
type Decision struct {
	Depth     int            `json:"depth"`           // depth the decision used
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

// fleet is an observation's instances sorted by state, oldest first.
type fleet map[imgrec.InstanceState][]imgrec.Instance

func sortFleet(in []imgrec.Instance) (fleet, map[string]int) {
	// One sorted copy, by state then age, cut into a slice per state.
	all := slices.Clone(in)
	slices.SortStableFunc(all, func(a, b imgrec.Instance) int {
		if a.State != b.State {
			return strings.Compare(string(a.State), string(b.State))
		}
		return olderFirst(a, b)
	})
	f := fleet{}
	counts := map[string]int{}
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].State == all[i].State {
			j++
		}
		f[all[i].State] = all[i:j:j]
		counts[string(all[i].State)] = j - i
		i = j
	}
	return f, counts
}

func (f fleet) active() int { return len(f[imgrec.StatePending]) + len(f[imgrec.StateRunning]) }

// idle returns the running instances not working on a request, newest
// first, so long-lived ones stay and the pool turns over least.
func (f fleet) idle() []imgrec.Instance {
	var out []imgrec.Instance
	for _, in := range f[imgrec.StateRunning] {
		if !in.Busy {
			out = append(out, in)
		}
	}
	slices.Reverse(out)
	return out
}

// grow restarts stopped instances first, a warm start being faster than a
// launch, and launches the rest of need.
func (f fleet) grow(d *Decision, need int) {
	stopped := f[imgrec.StateStopped]
	for _, in := range stopped[:min(need, len(stopped))] {
		d.Start = append(d.Start, in.ID)
	}
	d.Launch = need - len(d.Start)
}

func ids(in []imgrec.Instance) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.ID
	}
	return out
}

func olderFirst(a, b imgrec.Instance) int {
	if c := a.Since.Compare(b.Since); c != 0 {
		return c
	}
	return compareIDs(a.ID, b.ID)
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
