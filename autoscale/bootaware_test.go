package autoscale

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func instances(state imgrec.InstanceState, n int, busy bool) []imgrec.Instance {
	var out []imgrec.Instance
	for i := range n {
		out = append(out, imgrec.Instance{ID: fmt.Sprintf("%s-%d", state, i+1), State: state, Since: at(float64(i)), Busy: busy})
	}
	return out
}

func obs(sec float64, waiting, inFlight int, in ...[]imgrec.Instance) Observation {
	return Observation{Time: at(sec), Stats: imgrec.QueueStats{Waiting: waiting, InFlight: inFlight}, Instances: slices.Concat(in...)}
}

func TestScaleOutFromZeroOnFirstMessage(t *testing.T) {
	s := NewBootAware(Config{})
	if d := s.Decide(obs(0, 0, 0)); d.Acts() || d.Desired != 0 {
		t.Fatalf("idle: %+v", d)
	}
	if d := s.Decide(obs(1, 1, 0)); d.Launch != 1 {
		t.Fatalf("one message: %+v", d)
	}
}

func TestBurstIsClampedToMax(t *testing.T) {
	s := NewBootAware(Config{Max: 20, TargetPerInstance: 5})
	d := s.Decide(obs(0, 416, 0))
	if d.Desired != 20 || d.Launch != 20 {
		t.Fatalf("416 burst: %+v", d)
	}
	s = NewBootAware(Config{Max: 20, TargetPerInstance: 5})
	if d := s.Decide(obs(0, 12, 0)); d.Desired != 3 || d.Launch != 3 {
		t.Fatalf("12 requests: %+v", d)
	}
}

func TestWarmPoolIsReusedBeforeLaunching(t *testing.T) {
	s := NewBootAware(Config{TargetPerInstance: 1})
	stopped := instances(imgrec.StateStopped, 3, false)
	d := s.Decide(obs(0, 5, 0, stopped, instances(imgrec.StateRunning, 1, true)))
	if want := []string{"stopped-1", "stopped-2", "stopped-3"}; !slices.Equal(d.Start, want) || d.Launch != 1 {
		t.Fatalf("want start %v + launch 1, got %+v", want, d)
	}
}

func TestScaleInWaitsAndStopsOnlyIdle(t *testing.T) {
	s := NewBootAware(Config{TargetPerInstance: 1, Window: 2 * time.Second, ScaleInAfter: time.Second})
	running := append(instances(imgrec.StateRunning, 2, true), instances(imgrec.StateRunning, 3, false)...)
	running[2].ID, running[3].ID, running[4].ID = "idle-a", "idle-b", "idle-c"
	s.Decide(obs(0, 3, 2, running)) // 5 needed, 5 active
	// The queue empties; the window still remembers depth 5 for 2 s.
	if d := s.Decide(obs(1, 0, 2, running)); d.Acts() {
		t.Fatalf("scaled in on one low reading: %+v", d)
	}
	if d := s.Decide(obs(2.5, 0, 2, running)); d.Acts() || d.Desired != 2 {
		t.Fatalf("scaled in before ScaleInAfter: %+v", d)
	}
	d := s.Decide(obs(3.6, 0, 2, running))
	if len(d.Stop) != 3 {
		t.Fatalf("want 3 idle stopped, got %+v", d)
	}
	for _, id := range d.Stop {
		if id[:4] != "idle" {
			t.Fatalf("stopped busy instance %s: %+v", id, d)
		}
	}
	// Everything busy and over capacity: nothing may be stopped.
	s = NewBootAware(Config{TargetPerInstance: 1, Window: time.Second, ScaleInAfter: time.Second})
	busy := instances(imgrec.StateRunning, 4, true)
	for sec := 0.0; sec < 5; sec++ {
		if d := s.Decide(obs(sec, 0, 0, busy)); len(d.Stop) > 0 {
			t.Fatalf("stopped a busy instance: %+v", d)
		}
	}
}

func TestBurstCancelsPendingScaleIn(t *testing.T) {
	s := NewBootAware(Config{TargetPerInstance: 1, Window: time.Second, ScaleInAfter: 2 * time.Second})
	run := instances(imgrec.StateRunning, 4, false)
	s.Decide(obs(0, 4, 0, run))
	s.Decide(obs(2, 0, 0, run)) // low since t=2
	s.Decide(obs(3, 4, 0, run)) // burst: cancels
	s.Decide(obs(4.5, 0, 0, run))
	if d := s.Decide(obs(5, 0, 0, run)); d.Acts() {
		t.Fatalf("scale-in timer survived the burst: %+v", d)
	}
	if d := s.Decide(obs(6.6, 0, 0, run)); len(d.Stop) != 4 {
		t.Fatalf("want all 4 stopped once idle long enough: %+v", d)
	}
}

// TestDoneWorkScalesToZeroSoon (instances up since 0–4 s, the work from
// 10 s): once nothing waits, nothing is in flight
// and no instance is busy for ScaleInAfter, the fleet goes to zero without
// waiting for the Window to forget the burst; a busy instance or a request
// in flight restarts the count.
func TestDoneWorkScalesToZeroSoon(t *testing.T) {
	s := NewBootAware(Config{Window: 2 * time.Second, ScaleInAfter: time.Second})
	run := instances(imgrec.StateRunning, 5, false)
	busy := instances(imgrec.StateRunning, 5, true)
	s.Decide(obs(10, 20, 5, busy))
	s.Decide(obs(10.25, 0, 1, busy))                   // the last request in flight
	if d := s.Decide(obs(10.5, 0, 0, run)); d.Acts() { // all done: idle since 10.5
		t.Fatalf("scaled in at once: %+v", d)
	}
	if d := s.Decide(obs(11.25, 0, 0, run)); d.Acts() {
		t.Fatalf("scaled in before ScaleInAfter: %+v", d)
	}
	d := s.Decide(obs(11.5, 0, 0, run))
	if len(d.Stop) != 5 || d.Desired != 0 {
		t.Fatalf("want all 5 stopped 1 s after the work was done (the window still holds the burst): %+v", d)
	}

	// A worker still busy with nothing in the queue holds the fleet.
	s = NewBootAware(Config{Window: 2 * time.Second, ScaleInAfter: time.Second})
	s.Decide(obs(10, 20, 5, busy))
	oneBusy := append(instances(imgrec.StateRunning, 4, false), imgrec.Instance{ID: "b", State: imgrec.StateRunning, Since: at(0), Busy: true})
	s.Decide(obs(10.5, 0, 0, oneBusy))
	if d := s.Decide(obs(11.6, 0, 0, oneBusy)); len(d.Stop) != 0 {
		t.Fatalf("scaled in by the idle rule while an instance was busy: %+v", d)
	}
}

// TestBurstRightAfterScaleIn: a burst just after the fleet went to zero
// restarts the stopped instances (the warm pool) and launches none.
func TestBurstRightAfterScaleIn(t *testing.T) {
	s := NewBootAware(Config{Window: 2 * time.Second, ScaleInAfter: time.Second})
	run := instances(imgrec.StateRunning, 5, false)
	s.Decide(obs(10, 20, 5, instances(imgrec.StateRunning, 5, true)))
	s.Decide(obs(10.5, 0, 0, run))
	if d := s.Decide(obs(11.5, 0, 0, run)); len(d.Stop) != 5 {
		t.Fatalf("want the fleet stopped: %+v", d)
	}
	stopped := instances(imgrec.StateStopped, 5, false)
	d := s.Decide(obs(11.75, 25, 0, stopped))
	if len(d.Start) != 5 || d.Launch != 0 {
		t.Fatalf("burst after scale-in: want the 5 stopped restarted and none launched, got %+v", d)
	}
}

func TestFlappingInputDoesNotFlap(t *testing.T) {
	s := NewBootAware(Config{TargetPerInstance: 1, Window: 2 * time.Second, ScaleInAfter: time.Second})
	run := instances(imgrec.StateRunning, 3, false)
	acts := 0
	for i := range 20 { // depth alternates 3, 0, 3, 0 every second
		d := s.Decide(obs(float64(i), 3*(1-i%2), 0, run))
		if d.Acts() {
			acts++
		}
	}
	if acts != 0 {
		t.Fatalf("%d actions on flapping input", acts)
	}
}

func TestMinAndWarmPoolTrim(t *testing.T) {
	s := NewBootAware(Config{Min: 2, Max: 4, WarmPool: 1})
	d := s.Decide(obs(0, 0, 0, instances(imgrec.StateStopped, 3, false)))
	if d.Desired != 2 || len(d.Start) != 2 || d.Launch != 0 {
		t.Fatalf("min 2 from warm pool: %+v", d)
	}
	if len(d.Terminate) != 0 {
		t.Fatalf("terminated an instance it is restarting: %+v", d)
	}
	d = s.Decide(obs(1, 0, 0, instances(imgrec.StateRunning, 2, false), instances(imgrec.StateStopped, 3, false)))
	if want := []string{"stopped-1", "stopped-2"}; !slices.Equal(d.Terminate, want) {
		t.Fatalf("warm pool of 1: want terminate %v, got %+v", want, d)
	}
}

// TestNoWarmPool: with WarmPool below zero, idle instances are terminated
// instead of stopped, and stopped ones left from before are terminated too.
func TestNoWarmPool(t *testing.T) {
	s := NewBootAware(Config{Max: 4, WarmPool: -1})
	idle := instances(imgrec.StateRunning, 2, false)
	stopped := instances(imgrec.StateStopped, 1, false)
	var d Decision
	for sec := 0.0; sec < 5 && len(d.Terminate) < 3; sec++ {
		d = s.Decide(obs(sec, 0, 0, idle, stopped))
	}
	got := slices.Sorted(slices.Values(d.Terminate))
	if len(d.Stop) != 0 || !slices.Equal(got, []string{"running-1", "running-2", "stopped-1"}) {
		t.Fatalf("want the idle and the stopped instances terminated, nothing stopped: %+v", d)
	}
}

func TestBootAwareMeasuresBootAndServiceTimes(t *testing.T) {
	s := NewBootAware(Config{BootTime: 40 * time.Second})
	pending := imgrec.Instance{ID: "w-1", State: imgrec.StatePending, Since: at(0)}
	s.Decide(obs(0, 100, 0, []imgrec.Instance{pending}))
	up := running("w-1", 30, true)
	s.Decide(obs(31, 99, 1, []imgrec.Instance{up}))
	if got := s.est.bootOf(""); got != 30*time.Second {
		t.Fatalf("boot measured %s, want 30s (the guess of 40s replaced)", got)
	}
	// While requests wait, 1 instance drains 10 in 2 s: 0.2 s each.
	s.Decide(obs(33, 89, 1, []imgrec.Instance{up}))
	if got := s.est.service.v; got != 200*time.Millisecond {
		t.Fatalf("service measured %s, want 200ms", got)
	}
	// A restart is measured apart from a launch.
	stopped := imgrec.Instance{ID: "w-1", State: imgrec.StateStopped, Since: at(40)}
	s.Decide(obs(41, 0, 0, []imgrec.Instance{stopped}))
	s.Decide(obs(50, 1, 0, []imgrec.Instance{{ID: "w-1", State: imgrec.StatePending, Since: at(50)}}))
	s.Decide(obs(56, 0, 1, []imgrec.Instance{running("w-1", 55, true)}))
	if s.est.restartOf("") != 5*time.Second || s.est.bootOf("") != 30*time.Second {
		t.Fatalf("restart %s, boot %s; want 5s and 30s", s.est.restartOf(""), s.est.bootOf(""))
	}
}

// TestBootAwareLaunchesNothingThatWouldComeUpTooLate: with 30 s boots, two
// running instances draining 20 requests in 2 s need no launch; the warm
// pool, up in 1 s, still helps.
func TestBootAwareLaunchesNothingThatWouldComeUpTooLate(t *testing.T) {
	p := Config{TargetPerInstance: 1, BootTime: 30 * time.Second, RestartTime: time.Second, ServiceTime: 200 * time.Millisecond}
	two := []imgrec.Instance{running("w-1", 0, true), running("w-2", 0, true)}
	d := NewBootAware(p).Decide(obs(100, 18, 2, two))
	if d.Desired != 20 || d.Launch != 0 || !strings.Contains(d.Reason, "18 more would come up after the backlog is done") {
		t.Fatalf("want no launch, got %+v", d)
	}
	d = NewBootAware(p).Decide(obs(100, 18, 2, two, instances(imgrec.StateStopped, 3, false)))
	if len(d.Start) != 3 || d.Launch != 0 {
		t.Fatalf("want the 3 stopped restarted and no launch, got %+v", d)
	}
	// A backlog of 2000 takes 200 s: launching is worth it.
	if d := NewBootAware(p).Decide(obs(100, 1998, 2, two)); d.Launch != 18 {
		t.Fatalf("2000 requests: %+v", d)
	}
	// Nothing measured or guessed: launch as the backlog asks.
	if d := NewBootAware(Config{TargetPerInstance: 1}).Decide(obs(100, 18, 2, two)); d.Launch != 18 {
		t.Fatalf("no estimates: %+v", d)
	}
}

// TestBootAwareCancelsBootingWhileBacklogDrains: booting instances beyond the
// wish are cancelled once the queue only shrinks, never while it grows.
func TestBootAwareCancelsBootingWhileBacklogDrains(t *testing.T) {
	fleet := slices.Concat(instances(imgrec.StateRunning, 4, true), instances(imgrec.StatePending, 16, false))
	s := NewBootAware(Config{})
	s.Decide(obs(0, 100, 0, instances(imgrec.StatePending, 20, false)))
	s.Decide(obs(3, 96, 4, fleet)) // the window still holds 100
	d := s.Decide(obs(3.5, 36, 4, fleet))
	if d.Acts() {
		t.Fatalf("cancelled while the window holds 100: %+v", d)
	}
	d = s.Decide(obs(5.4, 26, 4, fleet))
	if d.Desired != 8 || len(d.Terminate) != 12 || d.Terminate[0] != "pending-16" {
		t.Fatalf("depth 40 in the window: want the 12 newest booting cancelled, got %+v", d)
	}
	// The same fleet while requests keep arriving: nothing is cancelled.
	s = NewBootAware(Config{})
	s.Decide(obs(0, 30, 4, fleet))
	s.Decide(obs(1, 20, 4, fleet))
	if d := s.Decide(obs(1.5, 22, 4, fleet)); len(d.Terminate) != 0 {
		t.Fatalf("cancelled booting instances while the queue grew: %+v", d)
	}
}

func TestBootAwareHoldsIdleThroughBilledMinimum(t *testing.T) {
	s := NewBootAware(Config{MinBilled: time.Minute})
	idle := []imgrec.Instance{running("w-1", 0, false), running("w-2", 30, false)}
	for sec := 5.0; sec < 59; sec++ {
		if d := s.Decide(obs(sec, 0, 0, idle)); d.Acts() {
			t.Fatalf("t=%v: stopped an instance within its billed minute: %+v", sec, d)
		}
	}
	if d := s.Decide(obs(59, 0, 0, idle)); !slices.Equal(d.Stop, []string{"w-1"}) {
		t.Fatalf("t=59, the last step of w-1's minute: %+v", d)
	}
	if d := NewBootAware(Config{}).Decide(obs(5, 0, 0, idle)); len(d.Stop) != 0 {
		t.Fatalf("stopped without waiting ScaleInAfter: %+v", d)
	}
}

// TestBootAwareNeverWantsFewerThanBusy: six busy instances with a short queue
// are all wanted until they have been idle for a window.
func TestBootAwareNeverWantsFewerThanBusy(t *testing.T) {
	s := NewBootAware(Config{})
	var six []imgrec.Instance
	for i := range 6 {
		six = append(six, running(fmt.Sprintf("w-%d", i+1), 0, true))
	}
	if d := s.Decide(obs(0, 0, 6, six)); d.Desired != 6 {
		t.Fatalf("6 busy, depth 6: desired %d, want 6", d.Desired)
	}
	for i := range six[3:] {
		six[3+i].Busy = false
	}
	if d := s.Decide(obs(1.5, 0, 3, six)); d.Desired != 6 || d.Acts() {
		t.Fatalf("3 busy within the window: %+v", d)
	}
	s.Decide(obs(2.5, 0, 3, six))
	if d := s.Decide(obs(3.6, 0, 3, six)); d.Desired != 3 || len(d.Stop) != 3 {
		t.Fatalf("3 idle for a window and ScaleInAfter: %+v", d)
	}
}
