package autoscale

import (
	"slices"
	"strings"

	"github.com/imgrec/imgrec"
)

// Named is a policy by the letter `imgrec simulate --policy` knows it by.
type Named struct {
	Name    string
	Summary string // one sentence, for tables and help
	New     func(Config) Policy
}

// Catalog lists the policies in comparison order, ours last.
var Catalog = []Named{
	{"a", "one instance per waiting request up to the max, create-or-restart, each instance stops itself after 10 s idle",
		func(cfg Config) Policy { return NewSelfStop(cfg) }},
	{"b", "as (a), but the controller asks idle instances to shut down once the queue has been empty for 10 s, and a request in that time cancels it",
		func(cfg Config) Policy { return NewGracefulStop(cfg) }},
	{"c", "desired = min(depth, max) every 5 s, launching new instances and terminating idle surplus ones",
		func(cfg Config) Policy { return NewDepthCap(cfg) }},
	{"d", "KEDA's SQS scaler defaults: 30 s polling, 5 requests per instance through the HPA, 300 s stabilization and cooldown",
		func(cfg Config) Policy { return NewKEDA(cfg) }},
	{"e", "ours: backlog per instance; nothing launched that would come up after the backlog is gone, and boots cancelled while it drains; warm pool first; to zero as soon as that saves money",
		func(cfg Config) Policy { return NewBootAware(cfg) }},
}

// Lookup finds a policy of the Catalog by name.
func Lookup(name string) (Named, error) {
	i := slices.IndexFunc(Catalog, func(n Named) bool { return n.Name == name })
	if i < 0 {
		names := make([]string, len(Catalog))
		for j, n := range Catalog {
			names[j] = n.Name
		}
		return Named{}, imgrec.Errorf(imgrec.EINVALID, "unknown policy %q: want one of %s", name, strings.Join(names, ", "))
	}
	return Catalog[i], nil
}
