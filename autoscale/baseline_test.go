package autoscale

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// running is a running instance, up since sec.
func running(id string, sec float64, busy bool) imgrec.Instance {
	return imgrec.Instance{ID: id, State: imgrec.StateRunning, Since: at(sec), Busy: busy}
}

func TestSelfStop(t *testing.T) {
	// Scale from zero: one instance per waiting request, restarting first.
	a := NewSelfStop(Config{Max: 20})
	d := a.Decide(obs(0, 5, 0, instances(imgrec.StateStopped, 2, false)))
	if !slices.Equal(d.Start, []string{"stopped-1", "stopped-2"}) || d.Launch != 3 {
		t.Fatalf("from zero with 2 stopped: %+v", d)
	}
	if d := NewSelfStop(Config{Max: 20}).Decide(obs(0, 416, 0)); d.Launch != 20 {
		t.Fatalf("416 waiting: %+v", d)
	}
	// Each instance stops itself after 10 s idle; work resets its clock.
	a = NewSelfStop(Config{Max: 20})
	w1, w2 := running("w-1", 0, false), running("w-2", 0, true)
	for sec := 1.0; sec < 10; sec++ {
		if d := a.Decide(obs(sec, 0, 1, []imgrec.Instance{w1, w2})); d.Acts() {
			t.Fatalf("t=%v: acted before 10 s idle: %+v", sec, d)
		}
	}
	if d := a.Decide(obs(10, 0, 1, []imgrec.Instance{w1, w2})); !slices.Equal(d.Stop, []string{"w-1"}) {
		t.Fatalf("t=10: want w-1 stopped, got %+v", d)
	}
	// Burst during scale-in: w-2 went idle at 9 s; a burst at 15 s keeps it.
	w2.Busy = false
	a = NewSelfStop(Config{Max: 20})
	a.Decide(obs(9, 0, 1, []imgrec.Instance{{ID: "w-2", State: imgrec.StateRunning, Since: at(0), Busy: true}}))
	a.Decide(obs(10, 0, 0, []imgrec.Instance{w2}))
	w2.Busy = true
	if d := a.Decide(obs(15, 3, 1, []imgrec.Instance{w2})); len(d.Stop) > 0 || d.Launch != 2 {
		t.Fatalf("burst: want 2 launched and no stop, got %+v", d)
	}
	w2.Busy = false
	if d := a.Decide(obs(24, 0, 0, []imgrec.Instance{w2})); len(d.Stop) > 0 {
		t.Fatalf("stopped 9 s after the burst: %+v", d)
	}
	// Flapping input: busy every other second never stops anything.
	a = NewSelfStop(Config{Max: 20})
	for i := range 30 {
		in := running("w-1", 0, i%2 == 0)
		if d := a.Decide(obs(float64(i), 0, 1-i%2, []imgrec.Instance{in})); d.Acts() {
			t.Fatalf("t=%d: flapped: %+v", i, d)
		}
	}
}

func TestGracefulStop(t *testing.T) {
	b := NewGracefulStop(Config{Max: 20})
	if d := b.Decide(obs(0, 4, 0)); d.Launch != 4 {
		t.Fatalf("from zero: %+v", d)
	}
	idle := []imgrec.Instance{running("w-1", 0, false), running("w-2", 0, false)}
	b = NewGracefulStop(Config{Max: 20})
	for sec := 0.0; sec < 10; sec++ {
		if d := b.Decide(obs(sec, 0, 0, idle)); d.Acts() {
			t.Fatalf("t=%v: stopped before 10 s of empty queue: %+v", sec, d)
		}
	}
	if d := b.Decide(obs(10, 0, 0, idle)); len(d.Stop) != 2 {
		t.Fatalf("t=10: want both stopped, got %+v", d)
	}
	// Burst during scale-in: a request at 9 s cancels the shutdown request.
	b = NewGracefulStop(Config{Max: 20})
	b.Decide(obs(0, 0, 0, idle))
	b.Decide(obs(9, 0, 1, idle))
	if d := b.Decide(obs(12, 0, 0, idle)); d.Acts() {
		t.Fatalf("the request at 9 s did not cancel the shutdown: %+v", d)
	}
	if d := b.Decide(obs(22, 0, 0, idle)); len(d.Stop) != 2 {
		t.Fatalf("10 s after the last request: %+v", d)
	}
	// Flapping input: a request every other second, nothing stops.
	b = NewGracefulStop(Config{Max: 20})
	for i := range 30 {
		if d := b.Decide(obs(float64(i), 0, 1-i%2, idle)); d.Acts() {
			t.Fatalf("t=%d: flapped: %+v", i, d)
		}
	}
}

func TestDepthCap(t *testing.T) {
	c := NewDepthCap(Config{Max: 20})
	if c.Cadence().Every != 5*time.Second {
		t.Fatalf("cadence %+v", c.Cadence())
	}
	// From zero it launches, never restarting (it keeps no warm pool).
	d := c.Decide(obs(0, 7, 0, instances(imgrec.StateStopped, 3, false)))
	if d.Launch != 7 || len(d.Start) != 0 {
		t.Fatalf("depth 7: %+v", d)
	}
	if d := c.Decide(obs(0, 500, 0)); d.Launch != 20 {
		t.Fatalf("depth 500: %+v", d)
	}
	// Scale-in terminates idle surplus at once, never a busy instance.
	fleet := []imgrec.Instance{running("w-1", 0, true), running("w-2", 1, false), running("w-3", 2, false)}
	if d := c.Decide(obs(5, 0, 1, fleet)); !slices.Equal(d.Terminate, []string{"w-3", "w-2"}) {
		t.Fatalf("depth 1 of 3: %+v", d)
	}
	// Burst during scale-in: it follows the depth back up at once, and
	// so, on flapping input, it flaps: that is the baseline's weakness.
	acts := 0
	for i := range 10 {
		in := fleet
		if i%2 == 1 {
			in = fleet[:1]
		}
		if c.Decide(obs(float64(5*i), 3*(i%2), 0, in)).Acts() {
			acts++
		}
	}
	if acts != 10 {
		t.Fatalf("%d of 10 steps acted on flapping input; (c) follows every reading", acts)
	}
}

func TestKEDA(t *testing.T) {
	k := NewKEDA(Config{Max: 20})
	if k.Cadence().Every != 15*time.Second {
		t.Fatalf("cadence %+v", k.Cadence())
	}
	// From zero: KEDA's poll activates one instance; the HPA then grows it
	// by at most +4 or +100 % a step.
	if d := k.Decide(obs(0, 100, 0)); d.Launch != 1 {
		t.Fatalf("activation: %+v", d)
	}
	want := []int{4, 5, 10} // 1 → 5 → 10 → 20
	fleet := instances(imgrec.StatePending, 1, false)
	for i, n := range want {
		d := k.Decide(obs(float64(15*(i+1)), 100, 0, fleet))
		if d.Launch != n {
			t.Fatalf("step %d with %d active: launched %d, want %d (%+v)", i+1, len(fleet), d.Launch, n, d)
		}
		for range n {
			fleet = append(fleet, imgrec.Instance{ID: fmt.Sprintf("w-%d", len(fleet)+1), State: imgrec.StatePending, Since: at(float64(15 * (i + 1)))})
		}
	}
	// No activation between KEDA's 30 s polls.
	k = NewKEDA(Config{Max: 20})
	k.Decide(obs(0, 0, 0))
	if d := k.Decide(obs(15, 10, 0)); d.Acts() {
		t.Fatalf("activated between polls: %+v", d)
	}
	if d := k.Decide(obs(30, 10, 0)); d.Launch != 1 {
		t.Fatalf("poll at 30 s: %+v", d)
	}
	// Scale-in waits for the 300 s window; a burst in it keeps the fleet.
	k = NewKEDA(Config{Max: 20})
	four := []imgrec.Instance{running("w-1", 0, false), running("w-2", 0, false), running("w-3", 0, false), running("w-4", 0, false)}
	k.Decide(obs(0, 20, 0, four))
	for sec := 15.0; sec < 300; sec += 15 {
		depth := 0
		if sec == 150 {
			depth = 20 // a burst during the scale-in window
		}
		if d := k.Decide(obs(sec, depth, 0, four)); d.Acts() {
			t.Fatalf("t=%v: acted within the stabilization window: %+v", sec, d)
		}
	}
	if d := k.Decide(obs(450, 0, 0, four)); len(d.Terminate) != 4 {
		t.Fatalf("t=450, 300 s after the last request: want all 4 terminated, got %+v", d)
	}
	// Flapping input within the window changes nothing.
	k = NewKEDA(Config{Max: 20})
	k.Decide(obs(0, 20, 0, four))
	for i := 1; i < 20; i++ {
		if d := k.Decide(obs(float64(15*i), 20*(i%2), 0, four)); d.Acts() {
			t.Fatalf("t=%d: flapped: %+v", 15*i, d)
		}
	}
}

func TestCatalog(t *testing.T) {
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		n, err := Lookup(name)
		if err != nil || n.Summary == "" || n.New(Config{}) == nil {
			t.Errorf("policy %s: %+v, %v", name, n, err)
		}
	}
	if _, err := Lookup("f"); err == nil || imgrec.ErrorCode(err) != imgrec.EINVALID {
		t.Errorf("unknown policy: %v", err)
	}
}
