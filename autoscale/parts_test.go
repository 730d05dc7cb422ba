package autoscale

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// hybrid is a private cloud of 2 (free, no billed minimum) and a public one
// of 3 (per second, EC2's minute), given dearest first: the order of the
// prices counts, not that of the list.
func hybrid() Config {
	return Config{Parts: []Part{
		{Name: "ec2", Max: 3, Price: 0.0416 / 3600, MinBilled: EC2MinBilled},
		{Name: "nova", Max: 2},
	}}
}

// on gives instances a provider and ids prefixed with it.
func on(provider string, in []imgrec.Instance) []imgrec.Instance {
	out := slices.Clone(in)
	for i := range out {
		out[i].Provider = provider
		out[i].ID = provider + ":" + out[i].ID
	}
	return out
}

func TestPartsMaxIsTheirSum(t *testing.T) {
	if got := NewBootAware(hybrid()).Config().Max; got != 5 {
		t.Errorf("Max %d, want 2 + 3", got)
	}
	cfg := hybrid()
	cfg.Max = 4
	if got := NewBootAware(cfg).Config().Max; got != 4 {
		t.Errorf("Max %d with Config.Max 4, want 4", got)
	}
}

// TestPartsBurstFillsTheCheapestFirst: a burst from zero launches all 5,
// the reason saying 2 on nova and 3 on ec2 (burst places them so).
func TestPartsBurstFillsTheCheapestFirst(t *testing.T) {
	d := NewBootAware(hybrid()).Decide(obs(0, 100, 0))
	if d.Launch != 5 || !strings.Contains(d.Reason, "(nova: start 0, launch 2; ec2: start 0, launch 3)") {
		t.Fatalf("burst of 100: %+v", d)
	}
}

// TestPartsRestartTheCheapestFirst: with stopped instances on both parts,
// nova's start first, nova's free place is launched, then ec2's stopped
// ones start; none of ec2's stopped is started while nova has room.
func TestPartsRestartTheCheapestFirst(t *testing.T) {
	cfg := hybrid()
	cfg.TargetPerInstance = 1
	fleet := slices.Concat(
		on("ec2", instances(imgrec.StateStopped, 2, false)), // the oldest stopped
		on("nova", []imgrec.Instance{{ID: "s", State: imgrec.StateStopped, Since: at(10)}}),
	)
	d := NewBootAware(cfg).Decide(obs(20, 4, 0, fleet))
	if want := []string{"nova:s", "ec2:stopped-1", "ec2:stopped-2"}; !slices.Equal(d.Start, want) || d.Launch != 1 {
		t.Fatalf("4 needed: %+v; want start %v and one launch (on nova)", d, want)
	}
	d = NewBootAware(cfg).Decide(obs(20, 2, 0, fleet))
	if !slices.Equal(d.Start, []string{"nova:s"}) || d.Launch != 1 {
		t.Fatalf("2 needed: %+v; want nova's stopped and a launch on nova, nothing of ec2", d)
	}
}

// TestPartsBootAwareness: nova boots in 60 s and ec2 restarts in 5 s; two
// busy nova instances drain 40 requests in 20 s, so a nova launch would
// come too late but ec2's stopped instance is worth its restart. A launch
// would go to nova, so none is made; nor on ec2, where it takes 40 s.
func TestPartsBootAwareness(t *testing.T) {
	cfg := hybrid()
	cfg.Parts[0].Max, cfg.Parts[1].Max = 4, 4
	cfg.Parts[0].BootTime, cfg.Parts[0].RestartTime, cfg.Parts[1].BootTime = 40*time.Second, 5*time.Second, time.Minute
	cfg.ServiceTime = time.Second
	fleet := slices.Concat(
		on("nova", []imgrec.Instance{running("a", 0, true), running("b", 0, true)}),
		on("ec2", instances(imgrec.StateStopped, 1, false)),
	)
	d := NewBootAware(cfg).Decide(obs(100, 38, 2, fleet))
	if !slices.Equal(d.Start, []string{"ec2:stopped-1"}) || d.Launch != 0 || !strings.Contains(d.Reason, "would come up after the backlog is done") {
		t.Fatalf("want ec2's warm instance only: %+v", d)
	}
	// Nova boots in 10 s: launching there beats nothing, and comes before
	// ec2's restart in the price order.
	cfg.Parts[1].BootTime = 10 * time.Second
	if d := NewBootAware(cfg).Decide(obs(100, 38, 2, fleet)); d.Launch != 2 || !slices.Equal(d.Start, []string{"ec2:stopped-1"}) ||
		!strings.Contains(d.Reason, "(nova: start 0, launch 2; ec2: start 1, launch 0)") {
		t.Fatalf("with 10 s nova boots: %+v; want both free nova places launched, then ec2's restart", d)
	}
}

// TestPartsScaleInDearestFirst: 4 of 6 suffice; ec2's two idle instances
// go — but not before their billed minute is up, and no idle nova instance
// goes in their stead meanwhile.
func TestPartsScaleInDearestFirst(t *testing.T) {
	cfg := hybrid()
	cfg.Parts[0].Max, cfg.Parts[1].Max = 4, 4
	cfg.TargetPerInstance = 1
	fleet := slices.Concat(
		on("nova", []imgrec.Instance{running("n1", 0, false), running("n2", 1, false)}),
		on("ec2", []imgrec.Instance{running("e1", 10, false), running("e2", 11, false)}),
		on("nova", []imgrec.Instance{running("busy1", 0, true), running("busy2", 0, true)}),
	)
	s := NewBootAware(cfg)
	s.Decide(obs(20, 2, 2, fleet))
	for sec := 23.0; sec < 69; sec++ { // e1 came up at 10, e2 at 11
		if d := s.Decide(obs(sec, 2, 2, fleet)); d.Acts() {
			t.Fatalf("t=%v: %+v; want nothing stopped while ec2's instances are in their minute", sec, d)
		}
	}
	d := s.Decide(obs(70, 2, 2, fleet))
	if !slices.Equal(d.Stop, []string{"ec2:e2", "ec2:e1"}) {
		t.Fatalf("t=70, past ec2's minute: %+v; want both ec2 instances stopped, the nova ones kept", d)
	}
	// ec2 past its minute and 3 surplus: ec2's two, then one of nova's.
	s = NewBootAware(cfg)
	s.Decide(obs(80, 1, 2, fleet))
	s.Decide(obs(83, 1, 2, fleet))
	if d := s.Decide(obs(84, 1, 2, fleet)); len(d.Stop) != 3 || !slices.Equal(d.Stop[:2], []string{"ec2:e2", "ec2:e1"}) || !strings.HasPrefix(d.Stop[2], "nova:n") {
		t.Fatalf("3 surplus: %+v; want ec2's two, then a nova one", d)
	}
}

// TestPartsCancelTheDearestBootFirst: booting instances beyond the wish
// while the backlog drains are cancelled from the dearest part first.
func TestPartsCancelTheDearestBootFirst(t *testing.T) {
	cfg := hybrid()
	cfg.Parts[0].Max, cfg.Parts[1].Max = 4, 4
	fleet := slices.Concat(
		on("nova", instances(imgrec.StateRunning, 2, true)),
		on("nova", []imgrec.Instance{{ID: "late", State: imgrec.StatePending, Since: at(3)}}),
		on("ec2", instances(imgrec.StatePending, 2, false)),
	)
	s := NewBootAware(cfg)
	s.Decide(obs(10, 12, 2, fleet))
	s.Decide(obs(12.5, 8, 2, fleet))
	d := s.Decide(obs(13, 7, 2, fleet)) // depth 10 in the window: 2 wanted of 5
	if !slices.Equal(d.Terminate, []string{"ec2:pending-2", "ec2:pending-1", "nova:late"}) {
		t.Fatalf("want ec2's booting cancelled first, newest first, then nova's: %+v", d)
	}
}

// TestPartsWarmPoolTrimsTheDearest: beyond the warm pool, ec2's stopped
// instances go first.
func TestPartsWarmPoolTrimsTheDearest(t *testing.T) {
	cfg := hybrid()
	cfg.WarmPool = 1
	fleet := slices.Concat(on("nova", instances(imgrec.StateStopped, 1, false)), on("ec2", instances(imgrec.StateStopped, 1, false)))
	if d := NewBootAware(cfg).Decide(obs(100, 0, 0, fleet)); !slices.Equal(d.Terminate, []string{"ec2:stopped-1"}) {
		t.Fatalf("%+v; want ec2's stopped instance terminated, nova's kept", d)
	}
}

// TestPartsMeasureBootsApart: each part's boots are measured on their own.
func TestPartsMeasureBootsApart(t *testing.T) {
	s := NewBootAware(hybrid())
	s.Decide(obs(0, 10, 0, on("nova", instances(imgrec.StatePending, 1, false)), on("ec2", instances(imgrec.StatePending, 1, false))))
	s.Decide(obs(31, 10, 0,
		on("nova", []imgrec.Instance{running("pending-1", 20, false)}),
		on("ec2", []imgrec.Instance{running("pending-1", 30, false)})))
	if s.est.bootOf("nova") != 20*time.Second || s.est.bootOf("ec2") != 30*time.Second {
		t.Fatalf("boots: nova %s, ec2 %s; want 20s and 30s", s.est.bootOf("nova"), s.est.bootOf("ec2"))
	}
}
