package simulate

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
)

// script is a Policy that returns prepared decisions in turn, then nothing,
// and records what it observed.
type script struct {
	every     time.Duration
	decisions []func(autoscale.Observation) autoscale.Decision
	seen      []autoscale.Observation
}

func (s *script) Cadence() autoscale.Cadence { return autoscale.Cadence{Every: s.every} }

func (s *script) Decide(o autoscale.Observation) autoscale.Decision {
	s.seen = append(s.seen, o)
	if len(s.decisions) == 0 {
		return autoscale.Decision{}
	}
	d := s.decisions[0](o)
	s.decisions = s.decisions[1:]
	return d
}

func constantWorld(t *testing.T, workload string) Config {
	t.Helper()
	w, err := ParseWorkload(workload, 1)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Workload:  w,
		Instances: Instances{Launch: Constant(10 * time.Second), Restart: Constant(2 * time.Second), Stop: Constant(3 * time.Second)},
		Service:   Constant(time.Second),
		Seed:      1,
	}
}

// TestOneInstanceByHand checks the model against a run worked out by hand:
// 4 requests at 0, one instance launched at the first step, booting 10 s,
// serving 1 s each, stopped once done.
func TestOneInstanceByHand(t *testing.T) {
	d := &script{every: time.Second}
	launch := func(autoscale.Observation) autoscale.Decision { return autoscale.Decision{Launch: 1} }
	d.decisions = append(d.decisions, launch)
	for range 20 {
		d.decisions = append(d.decisions, func(o autoscale.Observation) autoscale.Decision {
			if o.Stats.Depth() == 0 && len(o.Instances) == 1 && o.Instances[0].State == imgrec.StateRunning {
				return autoscale.Decision{Stop: []string{o.Instances[0].ID}}
			}
			return autoscale.Decision{}
		})
	}
	r, err := Run(constantWorld(t, "burst:4"), d)
	if err != nil {
		t.Fatal(err)
	}
	// The first step falls in [0, 1 s): call it p. Ready at p+10, requests
	// done at p+11..p+14; the step at p+14 comes after the last is done
	// and stops the instance, gone 3 s later.
	p := d.seen[0].Time.Sub(epoch)
	if p < 0 || p >= time.Second {
		t.Fatalf("first step at %s, want within the first period", p)
	}
	want := Result{
		Requests: 4, Completion: p + 14*time.Second,
		P50: p + 12*time.Second, P95: p + 14*time.Second, P99: p + 14*time.Second, Max: p + 14*time.Second,
		InstanceSeconds: 17, // pending 10 + running 4 + stopping 3
		BilledSeconds:   60, // 4 s running, billed the minimum
		Peak:            1, BackToZero: 3 * time.Second, Launches: 1,
	}
	got := *r
	got.Latencies, got.Timeline = nil, nil
	if math.Abs(got.InstanceSeconds-want.InstanceSeconds) < 1e-9 {
		got.InstanceSeconds = want.InstanceSeconds
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The policy saw the instance through its life.
	var states []string
	for _, o := range d.seen {
		for _, in := range o.Instances {
			s := string(in.State)
			if in.Busy {
				s += "+busy"
			}
			if len(states) == 0 || states[len(states)-1] != s {
				states = append(states, s)
			}
		}
	}
	if want := []string{"pending", "running+busy", "running", "stopping", "stopped"}; !reflect.DeepEqual(states, want) {
		t.Errorf("states seen %v, want %v", states, want)
	}
}

// restartByHand is the policy of TestSeveralInstancesAndWarmRestartByHand:
// with work waiting and no instance pending or running, it starts every
// stopped instance and launches 2 minus those, at least 1; with no work,
// it stops the idle running instances and terminates the pending ones.
type restartByHand struct{ seen []autoscale.Observation }

func (*restartByHand) Cadence() autoscale.Cadence { return autoscale.Cadence{Every: time.Second} }

func (p *restartByHand) Decide(o autoscale.Observation) autoscale.Decision {
	p.seen = append(p.seen, o)
	var d autoscale.Decision
	var stopped, pending, running []imgrec.Instance
	for _, in := range o.Instances {
		switch in.State {
		case imgrec.StateStopped:
			stopped = append(stopped, in)
		case imgrec.StatePending:
			pending = append(pending, in)
		case imgrec.StateRunning:
			running = append(running, in)
		}
	}
	switch {
	case o.Stats.Depth() > 0 && len(pending)+len(running) == 0:
		for _, in := range stopped {
			d.Start = append(d.Start, in.ID)
		}
		d.Launch = max(1, 2-len(stopped))
	case o.Stats.Depth() == 0:
		for _, in := range running {
			if !in.Busy {
				d.Stop = append(d.Stop, in.ID)
			}
		}
		for _, in := range pending {
			d.Terminate = append(d.Terminate, in.ID)
		}
	}
	return d
}

// TestSeveralInstancesAndWarmRestartByHand checks the simulator against a
// run with two bursts worked out by hand. Launch 10 s, restart 2 s, stop
// 3 s, service 1 s; 4 requests at 0 and 3 at 40 s; restartByHand looks
// every second from p, its first look, somewhere in [0, 1 s).
//
//	p      depth 4, nothing up: launch i-1, i-2 (pending, not billed)
//	p+10   both running: i-1 takes r0, i-2 r1 (the first ready pulls first)
//	p+11   r0, r1 done (latency p+11); i-1 takes r2, i-2 r3
//	p+12   r2, r3 done (p+12); depth 0: stop both, idle. Billed: 2 s run
//	       each, the 60 s minimum: 120. Both stopping until p+15.
//	p+15   stopped. Instance-seconds so far: 2 × (10 + 2 + 3) = 30.
//	40     r4, r5, r6 arrive; nothing running takes them.
//	p+40   depth 3, two stopped: start i-1, i-2 (warm, 2 s), launch i-3 (10 s).
//	       Peak: 3 pending.
//	p+42   i-1, i-2 running: i-1 takes r4, i-2 r5.
//	p+43   r4, r5 done (latency p+3); i-1 takes r6; i-2 idle. Depth 1: nothing.
//	p+44   r6 done (p+4); depth 0: stop i-1, i-2 (billed 2 s each: 60 + 60),
//	       terminate i-3, still pending (never billed).
//	p+47   all three stopped; i-3 is gone. Back to zero 3 s after the last
//	       answer. Instance-seconds: 30 + (2+2+3) + (2+2+3) + (4+3) = 51.
//
// Latencies, sorted: p+3, p+3, p+4, p+11, p+11, p+12, p+12; by nearest
// rank of 7: p50 the 4th (p+11), p95 and p99 the 7th (p+12). Completion:
// first arrival (0) to last answer (p+44). Billed: 240.
func TestSeveralInstancesAndWarmRestartByHand(t *testing.T) {
	s := time.Second
	cfg := Config{
		Workload:  Workload{Spec: "by hand", Arrivals: []time.Duration{0, 0, 0, 0, 40 * s, 40 * s, 40 * s}},
		Instances: Instances{Launch: Constant(10 * s), Restart: Constant(2 * s), Stop: Constant(3 * s)},
		Service:   Constant(s),
		Seed:      5,
	}
	policy := &restartByHand{}
	r, err := Run(cfg, policy)
	if err != nil {
		t.Fatal(err)
	}
	p := policy.seen[0].Time.Sub(epoch)
	if p < 0 || p >= s {
		t.Fatalf("first look at %s, want within the first second", p)
	}
	want := Result{
		Requests: 7, Completion: p + 44*s,
		P50: p + 11*s, P95: p + 12*s, P99: p + 12*s, Max: p + 12*s,
		InstanceSeconds: 51, BilledSeconds: 240,
		Peak: 3, BackToZero: 3 * s, Launches: 3, Starts: 2,
		Latencies: []time.Duration{p + 3*s, p + 3*s, p + 4*s, p + 11*s, p + 11*s, p + 12*s, p + 12*s},
	}
	got := *r
	got.Timeline = nil
	if math.Abs(got.InstanceSeconds-want.InstanceSeconds) < 1e-9 {
		got.InstanceSeconds = want.InstanceSeconds
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// What the policy saw at p+40: the three requests, and both instances
	// stopped since p+15.
	at40 := policy.seen[40]
	if at40.Time.Sub(epoch) != p+40*s || at40.Stats.Waiting != 3 || len(at40.Instances) != 2 {
		t.Fatalf("at p+40 the policy saw %+v", at40)
	}
	for _, in := range at40.Instances {
		if in.State != imgrec.StateStopped || in.Since.Sub(epoch) != p+15*s {
			t.Errorf("at p+40: %+v, want stopped since p+15", in)
		}
	}
	// And at the end nothing is left but the two stopped instances.
	last := policy.seen[len(policy.seen)-1]
	if last.Time.Sub(epoch) != p+47*s || len(last.Instances) != 2 || last.Instances[0].State != imgrec.StateStopped || last.Instances[1].State != imgrec.StateStopped {
		t.Errorf("last look %+v, want i-1 and i-2 stopped at p+47", last)
	}
}

func TestBillingRules(t *testing.T) {
	// Launch 1 at the first step, then at once stop it while still pending.
	cancel := &script{every: time.Second}
	cancel.decisions = []func(autoscale.Observation) autoscale.Decision{
		func(autoscale.Observation) autoscale.Decision { return autoscale.Decision{Launch: 1} },
		func(o autoscale.Observation) autoscale.Decision {
			return autoscale.Decision{Terminate: []string{o.Instances[0].ID}}
		},
	}
	cfg := constantWorld(t, "burst:1")
	cfg.Horizon = time.Minute
	r, err := Run(cfg, cancel)
	if err != nil {
		t.Fatal(err)
	}
	if r.BilledSeconds != 0 || r.Unfinished != 1 || r.Completion != -1 || r.BackToZero != -1 {
		t.Errorf("cancelled while pending: billed %v, unfinished %d, completion %s, back to zero %s; want 0, 1, never, never",
			r.BilledSeconds, r.Unfinished, r.Completion, r.BackToZero)
	}
	if math.Abs(r.InstanceSeconds-4) > 1e-9 { // 1 s pending + 3 s stopping
		t.Errorf("instance-seconds %v, want 4", r.InstanceSeconds)
	}

	cancel.decisions = cancel.decisions[:0]
	cancel.decisions = append(cancel.decisions,
		func(autoscale.Observation) autoscale.Decision { return autoscale.Decision{Launch: 1} },
		func(o autoscale.Observation) autoscale.Decision {
			return autoscale.Decision{Terminate: []string{o.Instances[0].ID}}
		})
	cfg.BillBoot = true
	if r, _ = Run(cfg, cancel); r.BilledSeconds != 60 {
		t.Errorf("with BillBoot, a cancelled launch is billed %v s, want the 60 s minimum", r.BilledSeconds)
	}
}

func TestPolicyErrorsAreReported(t *testing.T) {
	for name, d := range map[string]autoscale.Decision{
		"start nothing": {Start: []string{"i-9"}},
		"stop nothing":  {Stop: []string{"i-9"}},
	} {
		s := &script{every: time.Second, decisions: []func(autoscale.Observation) autoscale.Decision{
			func(autoscale.Observation) autoscale.Decision { return d },
		}}
		_, err := Run(constantWorld(t, "burst:1"), s)
		if err == nil || !strings.Contains(err.Error(), "i-9, which does not exist") {
			t.Errorf("%s: %v, want an error naming i-9", name, err)
		}
	}
	// Starting an instance that is running.
	s := &script{every: time.Second}
	s.decisions = append(s.decisions, func(autoscale.Observation) autoscale.Decision { return autoscale.Decision{Launch: 1} })
	for range 15 {
		s.decisions = append(s.decisions, func(o autoscale.Observation) autoscale.Decision {
			if o.Instances[0].State == imgrec.StateRunning {
				return autoscale.Decision{Start: []string{o.Instances[0].ID}}
			}
			return autoscale.Decision{}
		})
	}
	if _, err := Run(constantWorld(t, "burst:1"), s); err == nil || !strings.Contains(err.Error(), "start i-1, which is running") {
		t.Errorf("start of a running instance: %v", err)
	}
	if _, err := Run(Config{}, s); err == nil || imgrec.ErrorCode(err) != imgrec.EINVALID {
		t.Errorf("empty config: %v, want EINVALID", err)
	}
}

// TestStopDrainsBusyInstance: a stop asked while an instance works lets it
// finish its request and take no other.
func TestStopDrainsBusyInstance(t *testing.T) {
	s := &script{every: time.Second}
	s.decisions = append(s.decisions, func(autoscale.Observation) autoscale.Decision { return autoscale.Decision{Launch: 1} })
	stopped := false
	for range 30 {
		s.decisions = append(s.decisions, func(o autoscale.Observation) autoscale.Decision {
			if in := o.Instances[0]; !stopped && in.Busy {
				stopped = true
				return autoscale.Decision{Stop: []string{in.ID}}
			}
			return autoscale.Decision{}
		})
	}
	cfg := constantWorld(t, "burst:3")
	cfg.Horizon = time.Minute
	r, err := Run(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unfinished != 2 {
		t.Errorf("%d requests unanswered, want 2: the drained instance finishes one", r.Unfinished)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	w, _ := ParseWorkload("poisson:3,5m", 7)
	cfg := Config{Workload: w, Instances: InstancePresets["ec2"], Service: Exponential{300 * time.Millisecond}, Seed: 7}
	a, err := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 10, MinBilled: autoscale.EC2MinBilled})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 10, MinBilled: autoscale.EC2MinBilled})
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || !reflect.DeepEqual(a[0].Timeline, b[0].Timeline) {
		t.Fatal("two runs with one seed differ")
	}
	cfg.Seed = 8
	c, _ := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 10, MinBilled: autoscale.EC2MinBilled})
	if jc, _ := json.Marshal(c); string(jc) == string(ja) {
		t.Fatal("seeds 7 and 8 gave the same results")
	}
}

// TestOursIsCheapestAtEqualOrBetterP95 is what issue 6 asks to show: on the
// course's bursts with EC2-like boot, policy e bills fewer instance-seconds
// than every other policy, at an equal or better p95. On some seeds of the
// 416 burst every instance gets work and e ties on the bill, so per seed it
// is "no more", and over the seeds, "fewer".
func TestOursIsCheapestAtEqualOrBetterP95(t *testing.T) {
	for _, burst := range []string{"burst:100", "burst:150", "burst:200", "burst:416"} {
		total := map[string]float64{}
		for seed := uint64(1); seed <= 10; seed++ {
			w, _ := ParseWorkload(burst, seed)
			cfg := Config{Workload: w, Instances: InstancePresets["ec2"], Service: Constant(200 * time.Millisecond), Seed: seed}
			results, err := Compare(cfg, autoscale.Catalog, autoscale.Config{Max: 20, MinBilled: autoscale.EC2MinBilled})
			if err != nil {
				t.Fatal(err)
			}
			ours := results[len(results)-1]
			for _, r := range results {
				total[r.Policy] += r.BilledSeconds
				if r == ours {
					continue
				}
				if ours.BilledSeconds > r.BilledSeconds || ours.P95 > r.P95 {
					t.Errorf("%s seed %d: e billed %.0f s at p95 %s; %s billed %.0f s at p95 %s",
						burst, seed, ours.BilledSeconds, ours.P95, r.Policy, r.BilledSeconds, r.P95)
				}
			}
		}
		for p, billed := range total {
			if p != "e" && total["e"] >= billed {
				t.Errorf("%s: over 10 seeds e billed %.0f s, %s %.0f s", burst, total["e"], p, billed)
			}
		}
	}
}
