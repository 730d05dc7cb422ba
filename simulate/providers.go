package simulate

import (
	"cmp"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

// Provider is one part of a fleet over several providers, as package burst
// runs it: a launch goes to the cheapest provider with room (pending +
// running below Max), or is refused; a start of an instance whose provider
// is full is refused too (both counted in Result.Refused, as the live
// controller logs them and carries on). Each run of an instance is billed
// by the second, at least MinBilled, at Price a second.
type Provider struct {
	Name      string
	Instances Instances
	Max       int
	Price     float64       // per billed second
	MinBilled time.Duration // per run (EC2: a minute)
}

// ProviderPresets are the providers `imgrec simulate --provider` knows by
// name, with their defaults: ec2 as InstancePresets["ec2"], a minute's
// minimum and t3.medium's on-demand price (us-east-1, Linux); nova, a
// private OpenStack cloud, slower to boot a new server (the image is copied
// to the compute host first) and to start a stopped one (a cold OS boot),
// at no price of its own and no minimum; local, worker processes. The nova
// timings are assumptions to set apart from EC2's, not measurements: give
// your own with --boot nova=DIST.
var ProviderPresets = map[string]Provider{
	"ec2": {Name: "ec2", Instances: InstancePresets["ec2"], Price: 0.0416 / 3600, MinBilled: autoscale.EC2MinBilled},
	"nova": {Name: "nova", Instances: Instances{
		Launch:  Uniform{30 * time.Second, 60 * time.Second},
		Restart: Uniform{10 * time.Second, 20 * time.Second},
		Stop:    Constant(10 * time.Second),
	}},
	"local": {Name: "local", Instances: InstancePresets["local"]},
}

// ProviderResult is one provider's share of a Result.
type ProviderResult struct {
	Name            string  `json:"name"`
	Launches        int     `json:"launches"`
	Starts          int     `json:"starts"`
	Peak            int     `json:"peak_instances"` // most pending + running at once
	InstanceSeconds float64 `json:"instance_seconds"`
	BilledSeconds   float64 `json:"billed_instance_seconds"`
	Cost            float64 `json:"cost"` // billed seconds × price
}

// provider is a Provider in a run, with its own random streams.
type provider struct {
	Provider
	rngLaunch, rngRestart, rngStop *rand.Rand
	res                            ProviderResult
}

// newProviders returns the run's providers, cheapest first. Without
// Config.Providers it is one of Config.Instances, uncapped, billed as EC2.
// It, or else the dearest provider (the public cloud a fleet bursts to
// last), draws its boot and stop delays from the same streams, so that
// that provider sees the same delays alone as beside others, and as in a
// run without Providers; the others draw from streams of their names.
func newProviders(cfg Config) []*provider {
	streams := func(p *provider, seed uint64) *provider {
		p.rngLaunch = rand.New(rand.NewPCG(seed, streamLaunch))
		p.rngRestart = rand.New(rand.NewPCG(seed, streamRestart))
		p.rngStop = rand.New(rand.NewPCG(seed, streamStop))
		return p
	}
	if len(cfg.Providers) == 0 {
		return []*provider{streams(&provider{Provider: Provider{Instances: cfg.Instances, MinBilled: autoscale.EC2MinBilled}}, cfg.Seed)}
	}
	var out []*provider
	for _, p := range cfg.Providers {
		out = append(out, &provider{Provider: p, res: ProviderResult{Name: p.Name}})
	}
	slices.SortStableFunc(out, func(a, b *provider) int { return cmp.Compare(a.Price, b.Price) })
	for i, p := range out {
		seed := cfg.Seed
		if i < len(out)-1 {
			h := fnv.New64a()
			h.Write([]byte(p.Name))
			seed ^= h.Sum64()
		}
		streams(p, seed)
	}
	return out
}

// Parts is what a policy is told of cfg's providers (autoscale.Config.Parts).
func Parts(providers []Provider) []autoscale.Part {
	var out []autoscale.Part
	for _, p := range providers {
		out = append(out, autoscale.Part{Name: p.Name, Max: p.Max, Price: p.Price, MinBilled: p.MinBilled})
	}
	return out
}
