// Package cloudfleet keeps the books that the providers acting through a
// cloud's API (ec2, nova) keep of their cluster's instances: which ids are
// the cluster's and in which state, how many more the cap allows, and what
// the provider itself did lately that the cloud's listing may not show yet
// (Changes). The cloud is the record; these are checks on a listing of it.
package cloudfleet

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imgrec/imgrec"
)

// Words are how a provider's messages name its machines.
type Words struct {
	One    string // one machine, with its article: "an instance", "a server"
	Many   string // "instances", "servers"
	Marked string // how the cluster marks its own: "tagged", "tagged and labelled"
	Gone   string // what a machine no longer listed has become: "terminated", "deleted"
}

// Fleet is one cluster's machines on a cloud, as its provider speaks of
// them.
type Fleet struct {
	Cluster string
	Max     int // the most pending + running machines
	Words   Words
}

// Op names an operation on ids in messages: "start i-1, i-2 in cluster demo".
func (f Fleet) Op(verb string, ids []string) string {
	return fmt.Sprintf("%s %s in cluster %s", verb, strings.Join(ids, ", "), f.Cluster)
}

// Owned returns ids (without repeats) if each names one of all in one of
// the allowed states (any state if none is given), else an error naming the
// first that does not: ENOTFOUND for an id not in all, EINVALID for one in
// another state.
func (f Fleet) Owned(op string, all []imgrec.Instance, ids []string, allowed ...imgrec.InstanceState) ([]string, error) {
	var out []string
	for _, id := range ids {
		i := slices.IndexFunc(all, func(in imgrec.Instance) bool { return in.ID == id })
		if i < 0 {
			return nil, imgrec.Errorf(imgrec.ENOTFOUND, "%s: %s is not %s of cluster %s (not %s %s=%s, or %s)",
				op, id, f.Words.One, f.Cluster, f.Words.Marked, imgrec.LabelCluster, f.Cluster, f.Words.Gone)
		}
		if in := all[i]; len(allowed) > 0 && !slices.Contains(allowed, in.State) {
			return nil, imgrec.Errorf(imgrec.EINVALID, "%s: %s is %s, want %s", op, id, in.State, joinStates(allowed))
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func joinStates(states []imgrec.InstanceState) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	return strings.Join(s, " or ")
}

// CheckCapacity refuses, with ECONFLICT, to add n active (pending or
// running) machines to all beyond Max.
func (f Fleet) CheckCapacity(op string, all []imgrec.Instance, n int) error {
	active := imgrec.CountActive(all)
	if active+n > f.Max {
		return imgrec.Errorf(imgrec.ECONFLICT, "%s: %d of at most %d %s are pending or running; %d more would pass the limit",
			op, active, f.Max, f.Words.Many, n)
	}
	return nil
}
