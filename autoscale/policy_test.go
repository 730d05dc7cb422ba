package autoscale

import (
	"fmt"
	"slices"
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
	s := NewScaler(Policy{})
	if d := s.Decide(obs(0, 0, 0)); d.Acts() || d.Desired != 0 {
		t.Fatalf("idle: %+v", d)
	}
	if d := s.Decide(obs(1, 1, 0)); d.Launch != 1 {
		t.Fatalf("one message: %+v", d)
	}
}

func TestBurstIsClampedToMax(t *testing.T) {
	s := NewScaler(Policy{Max: 20, TargetPerInstance: 5})
	d := s.Decide(obs(0, 416, 0))
	if d.Desired != 20 || d.Launch != 20 {
		t.Fatalf("416 burst: %+v", d)
	}
	s = NewScaler(Policy{Max: 20, TargetPerInstance: 5})
	if d := s.Decide(obs(0, 12, 0)); d.Desired != 3 || d.Launch != 3 {
		t.Fatalf("12 requests: %+v", d)
	}
}

func TestWarmPoolIsReusedBeforeLaunching(t *testing.T) {
	s := NewScaler(Policy{TargetPerInstance: 1})
	stopped := instances(imgrec.StateStopped, 3, false)
	d := s.Decide(obs(0, 5, 0, stopped, instances(imgrec.StateRunning, 1, true)))
	if want := []string{"stopped-1", "stopped-2", "stopped-3"}; !slices.Equal(d.Start, want) || d.Launch != 1 {
		t.Fatalf("want start %v + launch 1, got %+v", want, d)
	}
}

func TestScaleInWaitsAndStopsOnlyIdle(t *testing.T) {
	s := NewScaler(Policy{TargetPerInstance: 1, Window: 2 * time.Second, ScaleInAfter: time.Second})
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
	s = NewScaler(Policy{TargetPerInstance: 1, Window: time.Second, ScaleInAfter: time.Second})
	busy := instances(imgrec.StateRunning, 4, true)
	for sec := 0.0; sec < 5; sec++ {
		if d := s.Decide(obs(sec, 0, 0, busy)); len(d.Stop) > 0 {
			t.Fatalf("stopped a busy instance: %+v", d)
		}
	}
}

func TestBurstCancelsPendingScaleIn(t *testing.T) {
	s := NewScaler(Policy{TargetPerInstance: 1, Window: time.Second, ScaleInAfter: 2 * time.Second})
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

func TestFlappingInputDoesNotFlap(t *testing.T) {
	s := NewScaler(Policy{TargetPerInstance: 1, Window: 2 * time.Second, ScaleInAfter: time.Second})
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
	s := NewScaler(Policy{Min: 2, Max: 4, WarmPool: 1})
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
