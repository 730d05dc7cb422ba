// Package burst implements imgrec.Provider over several providers at once,
// cheapest first: cloud bursting. A private cloud (Nova) takes the workers
// while it has room, and a public one (EC2) takes the rest of a burst.
//
// Each part is a provider with a name, a cap and a price. The composite
// names each instance "PART:ID" (e.g. "nova:5e0c…", "ec2:i-0abc…"), so ids
// are unique across parts, and routes every call by that prefix; it sets
// Instance.Provider to the part's name.
//
//   - Launch(n) fills the cheapest part with room first: each part takes
//     what its cap leaves free (pending + running count toward it), and the
//     rest goes to the next dearest. A Launch that all caps together cannot
//     hold fails with ECONFLICT and launches nothing.
//   - Start, Stop and Terminate act on the ids they are given, part by part,
//     cheapest first. Which stopped instance to restart and which idle one to
//     stop are the policy's choice (autoscale.BootAware restarts the
//     cheapest part's first and stops the dearest part's first, from
//     Instance.Provider and the prices it is given).
//   - List lists every part, cheapest first, and fails if one part does: a
//     fleet seen in part could be grown past its caps.
//
// Calls are all or nothing as far as the composite can tell: an id of no
// part is ENOTFOUND before anything is done; Start checks the caps of the
// parts involved first; and a call that spans several parts first looks
// each id up in its part's listing (state included), so that one bad id
// stops the whole call. What a part refuses only when it acts (its own
// quota, say) can still leave an earlier part's share done; the error says
// which part failed.
package burst

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/imgrec/imgrec"
)

var _ imgrec.Provider = (*Provider)(nil)

// Sep separates a part's name from the part's own instance id.
const Sep = ":"

// Part is one provider of the fleet.
type Part struct {
	// Name is the part's prefix in instance ids and its Instance.Provider,
	// e.g. "nova": letters, digits and hyphens.
	Name     string
	Provider imgrec.Provider
	// Max is the most pending + running instances on this part.
	Max int
	// Price is what an instance costs while it runs, per second, in any
	// currency: only the order matters here (equal prices keep the order
	// of the parts as given).
	Price float64
}

// Provider is a fleet over several parts. It is safe for concurrent use.
type Provider struct {
	parts []Part // cheapest first
	log   *slog.Logger

	capacity sync.Mutex // held from a capacity check to the launch or start it allowed
}

// New returns a Provider over parts (at least one).
func New(parts []Part, log *slog.Logger) (*Provider, error) {
	if len(parts) == 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "burst: no parts")
	}
	seen := map[string]bool{}
	for _, p := range parts {
		switch {
		case !validName(p.Name):
			return nil, imgrec.Errorf(imgrec.EINVALID, "burst: part name %q: want letters, digits and hyphens", p.Name)
		case seen[p.Name]:
			return nil, imgrec.Errorf(imgrec.EINVALID, "burst: part %s given twice", p.Name)
		case p.Provider == nil:
			return nil, imgrec.Errorf(imgrec.EINVALID, "burst: part %s has no provider", p.Name)
		case p.Max < 1:
			return nil, imgrec.Errorf(imgrec.EINVALID, "burst: part %s: max %d, want at least 1", p.Name, p.Max)
		case p.Price < 0 || p.Price != p.Price:
			return nil, imgrec.Errorf(imgrec.EINVALID, "burst: part %s: price %v, want a number >= 0", p.Name, p.Price)
		}
		seen[p.Name] = true
	}
	if log == nil {
		log = slog.Default()
	}
	sorted := slices.Clone(parts)
	slices.SortStableFunc(sorted, func(a, b Part) int {
		switch {
		case a.Price < b.Price:
			return -1
		case a.Price > b.Price:
			return 1
		}
		return 0
	})
	return &Provider{parts: sorted, log: log}, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Parts returns the parts, cheapest first.
func (p *Provider) Parts() []Part { return slices.Clone(p.parts) }

// Max is the sum of the parts' caps.
func (p *Provider) Max() int {
	n := 0
	for _, part := range p.parts {
		n += part.Max
	}
	return n
}

// ID returns the composite id of a part's instance.
func ID(part, id string) string { return part + Sep + id }

// SplitID returns the part and the part's own id of a composite id.
func SplitID(id string) (part, partID string, ok bool) {
	part, partID, ok = strings.Cut(id, Sep)
	return part, partID, ok && part != "" && partID != ""
}

// Launch creates n instances, filling the cheapest part with room first.
func (p *Provider) Launch(ctx context.Context, n int) ([]imgrec.Instance, error) {
	if n < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "launch %d instances: want at least 1", n)
	}
	p.capacity.Lock()
	defer p.capacity.Unlock()
	op := fmt.Sprintf("launch %d instances", n)
	lists, err := p.list(ctx, op, p.indexes())
	if err != nil {
		return nil, err
	}
	plan := make([]int, len(p.parts))
	left := n
	var free []string
	for i, part := range p.parts {
		room := max(part.Max-imgrec.CountActive(lists[i]), 0)
		plan[i] = min(left, room)
		left -= plan[i]
		free = append(free, fmt.Sprintf("%s %d of %d", part.Name, room, part.Max))
	}
	if left > 0 {
		return nil, imgrec.Errorf(imgrec.ECONFLICT, "%s: the parts have room for %d (%s free)", op, n-left, strings.Join(free, ", "))
	}
	var out []imgrec.Instance
	var where []string
	for i, k := range plan {
		if k == 0 {
			continue
		}
		part := p.parts[i]
		insts, err := part.Provider.Launch(ctx, k)
		out = append(out, p.wrap(part, insts)...)
		if err != nil {
			return out, fmt.Errorf("%s: %d on %s: %w", op, k, part.Name, err)
		}
		where = append(where, fmt.Sprintf("%s=%d", part.Name, k))
	}
	p.log.Info("instances launched across providers", "n", n, "placed", strings.Join(where, ","))
	return out, nil
}

// Start restarts stopped instances, unless that would pass a part's cap.
func (p *Provider) Start(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	p.capacity.Lock()
	defer p.capacity.Unlock()
	op := "start " + strings.Join(ids, ", ")
	groups, err := p.route(op, ids)
	if err != nil {
		return err
	}
	lists, err := p.list(ctx, op, keys(groups))
	if err != nil {
		return err
	}
	if err := p.lookup(op, groups, lists, imgrec.StateStopped); err != nil {
		return err
	}
	for i, g := range groups {
		if part := p.parts[i]; imgrec.CountActive(lists[i])+len(g) > part.Max {
			return imgrec.Errorf(imgrec.ECONFLICT, "%s: %d of at most %d instances of %s are pending or running; %d more would pass its cap",
				op, imgrec.CountActive(lists[i]), part.Max, part.Name, len(g))
		}
	}
	return p.each(ctx, op, groups, imgrec.Provider.Start)
}

// Stop drains and stops running instances, keeping them for Start.
func (p *Provider) Stop(ctx context.Context, ids []string) error {
	return p.act(ctx, "stop", ids, imgrec.Provider.Stop)
}

// Terminate drains and removes instances in any state.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	return p.act(ctx, "terminate", ids, imgrec.Provider.Terminate)
}

func (p *Provider) act(ctx context.Context, verb string, ids []string, fn func(imgrec.Provider, context.Context, []string) error) error {
	if len(ids) == 0 {
		return nil
	}
	op := verb + " " + strings.Join(ids, ", ")
	groups, err := p.route(op, ids)
	if err != nil {
		return err
	}
	if len(groups) > 1 {
		// Each part checks its own ids; across parts, look them all up
		// first, so that one bad id stops the whole call.
		lists, err := p.list(ctx, op, keys(groups))
		if err != nil {
			return err
		}
		var states []imgrec.InstanceState
		if verb == "stop" {
			states = []imgrec.InstanceState{imgrec.StatePending, imgrec.StateRunning}
		}
		if err := p.lookup(op, groups, lists, states...); err != nil {
			return err
		}
	}
	return p.each(ctx, op, groups, fn)
}

// List returns every part's instances, cheapest part first.
func (p *Provider) List(ctx context.Context) ([]imgrec.Instance, error) {
	lists, err := p.list(ctx, "list instances", p.indexes())
	if err != nil {
		return nil, err
	}
	var out []imgrec.Instance
	for i, part := range p.parts {
		out = append(out, p.wrap(part, lists[i])...)
	}
	return out, nil
}

// wrap gives a part's instances their composite ids and provider.
func (p *Provider) wrap(part Part, insts []imgrec.Instance) []imgrec.Instance {
	out := make([]imgrec.Instance, len(insts))
	for i, in := range insts {
		in.ID = ID(part.Name, in.ID)
		in.Provider = part.Name
		out[i] = in
	}
	return out
}

// route groups ids by part (index into p.parts), each as the part's own id.
func (p *Provider) route(op string, ids []string) (map[int][]string, error) {
	groups := map[int][]string{}
	for _, id := range ids {
		name, partID, ok := SplitID(id)
		i := slices.IndexFunc(p.parts, func(part Part) bool { return part.Name == name })
		if !ok || i < 0 {
			return nil, imgrec.Errorf(imgrec.ENOTFOUND, "%s: %s is no instance of %s (want PART%sID)", op, id, p.names(), Sep)
		}
		if !slices.Contains(groups[i], partID) {
			groups[i] = append(groups[i], partID)
		}
	}
	return groups, nil
}

// lookup checks that every id of groups is in its part's listing, in one of
// states (any if none).
func (p *Provider) lookup(op string, groups map[int][]string, lists map[int][]imgrec.Instance, states ...imgrec.InstanceState) error {
	for _, i := range keys(groups) {
		for _, id := range groups[i] {
			j := slices.IndexFunc(lists[i], func(in imgrec.Instance) bool { return in.ID == id })
			full := ID(p.parts[i].Name, id)
			if j < 0 {
				return imgrec.Errorf(imgrec.ENOTFOUND, "%s: %s is not an instance of %s", op, full, p.parts[i].Name)
			}
			if st := lists[i][j].State; len(states) > 0 && !slices.Contains(states, st) {
				return imgrec.Errorf(imgrec.EINVALID, "%s: %s is %s", op, full, st)
			}
		}
	}
	return nil
}

// each calls fn on every group's part, cheapest first.
func (p *Provider) each(ctx context.Context, op string, groups map[int][]string, fn func(imgrec.Provider, context.Context, []string) error) error {
	for _, i := range keys(groups) {
		part := p.parts[i]
		if err := fn(part.Provider, ctx, groups[i]); err != nil {
			full := make([]string, len(groups[i]))
			for k, id := range groups[i] {
				full[k] = ID(part.Name, id)
			}
			return fmt.Errorf("%s: on %s (%s): %w", op, part.Name, strings.Join(full, ", "), err)
		}
	}
	return nil
}

// list lists the parts of the given indexes.
func (p *Provider) list(ctx context.Context, op string, which []int) (map[int][]imgrec.Instance, error) {
	out := map[int][]imgrec.Instance{}
	for _, i := range which {
		insts, err := p.parts[i].Provider.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: list %s: %w", op, p.parts[i].Name, err)
		}
		out[i] = insts
	}
	return out, nil
}

func (p *Provider) indexes() []int {
	out := make([]int, len(p.parts))
	for i := range out {
		out[i] = i
	}
	return out
}

func (p *Provider) names() string {
	names := make([]string, len(p.parts))
	for i, part := range p.parts {
		names[i] = part.Name
	}
	return strings.Join(names, ", ")
}

func keys(m map[int][]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
