package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// ProviderOptions adapts the Provider suite to a backend.
type ProviderOptions struct {
	// Timeout bounds each wait for an asynchronous state change (default
	// Generous; cloud backends need minutes). It is a bound for a hang, not
	// a promise of speed: the suite asserts none.
	Timeout time.Duration
	// Poll is the interval between Lists while waiting (default 50ms).
	Poll time.Duration
	// SetBusy makes the worker of instance id busy or idle by whatever
	// means the backend's workers take work. Nil skips the Busy checks,
	// for backends that cannot tell.
	SetBusy func(t *testing.T, id string, busy bool)
}

// Provider runs the imgrec.Provider suite against p. State changes may be
// asynchronous: the suite polls List until each expected state shows up.
// p may hold other instances; the suite looks only at those it launches,
// and terminates them at the end.
func Provider(t *testing.T, p imgrec.Provider, opt ProviderOptions) {
	if opt.Timeout <= 0 {
		opt.Timeout = Generous
	}
	if opt.Poll <= 0 {
		opt.Poll = 50 * time.Millisecond
	}
	s := &providerSuite{p: p, opt: opt, top: t}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Launch", s.launch},
		{"Busy", s.busy},
		{"Stop", s.stop},
		{"WrongState", s.wrongState},
		{"Start", s.start},
		{"Terminate", s.terminate},
		{"UnknownIDs", s.unknownIDs},
		{"NoIDs", s.noIDs},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return // later steps build on this one's state
		}
	}
}

// unknownID names no instance of any backend.
const unknownID = "imgrec-no-such-instance"

type providerSuite struct {
	p    imgrec.Provider
	opt  ProviderOptions
	top  *testing.T // cleanups registered here run after the last step
	a, b string     // the two instances launched
}

func (s *providerSuite) launch(t *testing.T) {
	_, err := s.p.Launch(t.Context(), 0)
	wantCode(t, err, imgrec.EINVALID, "Launch(0)")

	insts, err := s.p.Launch(t.Context(), 2)
	for _, in := range insts {
		s.top.Cleanup(func() { // whatever a failed step left behind
			ctx, cancel := context.WithTimeout(context.Background(), s.opt.Timeout)
			defer cancel()
			s.p.Terminate(ctx, []string{in.ID})
		})
	}
	if err != nil {
		t.Fatalf("Launch(2): %v", err)
	}
	if len(insts) != 2 || insts[0].ID == "" || insts[0].ID == insts[1].ID {
		t.Fatalf("Launch(2): got %+v, want 2 instances with distinct ids", insts)
	}
	for _, in := range insts {
		if in.State != imgrec.StatePending && in.State != imgrec.StateRunning {
			t.Errorf("Launch(2): %s is %s, want pending or running", in.ID, in.State)
		}
	}
	s.a, s.b = insts[0].ID, insts[1].ID
	got := s.waitFor(t, "both launched instances running", func(m map[string]imgrec.Instance) bool {
		return m[s.a].State == imgrec.StateRunning && m[s.b].State == imgrec.StateRunning
	})
	for _, id := range []string{s.a, s.b} {
		if got[id].Since.IsZero() {
			t.Errorf("%s: Since is zero", id)
		}
	}
}

func (s *providerSuite) busy(t *testing.T) {
	if s.opt.SetBusy == nil {
		t.Skip("the backend does not report Busy")
	}
	got := s.list(t)
	if got[s.a].Busy || got[s.b].Busy {
		t.Errorf("fresh instances busy: %+v, %+v", got[s.a], got[s.b])
	}
	s.opt.SetBusy(t, s.a, true)
	got = s.waitFor(t, s.a+" busy", func(m map[string]imgrec.Instance) bool { return m[s.a].Busy })
	if got[s.b].Busy {
		t.Errorf("%s busy, though only %s was given work", s.b, s.a)
	}
	s.opt.SetBusy(t, s.a, false)
	s.waitFor(t, s.a+" idle", func(m map[string]imgrec.Instance) bool { return !m[s.a].Busy })
}

func (s *providerSuite) stop(t *testing.T) {
	running := s.list(t)[s.a]
	if err := s.p.Stop(t.Context(), []string{s.a}); err != nil {
		t.Fatalf("Stop(%s): %v", s.a, err)
	}
	if st := s.list(t)[s.a].State; st != imgrec.StateStopping && st != imgrec.StateStopped {
		t.Errorf("%s is %q right after Stop, want stopping or stopped", s.a, st)
	}
	got := s.waitFor(t, s.a+" stopped and kept", func(m map[string]imgrec.Instance) bool {
		return m[s.a].State == imgrec.StateStopped
	})
	if got[s.a].Since.Before(running.Since) {
		t.Errorf("%s: stopped Since %v before running Since %v", s.a, got[s.a].Since, running.Since)
	}
	if got[s.a].Busy {
		t.Errorf("%s: stopped but busy", s.a)
	}
	if got[s.b].State != imgrec.StateRunning {
		t.Errorf("%s is %s after stopping %s, want running", s.b, got[s.b].State, s.a)
	}
}

// wrongState expects a stopped a and a running b.
func (s *providerSuite) wrongState(t *testing.T) {
	ctx := t.Context()
	err := s.p.Start(ctx, []string{s.b})
	wantCode(t, err, imgrec.EINVALID, "Start of a running instance")
	wantMention(t, err, s.b, "Start of a running instance")
	err = s.p.Stop(ctx, []string{s.a})
	wantCode(t, err, imgrec.EINVALID, "Stop of a stopped instance")
	wantMention(t, err, s.a, "Stop of a stopped instance")

	// A call with one bad id does nothing at all.
	err = s.p.Stop(ctx, []string{s.b, unknownID})
	wantUnknown(t, err, unknownID, "Stop of a running and an unknown instance")
	if st := s.list(t)[s.b].State; st != imgrec.StateRunning {
		t.Errorf("%s is %s after a Stop that named an unknown id too, want running", s.b, st)
	}
}

func (s *providerSuite) start(t *testing.T) {
	stopped := s.list(t)[s.a]
	if err := s.p.Start(t.Context(), []string{s.a}); err != nil {
		t.Fatalf("Start(%s): %v", s.a, err)
	}
	if st := s.list(t)[s.a].State; st != imgrec.StatePending && st != imgrec.StateRunning {
		t.Errorf("%s is %q right after Start, want pending or running", s.a, st)
	}
	got := s.waitFor(t, s.a+" running again", func(m map[string]imgrec.Instance) bool {
		return m[s.a].State == imgrec.StateRunning
	})
	if got[s.a].Since.Before(stopped.Since) {
		t.Errorf("%s: running Since %v before stopped Since %v", s.a, got[s.a].Since, stopped.Since)
	}
}

// terminate ends a running a and, after stopping it, b.
func (s *providerSuite) terminate(t *testing.T) {
	ctx := t.Context()
	if err := s.p.Stop(ctx, []string{s.b}); err != nil {
		t.Fatalf("Stop(%s): %v", s.b, err)
	}
	s.waitFor(t, s.b+" stopped", func(m map[string]imgrec.Instance) bool { return m[s.b].State == imgrec.StateStopped })
	if err := s.p.Terminate(ctx, []string{s.a, s.b}); err != nil {
		t.Fatalf("Terminate(%s running, %s stopped): %v", s.a, s.b, err)
	}
	s.waitFor(t, "both gone from List", func(m map[string]imgrec.Instance) bool {
		_, a := m[s.a]
		_, b := m[s.b]
		return !a && !b
	})
	for _, id := range []string{s.a, s.b} {
		wantCode(t, s.p.Start(ctx, []string{id}), imgrec.ENOTFOUND, "Start of a terminated instance")
		wantCode(t, s.p.Stop(ctx, []string{id}), imgrec.ENOTFOUND, "Stop of a terminated instance")
	}
}

// unknownIDs tries ids that never existed. Made-up ids may be malformed
// for the backend, so EINVALID is accepted too; the error must name the id.
func (s *providerSuite) unknownIDs(t *testing.T) {
	ctx := t.Context()
	ids := []string{unknownID}
	wantUnknown(t, s.p.Start(ctx, ids), unknownID, "Start of an unknown id")
	wantUnknown(t, s.p.Stop(ctx, ids), unknownID, "Stop of an unknown id")
	wantUnknown(t, s.p.Terminate(ctx, ids), unknownID, "Terminate of an unknown id")
}

func (s *providerSuite) noIDs(t *testing.T) {
	ctx := t.Context()
	for op, err := range map[string]error{
		"Start":     s.p.Start(ctx, nil),
		"Stop":      s.p.Stop(ctx, nil),
		"Terminate": s.p.Terminate(ctx, nil),
	} {
		if err != nil {
			t.Errorf("%s(no ids): %v, want nothing done and no error", op, err)
		}
	}
}

// list returns the current instances by id.
func (s *providerSuite) list(t *testing.T) map[string]imgrec.Instance {
	t.Helper()
	insts, err := s.p.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	m := map[string]imgrec.Instance{}
	for _, in := range insts {
		if _, dup := m[in.ID]; dup {
			t.Errorf("List: %s appears twice", in.ID)
		}
		m[in.ID] = in
	}
	return m
}

// waitFor polls List until ok holds, failing t after the timeout.
func (s *providerSuite) waitFor(t *testing.T, what string, ok func(map[string]imgrec.Instance) bool) map[string]imgrec.Instance {
	t.Helper()
	deadline := time.Now().Add(s.opt.Timeout)
	for {
		m := s.list(t)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; List: %s", s.opt.Timeout, what, describe(m))
		}
		time.Sleep(s.opt.Poll)
	}
}

func describe(m map[string]imgrec.Instance) string {
	var parts []string
	for _, in := range m {
		parts = append(parts, fmt.Sprintf("%s %s busy=%v %q", in.ID, in.State, in.Busy, in.Detail))
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, "; ") + "]"
}

// wantUnknown fails t unless err says that id does not exist.
func wantUnknown(t *testing.T, err error, id, what string) {
	t.Helper()
	if c := imgrec.ErrorCode(err); c != imgrec.ENOTFOUND && c != imgrec.EINVALID {
		t.Errorf("%s: got %v (code %q), want %s or %s", what, err, c, imgrec.ENOTFOUND, imgrec.EINVALID)
	}
	wantMention(t, err, id, what)
}

// wantMention fails t unless err names id, so an operator knows which
// instance a failure is about.
func wantMention(t *testing.T, err error, id, what string) {
	t.Helper()
	if err != nil && !strings.Contains(err.Error(), id) {
		t.Errorf("%s: error %q does not name %s", what, err, id)
	}
}
