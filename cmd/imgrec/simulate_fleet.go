package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/simulate"
)

// fleetSimulation is `imgrec simulate --provider nova,ec2 ...`.
type fleetSimulation struct {
	names     []string
	caps      *capsFlag
	prices    *priceFlag
	minBilled *minBilledFlag
	boots     string // --boot, if set: NAME=PRESET|DIST,...
	workload  simulate.Workload
	service   simulate.Dist
	seed      uint64
	policies  []autoscale.Named
	out       string
	plots     simulate.PlotOptions
	json      bool
}

// providers builds the simulated providers from the flags.
func (f fleetSimulation) providers() ([]simulate.Provider, error) {
	// Always several providers: simulate runs one alone without the fleet.
	if err := checkPerProvider(f.names, strings.Join(f.names, ","), "--max", f.caps, f.prices, f.minBilled); err != nil {
		return nil, err
	}
	boots := perProvider[simulate.Instances]{}
	if f.boots != "" {
		var err error
		boots, err = parsePerProvider(f.boots, func(v string) (simulate.Instances, error) {
			if p, ok := simulate.ProviderPresets[v]; ok {
				return p.Instances, nil
			}
			if inst, ok := simulate.InstancePresets[v]; ok {
				return inst, nil
			}
			d, err := simulate.ParseDist(v)
			if err != nil {
				return simulate.Instances{}, fmt.Errorf("want a preset (ec2, nova, local, warm) or a DIST: %w", err)
			}
			return simulate.Instances{Launch: d, Restart: d, Stop: simulate.Constant(0)}, nil
		})
		if err != nil {
			return nil, usagef("--boot: %v", err)
		}
	}
	var out []simulate.Provider
	for _, n := range f.names {
		p := simulate.ProviderPresets[n]
		if inst, ok := boots.get(n); ok {
			p.Instances = inst
		} else if p.Name == "" {
			return nil, usagef("--provider %s: no preset for %s; give its boot times with --boot %s=DIST", strings.Join(f.names, ","), n, n)
		}
		p.Name = n
		p.Max, _ = f.caps.per.get(n)
		p.Price = f.prices.price(n)
		p.MinBilled = f.minBilled.of(n)
		out = append(out, p)
	}
	return out, nil
}

// simulateFleet runs the policies on the fleet, and again on its dearest
// provider alone with the fleet's whole cap, and reports both and what
// bursting saved.
func simulateFleet(e *env, f fleetSimulation) error {
	providers, err := f.providers()
	if err != nil {
		return err
	}
	total := *f.caps.total
	cfg := simulate.Config{Workload: f.workload, Providers: providers, Service: f.service, Seed: f.seed}
	results, err := simulate.Compare(cfg, f.policies, autoscale.Config{Max: total, Parts: simulate.Parts(providers)})
	if err != nil {
		return err
	}
	dearest := providers[0]
	for _, p := range providers[1:] {
		if p.Price >= dearest.Price {
			dearest = p
		}
	}
	dearest.Max = total
	alone := []simulate.Provider{dearest}
	cfg.Providers = alone
	aloneResults, err := simulate.Compare(cfg, f.policies, autoscale.Config{Max: total, Parts: simulate.Parts(alone)})
	if err != nil {
		return err
	}

	var desc []string
	for _, p := range providers {
		desc = append(desc, fmt.Sprintf("%s (max %d, %g/h, launch %s, restart %s)", p.Name, p.Max, p.Price*3600, p.Instances.Launch, p.Instances.Restart))
	}
	title := fmt.Sprintf("%s, %s, service %s, seed %d", f.workload.Spec, strings.Join(desc, " + "), f.service, f.seed)
	if f.out != "" {
		paths, err := simulate.WritePlots(f.out, title, results, f.plots)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "plots: %s\n", strings.Join(paths, " "))
	}
	if f.json {
		type providerJSON struct {
			Name             string  `json:"name"`
			Max              int     `json:"max"`
			PricePerHour     float64 `json:"price_per_hour"`
			MinBilledSeconds float64 `json:"min_billed_seconds"`
			Launch           string  `json:"launch"`
			Restart          string  `json:"restart"`
			Stop             string  `json:"stop"`
		}
		var ps []providerJSON
		for _, p := range providers {
			ps = append(ps, providerJSON{p.Name, p.Max, p.Price * 3600, p.MinBilled.Seconds(), p.Instances.Launch.String(), p.Instances.Restart.String(), p.Instances.Stop.String()})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Workload  string             `json:"workload"`
			Providers []providerJSON     `json:"providers"`
			Service   string             `json:"service"`
			Seed      uint64             `json:"seed"`
			Results   []*simulate.Result `json:"results"`
			Alone     string             `json:"alone"` // the provider the fleet is compared with, alone with the whole cap
			AloneRes  []*simulate.Result `json:"alone_results"`
		}{f.workload.Spec, ps, f.service.String(), f.seed, results, dearest.Name, aloneResults})
	}
	fmt.Fprintln(e.stdout, title)
	if err := simulate.WriteTable(e.stdout, results); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nagainst %s alone (max %d), the same requests:\n", dearest.Name, total)
	return simulate.WriteSavings(e.stdout, dearest.Name, results, aloneResults)
}

// isSet reports whether flag name was set (on the command line or from its
// IMGREC_ variable).
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
