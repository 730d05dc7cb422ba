// Package simulate runs autoscaling policies (autoscale.Policy, the same
// code the live controller runs) against simulated worker instances and
// workloads in virtual time, and reports what each costs and how fast it
// answers.
//
// The model: requests wait in one FIFO queue; a running instance works on
// one request at a time, for a service time drawn per request; an instance
// is pending for a boot delay after a launch (or a shorter one after a
// restart from stopped), and a stop drains it: it finishes its request,
// then is stopping for a stop delay. The policy observes queue depth and
// instances at its own cadence, and its actions take effect at once.
//
// Billing follows EC2: a run is billed from when the instance is running
// until it is asked to stop (or, if busy then, until its request is done),
// by the second, with a 60 s minimum per run;
// pending and stopping are not billed (Config.BillBoot bills pending too,
// for instances whose boot is mostly OS start after EC2 reports running).
// Instance-seconds count every pending, running and stopping second,
// unrounded.
//
// Every random draw comes from math/rand/v2 PCG streams seeded by
// Config.Seed, one stream per purpose, and service times are drawn per
// request, so policies compared on one seed see the same requests and the
// same sequence of boot delays.
package simulate

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
)

// DefaultHorizon is how long a run may go on after the last arrival.
const DefaultHorizon = time.Hour

// nudgeGap is the live controller's least gap between steps on arrivals.
const nudgeGap = 100 * time.Millisecond

// The random streams, one per purpose, so adding draws to one leaves the
// others unchanged.
const (
	streamWorkload = iota + 1
	streamService
	streamLaunch
	streamRestart
	streamStop
	streamPhase
)

// Instances is how simulated instances behave.
type Instances struct {
	Launch  Dist // boot delay of a new instance, pending to running
	Restart Dist // boot delay of a stopped instance started again
	Stop    Dist // stopping to stopped, once idle
}

// InstancePresets names the instance models of `--boot`.
var InstancePresets = map[string]Instances{
	// EC2 from an AMI: 26–40 s to a pulling worker; a stopped instance of
	// the warm pool starts in about 5 s.
	"ec2": {Launch: Uniform{26 * time.Second, 40 * time.Second}, Restart: Uniform{4 * time.Second, 6 * time.Second}, Stop: Constant(5 * time.Second)},
	// Every start comes from an initialised warm pool.
	"warm": {Launch: Uniform{4 * time.Second, 6 * time.Second}, Restart: Uniform{4 * time.Second, 6 * time.Second}, Stop: Constant(5 * time.Second)},
	// Worker processes on one machine (imgrec serve).
	"local": {Launch: Constant(100 * time.Millisecond), Restart: Constant(100 * time.Millisecond), Stop: Constant(50 * time.Millisecond)},
}

// Config describes the world a policy is simulated in.
type Config struct {
	Workload Workload
	// Instances is how the instances behave, all of one provider billed as
	// EC2 bills (60 s a run), uncapped (the policy keeps to its Max) and
	// without a price — unless Providers are given, which replace it.
	Instances Instances
	// Providers, if any, make a fleet over several providers (package
	// burst): see Provider.
	Providers []Provider
	Service   Dist // per request
	Seed      uint64
	BillBoot  bool          // bill pending time too
	Horizon   time.Duration // how long after the last arrival to go on at most; DefaultHorizon if 0
}

func (c Config) validate() error {
	switch {
	case len(c.Workload.Arrivals) == 0:
		return invalidf("simulate: the workload has no requests")
	case len(c.Providers) == 0 && !c.Instances.complete():
		return invalidf("simulate: the instance model lacks a launch, restart or stop delay")
	case c.Service == nil:
		return invalidf("simulate: no service time")
	}
	for i, p := range c.Providers {
		switch {
		case p.Name == "" || slices.ContainsFunc(c.Providers[:i], func(q Provider) bool { return q.Name == p.Name }):
			return invalidf("simulate: provider %d: want a name of its own, got %q", i+1, p.Name)
		case !p.Instances.complete():
			return invalidf("simulate: provider %s: the instance model lacks a launch, restart or stop delay", p.Name)
		case p.Max < 1 || p.Price < 0 || p.MinBilled < 0:
			return invalidf("simulate: provider %s: want max >= 1, price >= 0, min billed >= 0", p.Name)
		}
	}
	return nil
}

func (in Instances) complete() bool { return in.Launch != nil && in.Restart != nil && in.Stop != nil }

// epoch is virtual time zero, as policies see it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Run simulates one policy. It fails only on an invalid Config or when the
// policy asks for an impossible action (starting a running instance, say),
// which is a bug in the policy.
func Run(cfg Config, d autoscale.Policy) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = DefaultHorizon
	}
	s := newSim(cfg, d)
	if err := s.run(); err != nil {
		return nil, err
	}
	return s.result(), nil
}

type eventKind int

// At one instant, arrivals come first and the policy observes last, once
// everything else at that instant has happened.
const (
	evReady eventKind = iota
	evDone
	evStopped
	evTick
)

type event struct {
	at    time.Duration
	kind  eventKind
	seq   uint64
	inst  *instance
	gen   int  // inst.gen when scheduled; a stale event is dropped
	nudge bool // an extra tick for arrivals
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	if e[i].kind != e[j].kind {
		return e[i].kind < e[j].kind
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

type instance struct {
	id        string
	prov      *provider
	state     imgrec.InstanceState
	since     time.Duration
	busy      bool
	idleSince time.Duration
	job       int
	gen       int
	up        time.Duration // when this run began (pending), for instance-seconds
	billFrom  time.Duration // when billing of this run began; -1 before it has
	terminate bool          // remove once stopped
}

type sim struct {
	cfg     Config
	policy  autoscale.Policy
	cadence autoscale.Cadence

	now      time.Duration
	queue    events
	seq      uint64
	arrivals []time.Duration
	next     int // next arrival
	service  []time.Duration
	finish   []time.Duration // per request; -1 until done
	waiting  []int           // FIFO of request indexes
	inFlight int
	done     int

	instances []*instance // not terminated, in launch order
	launched  int
	providers []*provider // cheapest first

	nextTick     time.Duration
	lastStep     time.Duration
	nudgePending bool

	res        Result
	lastFinish time.Duration
	zeroAt     time.Duration // when active+stopping last became 0; -1 while not
}

func newSim(cfg Config, d autoscale.Policy) *sim {
	s := &sim{
		cfg: cfg, policy: d, cadence: d.Cadence(),
		arrivals:  cfg.Workload.Arrivals,
		providers: newProviders(cfg),
		lastStep:  -time.Hour,
	}
	if s.cadence.Every <= 0 {
		s.cadence.Every = autoscale.DefaultInterval
	}
	n := len(s.arrivals)
	s.service = make([]time.Duration, n)
	s.finish = make([]time.Duration, n)
	rs := rand.New(rand.NewPCG(cfg.Seed, streamService))
	for i := range n {
		s.service[i] = cfg.Service.Sample(rs)
		s.finish[i] = -1
	}
	// The policy's clock runs independently of the workload: its first
	// step falls anywhere in its first period.
	phase := rand.New(rand.NewPCG(cfg.Seed, streamPhase)).Float64()
	s.nextTick = time.Duration(phase * float64(s.cadence.Every))
	s.schedule(event{at: s.nextTick, kind: evTick})
	s.res.Requests = n
	return s
}

func (s *sim) schedule(e event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.queue, e)
}

func (s *sim) run() error {
	end := s.arrivals[len(s.arrivals)-1] + s.cfg.Horizon
	for {
		if s.next < len(s.arrivals) && (len(s.queue) == 0 || s.arrivals[s.next] <= s.queue[0].at) {
			s.now = s.arrivals[s.next]
			s.arrive(s.next)
			s.next++
			s.sample()
			continue
		}
		if len(s.queue) == 0 {
			return nil
		}
		e := heap.Pop(&s.queue).(event)
		if e.at > end {
			s.now = end
			s.closeRuns()
			return nil
		}
		s.now = e.at
		if e.inst != nil && e.gen != e.inst.gen {
			continue
		}
		switch e.kind {
		case evReady:
			s.ready(e.inst)
		case evDone:
			s.jobDone(e.inst)
		case evStopped:
			s.stopped(e.inst)
		case evTick:
			if err := s.step(e.nudge); err != nil {
				return err
			}
			if s.quiet() {
				return nil
			}
		}
		s.sample()
	}
}

// quiet reports whether nothing can happen any more: every request
// answered and no instance up or stopping.
func (s *sim) quiet() bool {
	if s.next < len(s.arrivals) || s.done < len(s.arrivals) {
		return false
	}
	for _, in := range s.instances {
		if in.state != imgrec.StateStopped {
			return false
		}
	}
	return true
}

// arrive queues request i and hands it to the instance idle the longest,
// as a pull queue serves the oldest pull first (NATS JetStream does).
func (s *sim) arrive(i int) {
	s.waiting = append(s.waiting, i)
	var longest *instance
	for _, in := range s.instances {
		if in.state == imgrec.StateRunning && !in.busy && (longest == nil || in.idleSince < longest.idleSince) {
			longest = in
		}
	}
	if longest != nil {
		s.pull(longest)
	}
	if s.cadence.OnArrival && !s.nudgePending {
		at := max(s.now, s.lastStep+nudgeGap)
		if at < s.nextTick {
			s.nudgePending = true
			s.schedule(event{at: at, kind: evTick, nudge: true})
		}
	}
}

// pull gives the next waiting request to in if it is running and free.
func (s *sim) pull(in *instance) {
	if in.state != imgrec.StateRunning || in.busy || len(s.waiting) == 0 {
		return
	}
	in.job = s.waiting[0]
	s.waiting = s.waiting[1:]
	in.busy = true
	s.inFlight++
	s.schedule(event{at: s.now + s.service[in.job], kind: evDone, inst: in, gen: in.gen})
}

func (s *sim) ready(in *instance) {
	in.state, in.since, in.idleSince = imgrec.StateRunning, s.now, s.now
	if in.billFrom < 0 {
		in.billFrom = s.now
	}
	s.pull(in)
}

func (s *sim) jobDone(in *instance) {
	s.finish[in.job] = s.now
	s.lastFinish = max(s.lastFinish, s.now)
	s.done++
	s.inFlight--
	in.busy, in.idleSince = false, s.now
	if in.state == imgrec.StateStopping {
		s.closeBill(in)
		s.schedule(event{at: s.now + in.prov.Instances.Stop.Sample(in.prov.rngStop), kind: evStopped, inst: in, gen: in.gen})
		return
	}
	s.pull(in)
}

func (s *sim) stopped(in *instance) {
	s.closeRun(in)
	in.state, in.since = imgrec.StateStopped, s.now
	if in.terminate {
		s.remove(in)
	}
}

// closeRun accounts for the run of in that ends now.
func (s *sim) closeRun(in *instance) {
	s.res.InstanceSeconds += (s.now - in.up).Seconds()
	in.prov.res.InstanceSeconds += (s.now - in.up).Seconds()
	s.closeBill(in)
}

// closeBill ends the billing of in's run, if it was billed: by the second,
// at least its provider's minimum.
func (s *sim) closeBill(in *instance) {
	if in.billFrom >= 0 {
		billed := max((s.now - in.billFrom + time.Second - 1).Truncate(time.Second), in.prov.MinBilled).Seconds()
		s.res.BilledSeconds += billed
		in.prov.res.BilledSeconds += billed
		in.prov.res.Cost += billed * in.prov.Price
	}
	in.billFrom = -1
}

// closeRuns accounts for the instances still up when the horizon ends the run.
func (s *sim) closeRuns() {
	for _, in := range s.instances {
		if in.state != imgrec.StateStopped {
			s.closeRun(in)
		}
	}
}

func (s *sim) remove(in *instance) {
	for i, x := range s.instances {
		if x == in {
			s.instances = append(s.instances[:i], s.instances[i+1:]...)
			return
		}
	}
}

// step lets the policy observe and applies its decision.
func (s *sim) step(nudge bool) error {
	if nudge {
		s.nudgePending = false
	} else {
		s.nextTick = s.now + s.cadence.Every
		s.schedule(event{at: s.nextTick, kind: evTick})
	}
	s.lastStep = s.now
	o := autoscale.Observation{
		Time:      epoch.Add(s.now),
		Stats:     imgrec.QueueStats{Waiting: len(s.waiting), InFlight: s.inFlight},
		Instances: make([]imgrec.Instance, len(s.instances)),
	}
	for i, in := range s.instances {
		o.Instances[i] = imgrec.Instance{ID: in.id, State: in.state, Since: epoch.Add(in.since), Busy: in.busy, Provider: in.prov.Name}
	}
	d := s.policy.Decide(o)
	for _, id := range d.Start {
		if err := s.start(id); err != nil {
			return err
		}
	}
	for range d.Launch {
		s.launch()
	}
	for _, id := range d.Stop {
		if err := s.stop(id, false); err != nil {
			return err
		}
	}
	for _, id := range d.Terminate {
		if err := s.stop(id, true); err != nil {
			return err
		}
	}
	return nil
}

func (s *sim) find(op, id string, states ...imgrec.InstanceState) (*instance, error) {
	for _, in := range s.instances {
		if in.id != id {
			continue
		}
		for _, st := range states {
			if in.state == st {
				return in, nil
			}
		}
		return nil, imgrec.Errorf(imgrec.EINTERNAL, "at %s the policy asked to %s %s, which is %s", s.now, op, id, in.state)
	}
	return nil, imgrec.Errorf(imgrec.EINTERNAL, "at %s the policy asked to %s %s, which does not exist", s.now, op, id)
}

// launch creates an instance on the cheapest provider with room, as
// package burst does; with none, the launch is refused (counted).
func (s *sim) launch() {
	i := slices.IndexFunc(s.providers, func(p *provider) bool { return !s.full(p) })
	if i < 0 {
		s.res.Refused++
		return
	}
	p := s.providers[i]
	s.launched++
	s.res.Launches++
	p.res.Launches++
	in := &instance{id: fmt.Sprintf("i-%d", s.launched), prov: p}
	if p.Name != "" {
		in.id = p.Name + ":" + in.id
	}
	s.instances = append(s.instances, in)
	s.boot(in, p.Instances.Launch.Sample(p.rngLaunch))
}

// start restarts a stopped instance, unless its provider is full (then
// the start is refused and counted, as burst refuses it).
func (s *sim) start(id string) error {
	in, err := s.find("start", id, imgrec.StateStopped)
	if err != nil {
		return err
	}
	if s.full(in.prov) {
		s.res.Refused++
		return nil
	}
	s.res.Starts++
	in.prov.res.Starts++
	s.boot(in, in.prov.Instances.Restart.Sample(in.prov.rngRestart))
	return nil
}

// full reports whether p has its cap of instances pending or running.
func (s *sim) full(p *provider) bool {
	return p.Max > 0 && s.active(p) >= p.Max
}

// active counts p's instances pending or running.
func (s *sim) active(p *provider) int {
	n := 0
	for _, in := range s.instances {
		if in.prov == p && in.state.Active() {
			n++
		}
	}
	return n
}

func (s *sim) boot(in *instance, delay time.Duration) {
	in.state, in.since, in.up, in.billFrom = imgrec.StatePending, s.now, s.now, -1
	if s.cfg.BillBoot {
		in.billFrom = s.now
	}
	in.gen++
	s.schedule(event{at: s.now + delay, kind: evReady, inst: in, gen: in.gen})
}

// stop drains in: a busy instance stops once its request is done. Like the
// local provider, Stop takes pending and running instances; Terminate any.
func (s *sim) stop(id string, terminate bool) error {
	op, states := "stop", []imgrec.InstanceState{imgrec.StatePending, imgrec.StateRunning}
	if terminate {
		op, states = "terminate", imgrec.InstanceStates[:4]
	}
	in, err := s.find(op, id, states...)
	if err != nil {
		return err
	}
	in.terminate = in.terminate || terminate
	switch in.state {
	case imgrec.StateStopped:
		s.remove(in)
		return nil
	case imgrec.StateStopping:
		return nil // already on its way
	case imgrec.StatePending:
		in.gen++ // it will never be ready
	}
	in.state, in.since = imgrec.StateStopping, s.now
	if !in.busy {
		s.closeBill(in)
		s.schedule(event{at: s.now + in.prov.Instances.Stop.Sample(in.prov.rngStop), kind: evStopped, inst: in, gen: in.gen})
	}
	return nil
}

// Compare runs each policy, built from p, on the same simulated world.
func Compare(cfg Config, policies []autoscale.Named, p autoscale.Config) ([]*Result, error) {
	var out []*Result
	for _, n := range policies {
		r, err := Run(cfg, n.New(p))
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", n.Name, err)
		}
		r.Policy = n.Name
		out = append(out, r)
	}
	return out, nil
}
