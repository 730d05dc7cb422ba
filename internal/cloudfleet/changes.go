package cloudfleet

import (
	"time"

	"github.com/imgrec/imgrec"
)

// Changes are a provider's own last actions on its machines, by id. A
// cloud's listing may lag behind them (EC2's is eventually consistent, and
// moto leaves LaunchTime alone on a start), so a listing merges them in: an
// instance's Since is no earlier than the provider's last action on it.
// Which ones to forget, and when, is the provider's to say, as it depends
// on its cloud.
//
// Changes is a plain map, not safe for concurrent use: the provider guards
// it with its own lock.
type Changes map[string]Change

// Change is the provider's last action on one machine.
type Change struct {
	At       time.Time
	Launched bool // the action was its launch
}

// Record notes that the provider changed the states of ids at at.
func (c Changes) Record(at time.Time, ids ...string) {
	for _, id := range ids {
		c[id] = Change{At: at}
	}
}

// Launched notes that the provider launched insts at at, moves their Since
// on to at, and returns their ids.
func (c Changes) Launched(at time.Time, insts []imgrec.Instance) []string {
	var ids []string
	for i, in := range insts {
		insts[i].Since = Later(in.Since, at)
		ids = append(ids, in.ID)
		c[in.ID] = Change{At: at, Launched: true}
	}
	return ids
}

// Merge moves in's Since on to the provider's last action on it, if later.
func (c Changes) Merge(in *imgrec.Instance) {
	if ch, ok := c[in.ID]; ok {
		in.Since = Later(in.Since, ch.At)
	}
}

// Later returns the later of a and b.
func Later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
