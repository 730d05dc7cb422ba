package conformance

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// What the tests of the cloud providers (ec2, nova) share beyond the
// Provider suite: scenarios that need a Max or a neighbour made with the
// cloud's own API, the check of the user data a provider sends, and the
// helpers they use.

// IDs returns the ids of insts, sorted.
func IDs(insts []imgrec.Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

// List returns p's instances, failing t on an error.
func List(t *testing.T, p imgrec.Provider) []imgrec.Instance {
	t.Helper()
	insts, err := p.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return insts
}

// CountState returns how many of insts are in state st.
func CountState(insts []imgrec.Instance, st imgrec.InstanceState) int {
	n := 0
	for _, in := range insts {
		if in.State == st {
			n++
		}
	}
	return n
}

// LeavesAlone checks that p refuses to Start, Stop or Terminate id, a
// machine that is not one of its cluster's, alone or beside mine, one of
// its own: each call (under ctx) fails with ENOTFOUND naming id. name is
// how the failures call id (the id, or the id and what it is). Whether the
// machines were left as they were is for the caller to ask the cloud.
func LeavesAlone(t *testing.T, ctx context.Context, p imgrec.Provider, mine, id, name string) {
	t.Helper()
	for op, err := range map[string]error{
		"Start":                    p.Start(ctx, []string{id}),
		"Stop":                     p.Stop(ctx, []string{id}),
		"Terminate":                p.Terminate(ctx, []string{id}),
		"Stop with one of its own": p.Stop(ctx, []string{mine, id}),
	} {
		if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), id) {
			t.Errorf("%s(%s): %v, want %s naming it", op, name, err, imgrec.ENOTFOUND)
		}
	}
}

// WantUserData fails t unless script, the user data a provider sent with
// a machine, holds each of want and parses as shell (sh -n).
func WantUserData(t *testing.T, script string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(script, w) {
			t.Errorf("user data lacks %q:\n%s", w, script)
		}
	}
	if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s\n%s", err, out, script)
	}
}

// CapacityOptions adapt Capacity to a backend.
type CapacityOptions struct {
	// Settle waits until p's List satisfies cond and fails t if it never
	// does: for a backend whose states change asynchronously. Nil for one
	// whose states change at once.
	Settle func(t *testing.T, what string, cond func([]imgrec.Instance) bool)
	// Quiet is how long to wait after the refused Start before checking
	// that nothing changed, for anything wrongly asked of the cloud to
	// show.
	Quiet time.Duration
}

// Capacity checks, with calls under ctx, how p, the provider of an empty cluster with Max 3,
// keeps to it: a Launch of 2 beside 2 is refused whole (ECONFLICT saying
// "2 of at most 3") and launches nothing; a stopped instance does not
// count, and starting it beside 3 running is refused too. It returns the 4
// instances it leaves (3 running, 1 stopped) for the caller to terminate.
func Capacity(t *testing.T, ctx context.Context, p imgrec.Provider, opt CapacityOptions) []imgrec.Instance {
	t.Helper()
	settle := func(what string, cond func([]imgrec.Instance) bool) {
		t.Helper()
		if opt.Settle != nil {
			opt.Settle(t, what, cond)
		}
	}
	first, err := p.Launch(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Launch(ctx, 2)
	if imgrec.ErrorCode(err) != imgrec.ECONFLICT || !strings.Contains(err.Error(), "2 of at most 3") {
		t.Errorf("Launch of 2 beside 2 with max 3: %v, want %s saying 2 of at most 3", err, imgrec.ECONFLICT)
	}
	if n := len(List(t, p)); n != 2 {
		t.Fatalf("%d instances after a refused launch, want 2 (none of the surplus)", n)
	}
	// Stopped instances do not count; restarting them does.
	settle("2 running", func(in []imgrec.Instance) bool { return CountState(in, imgrec.StateRunning) == 2 })
	if err := p.Stop(ctx, []string{first[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Launch(ctx, 2); err != nil {
		t.Fatalf("Launch of 2 beside 1 running and 1 stopped or stopping, max 3: %v", err)
	}
	settle("3 running and 1 stopped", func(in []imgrec.Instance) bool {
		return CountState(in, imgrec.StateRunning) == 3 && CountState(in, imgrec.StateStopped) == 1
	})
	err = p.Start(ctx, []string{first[0].ID})
	if imgrec.ErrorCode(err) != imgrec.ECONFLICT {
		t.Errorf("Start with 3 of 3 running: %v, want %s", err, imgrec.ECONFLICT)
	}
	time.Sleep(opt.Quiet)
	insts := List(t, p)
	if CountState(insts, imgrec.StateRunning) != 3 || CountState(insts, imgrec.StateStopped) != 1 {
		t.Errorf("after the refused start: %+v, want 3 running and 1 stopped", insts)
	}
	return insts
}
