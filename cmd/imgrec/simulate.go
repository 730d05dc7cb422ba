package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/simulate"
)

func init() {
	register("simulate", "compare autoscaling policies in a discrete-event simulation (virtual time)", runSimulate)
}

const simulateUsage = `simulate [--policy a,b,c,d,e] [--workload SPEC] [--boot ec2|warm|local|DIST] [--service DIST] [--max N] [--seed N] [--out DIR [--xmax 60s] [--measured CSV]] [--json]
       simulate --provider nova,ec2 --max nova=4,ec2=16 [--price nova=0,ec2=0.0416/h] [--boot nova=DIST,...] [flags]

Runs each policy against the same simulated instances and requests, in
virtual time, and prints per policy: completion time, p50/p95/p99 latency,
instance-seconds, billed instance-seconds (EC2: running time by the second,
60 s minimum per run), peak instances, time back to zero, launches, restarts.
--out DIR draws instances.svg and depth.svg (over time), latency-cdf.svg and
cost-latency.svg (billed instance-seconds against p95 latency, a point per
policy).

With several providers (--provider nova,ec2) the fleet fills the cheapest
with room first, as 'imgrec controller' does; each provider has its cap
(--max), price (--price), boot times (--boot NAME=PRESET|DIST; presets ec2,
nova, local, warm) and billed minimum (--min-billed; ec2 1m, others 0). The
table adds each policy's cost and each provider's billed seconds, and a
second table compares it with the dearest provider alone, capped at the
total: what bursting saves.

Policies:
%s
Workload SPEC: %s.

DIST: %s.
`

func runSimulate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "simulate", "")
	fs.Usage = func() {
		var policies strings.Builder
		for _, n := range autoscale.Catalog {
			fmt.Fprintf(&policies, "  %s  %s\n", n.Name, n.Summary)
		}
		fmt.Fprintf(e.stderr, "Usage: imgrec "+simulateUsage, policies.String(), simulate.WorkloadSyntax, simulate.DistSyntax)
		fmt.Fprintln(e.stderr, "\nFlags (each also settable as IMGREC_<NAME>):")
		printDefaults(fs, e.stderr)
	}
	policies := fs.String("policy", "a,b,c,d,e", "policies to compare, comma-separated")
	workload := fs.String("workload", "burst:100", "when requests arrive (SPEC above)")
	boot := fs.String("boot", "ec2", "instances: ec2 (launch 26-40 s, restart 4-6 s, stop 5 s), warm (every start 4-6 s), local (0.1 s), or a DIST for launch and restart; "+
		"with several providers, NAME=PRESET|DIST each (nova: launch 30-60 s, restart 10-20 s, stop 10 s; default: the preset of the provider's name)")
	restart := fs.String("restart", "", "boot of a stopped instance started again, a DIST (default: as --boot says)")
	stop := fs.String("stop", "", "stopping to stopped once idle, a DIST (default: as --boot says; 0 for a DIST)")
	service := fs.String("service", "0.2s", "time one request takes on one instance, a DIST")
	maxInstances := autoscale.DefaultMax
	caps := capsFlag{total: &maxInstances}
	fs.Var(&caps, "max", "most instances a policy may have (default 20); with several providers, a cap each: nova=4,ec2=16")
	providers := fs.String("provider", "", "one provider (the default: as --boot says, billed as EC2), or several, comma-separated, cheapest filled first: nova,ec2")
	var prices priceFlag
	fs.Var(&prices, "price", "with several providers, an instance's price while billed, per hour (0.0416 or 0.0416/h), minute (/min) or second (/s) (default: nova=0,local=0,ec2=0.0416/h)")
	var minBilled minBilledFlag
	fs.Var(&minBilled, "min-billed", "with several providers, the least billed per run of an instance, one duration or one each (default: ec2=1m, others 0)")
	seed := fs.Uint64("seed", 1, "seed of every random draw: one seed, one run")
	billBoot := fs.Bool("bill-boot", false, "bill the boot (pending) time too, as if most of it came after EC2 reports running")
	out := fs.String("out", "", "write SVG plots (instances and depth over time, latency CDF, cost against p95) into this directory")
	xMax := fs.Duration("xmax", 0, "end the time axis of the instance and depth plots here, e.g. 60s (default: the whole run)")
	measured := fs.String("measured", "", "`CSV` of `imgrec loadgen --out`: draw its latencies on latency-cdf.svg beside the policies'")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

	var named []autoscale.Named
	for _, name := range strings.Split(*policies, ",") {
		n, err := autoscale.Lookup(strings.TrimSpace(name))
		if err != nil {
			return usagef("--policy: %v", err)
		}
		named = append(named, n)
	}
	w, err := simulate.ParseWorkload(*workload, *seed)
	if err != nil {
		return usagef("--workload: %v", err)
	}
	svc, err := simulate.ParseDist(*service)
	if err != nil {
		return usagef("--service: %v", err)
	}
	switch {
	case *xMax < 0:
		return usagef("--xmax %v: must not be negative", *xMax)
	case *out == "" && (*xMax != 0 || *measured != ""):
		return usagef("--xmax and --measured shape the plots: give --out DIR")
	}
	opt := simulate.PlotOptions{XMax: *xMax}
	if *measured != "" {
		line, err := readMeasured(*measured)
		if err != nil {
			return err
		}
		opt.Measured = append(opt.Measured, line)
	}
	if names := splitList(*providers); len(names) > 1 {
		if *restart != "" || *stop != "" || *billBoot {
			return usagef("--restart, --stop and --bill-boot are for one provider; with several, give --boot NAME=DIST each")
		}
		boots := ""
		if isSet(fs, "boot") {
			boots = *boot
		}
		return simulateFleet(e, fleetSimulation{names: names, caps: &caps, prices: &prices, minBilled: &minBilled, boots: boots,
			workload: w, service: svc, seed: *seed, policies: named, out: *out, plots: opt, json: *jsonOut})
	}
	if len(caps.per.names) > 0 || len(prices.per.names) > 0 || minBilled.String() != "" {
		return usagef("--max NAME=N, --price and --min-billed are for several providers (--provider nova,ec2)")
	}
	inst, ok := simulate.InstancePresets[*boot]
	if !ok {
		d, err := simulate.ParseDist(*boot)
		if err != nil {
			return usagef("--boot: want ec2, warm, local or a DIST: %v", err)
		}
		inst = simulate.Instances{Launch: d, Restart: d, Stop: simulate.Constant(0)}
	}
	if *restart != "" {
		if inst.Restart, err = simulate.ParseDist(*restart); err != nil {
			return usagef("--restart: %v", err)
		}
	}
	if *stop != "" {
		if inst.Stop, err = simulate.ParseDist(*stop); err != nil {
			return usagef("--stop: %v", err)
		}
	}

	cfg := simulate.Config{Workload: w, Instances: inst, Service: svc, Seed: *seed, BillBoot: *billBoot}
	results, err := simulate.Compare(cfg, named, autoscale.Config{Max: maxInstances, MinBilled: autoscale.EC2MinBilled})
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s, boot %s, service %s, max %d, seed %d", w.Spec, *boot, svc, maxInstances, *seed)
	if *out != "" {
		paths, err := simulate.WritePlots(*out, title, results, opt)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "plots: %s\n", strings.Join(paths, " "))
	}
	if *jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Workload string             `json:"workload"`
			Boot     string             `json:"boot"`
			Restart  string             `json:"restart"`
			Stop     string             `json:"stop"`
			Service  string             `json:"service"`
			Max      int                `json:"max"`
			Seed     uint64             `json:"seed"`
			BillBoot bool               `json:"bill_boot"`
			Results  []*simulate.Result `json:"results"`
		}{w.Spec, inst.Launch.String(), inst.Restart.String(), inst.Stop.String(), svc.String(), maxInstances, *seed, *billBoot, results})
	}
	fmt.Fprintln(e.stdout, title)
	return simulate.WriteTable(e.stdout, results)
}

// latencyLine is loadgen's records as a line of the latency CDF: every
// record a request, the dropped ones never answered.
func latencyLine(name string, records []loadgen.Record) simulate.LatencyLine {
	line := simulate.LatencyLine{Name: name, Requests: len(records)}
	for _, r := range records {
		if r.Outcome != loadgen.OutcomeDropped {
			line.Latencies = append(line.Latencies, r.Latency)
		}
	}
	return line
}

// readMeasured reads the latencies of a loadgen CSV as a line of the
// latency CDF; requests it could not send count as never answered.
func readMeasured(path string) (simulate.LatencyLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return simulate.LatencyLine{}, imgrec.WrapError(imgrec.EINVALID, err, "--measured")
	}
	defer f.Close()
	records, err := loadgen.ReadCSV(f, path)
	if err != nil {
		return simulate.LatencyLine{}, err
	}
	line := latencyLine("measured: "+filepath.Base(path), records)
	if len(records) == 0 {
		return line, imgrec.Errorf(imgrec.EINVALID, "--measured %s: no requests", path)
	}
	return line, nil
}
