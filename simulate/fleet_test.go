package simulate

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

// TestFleetByHand: a cheap provider of 1 that boots in 2 s, free and
// billed by the second, and a dear one of 2 that boots in 5 s at 0.5 a
// second with a 60 s minimum, given dearest first. Three requests at 0;
// the policy launches 4 at its first look (at p): 1 goes to cheap, 2 to
// dear, 1 is refused. Cheap is up at p+2 and serves the three requests
// (done at p+3, p+4, p+5); the dear ones come up at p+5 to no work; the
// look at p+5 stops all three.
func TestFleetByHand(t *testing.T) {
	s := time.Second
	cfg := Config{
		Workload: Workload{Spec: "by hand", Arrivals: []time.Duration{0, 0, 0}},
		Providers: []Provider{
			{Name: "dear", Instances: Instances{Launch: Constant(5 * s), Restart: Constant(s), Stop: Constant(s)}, Max: 2, Price: 0.5, MinBilled: time.Minute},
			{Name: "cheap", Instances: Instances{Launch: Constant(2 * s), Restart: Constant(s), Stop: Constant(s)}, Max: 1},
		},
		Service: Constant(s),
		Seed:    1,
	}
	d := &script{every: time.Second}
	d.decisions = append(d.decisions, func(autoscale.Observation) autoscale.Decision { return autoscale.Decision{Launch: 4} })
	for range 10 {
		d.decisions = append(d.decisions, func(o autoscale.Observation) autoscale.Decision {
			var stop []string
			for _, in := range o.Instances {
				if o.Stats.Depth() == 0 && in.State == "running" {
					stop = append(stop, in.ID)
				}
			}
			return autoscale.Decision{Stop: stop}
		})
	}
	r, err := Run(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	p := d.seen[0].Time.Sub(epoch)
	at2 := d.seen[2] // p+2: cheap up, the dear ones booting
	var ids, providers []string
	for _, in := range at2.Instances {
		ids, providers = append(ids, in.ID), append(providers, in.Provider)
	}
	if !reflect.DeepEqual(ids, []string{"cheap:i-1", "dear:i-2", "dear:i-3"}) || !reflect.DeepEqual(providers, []string{"cheap", "dear", "dear"}) {
		t.Errorf("at p+2 the policy saw %v on %v; want cheap:i-1, then dear:i-2 and dear:i-3", ids, providers)
	}
	want := []ProviderResult{
		{Name: "cheap", Launches: 1, Peak: 1, InstanceSeconds: 6, BilledSeconds: 3}, // pending 2, running 3, stopping 1
		{Name: "dear", Launches: 2, Peak: 2, InstanceSeconds: 12, BilledSeconds: 120, Cost: 60},
	}
	for i := range r.Providers {
		if math.Abs(r.Providers[i].InstanceSeconds-want[i].InstanceSeconds) < 1e-9 {
			r.Providers[i].InstanceSeconds = want[i].InstanceSeconds
		}
	}
	if !reflect.DeepEqual(r.Providers, want) || r.Cost != 60 || r.BilledSeconds != 123 || r.Refused != 1 || r.Launches != 3 ||
		r.Peak != 3 || r.Completion != p+5*s || r.P50 != p+4*s {
		t.Errorf("got %+v\nproviders %+v\nwant providers %+v, cost 60, billed 123, 1 refused, 3 launched, peak 3, completion p+5, p50 p+4", r, r.Providers, want)
	}
}

// TestFleetOfOneIsTheSingleProvider: EC2 alone as a fleet of one (what
// `simulate --provider nova,ec2` compares with) gives what the simulator
// gives for EC2 without providers, the tables of docs/autoscaling.md,
// Results.
func TestFleetOfOneIsTheSingleProvider(t *testing.T) {
	for _, burst := range []string{"burst:100", "burst:416"} {
		w, _ := ParseWorkload(burst, 3)
		single := Config{Workload: w, Instances: InstancePresets["ec2"], Service: Constant(200 * time.Millisecond), Seed: 3}
		a, err := Compare(single, autoscale.Catalog, autoscale.Config{Max: 20, MinBilled: autoscale.EC2MinBilled})
		if err != nil {
			t.Fatal(err)
		}
		ec2 := ProviderPresets["ec2"]
		ec2.Max = 20
		fleet := single
		fleet.Providers = []Provider{ec2}
		b, err := Compare(fleet, autoscale.Catalog, autoscale.Config{Max: 20, Parts: Parts(fleet.Providers)})
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			x, y := *a[i], *b[i]
			if math.Abs(y.Cost-y.BilledSeconds*ec2.Price) > 1e-9 || len(y.Providers) != 1 {
				t.Errorf("%s %s: cost %v for %v billed seconds", burst, x.Policy, y.Cost, y.BilledSeconds)
			}
			y.Cost, y.Providers = 0, nil
			if !reflect.DeepEqual(x, y) {
				t.Errorf("%s policy %s: alone as a fleet of one\n%+v\nwithout providers\n%+v", burst, x.Policy, y, x)
			}
		}
	}
}

// TestBurstingSaves: a private cloud of 4 (free, Nova's assumed boots) with
// EC2 for the rest of 20 costs policy e less than EC2 alone with 20, over
// seeds 1-10 of each course burst, and on each of three compressed days.
// Not on every burst: where the 4 Nova boots come too late to work, e
// cancels them and the bill is EC2's alone (4 of the 40 runs), or a little
// more.
func TestBurstingSaves(t *testing.T) {
	e, _ := autoscale.Lookup("e")
	run := func(workload string, seed uint64) (fleet, alone *Result) {
		w, err := ParseWorkload(workload, seed)
		if err != nil {
			t.Fatal(err)
		}
		nova, ec2 := ProviderPresets["nova"], ProviderPresets["ec2"]
		nova.Max, ec2.Max = 4, 16
		cfg := Config{Workload: w, Providers: []Provider{nova, ec2}, Service: Constant(200 * time.Millisecond), Seed: seed}
		f, err := Compare(cfg, []autoscale.Named{e}, autoscale.Config{Max: 20, Parts: Parts(cfg.Providers)})
		if err != nil {
			t.Fatal(err)
		}
		ec2.Max = 20
		cfg.Providers = []Provider{ec2}
		a, err := Compare(cfg, []autoscale.Named{e}, autoscale.Config{Max: 20, Parts: Parts(cfg.Providers)})
		if err != nil {
			t.Fatal(err)
		}
		return f[0], a[0]
	}
	for _, burst := range []string{"burst:100", "burst:150", "burst:200", "burst:416"} {
		var fleet, alone float64
		for seed := uint64(1); seed <= 10; seed++ {
			f, a := run(burst, seed)
			fleet, alone = fleet+f.Cost, alone+a.Cost
		}
		if fleet >= alone {
			t.Errorf("%s, seeds 1-10: the fleet cost %.4f, EC2 alone %.4f", burst, fleet, alone)
		}
	}
	for seed := uint64(1); seed <= 3; seed++ {
		f, a := run("day:40,2h", seed)
		if f.Cost >= 0.7*a.Cost || f.P95 > a.P95+time.Second {
			t.Errorf("day:40,2h seed %d: the fleet cost %.4f at p95 %s, EC2 alone %.4f at p95 %s; want under 70 %% within a second",
				seed, f.Cost, f.P95, a.Cost, a.P95)
		}
	}
}
