package cloudfleet_test

import (
	"slices"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/cloudfleet"
)

var servers = cloudfleet.Fleet{Cluster: "demo", Max: 3,
	Words: cloudfleet.Words{One: "a server", Many: "servers", Marked: "tagged and labelled", Gone: "deleted"}}

var listed = []imgrec.Instance{
	{ID: "a", State: imgrec.StateRunning},
	{ID: "b", State: imgrec.StateStopped},
	{ID: "c", State: imgrec.StatePending},
}

func TestOp(t *testing.T) {
	if got, want := servers.Op("start", []string{"a", "b"}), "start a, b in cluster demo"; got != want {
		t.Errorf("Op: %q, want %q", got, want)
	}
}

func TestOwned(t *testing.T) {
	ids, err := servers.Owned("op", listed, []string{"b", "a", "b"})
	if err != nil || !slices.Equal(ids, []string{"b", "a"}) {
		t.Errorf("Owned(b, a, b) in any state: %v, %v; want [b a]", ids, err)
	}
	if ids, err := servers.Owned("op", listed, []string{"a", "c"}, imgrec.StateRunning, imgrec.StatePending); err != nil || len(ids) != 2 {
		t.Errorf("Owned(a, c) running or pending: %v, %v", ids, err)
	}
	_, err = servers.Owned("stop x in cluster demo", listed, []string{"a", "x"})
	if want := "stop x in cluster demo: x is not a server of cluster demo (not tagged and labelled imgrec:cluster=demo, or deleted)"; imgrec.ErrorCode(err) != imgrec.ENOTFOUND || err.Error() != want {
		t.Errorf("Owned of a stranger: %v, want %s %q", err, imgrec.ENOTFOUND, want)
	}
	_, err = servers.Owned("op", listed, []string{"b"}, imgrec.StateRunning, imgrec.StatePending)
	if want := "op: b is stopped, want running or pending"; imgrec.ErrorCode(err) != imgrec.EINVALID || err.Error() != want {
		t.Errorf("Owned in the wrong state: %v, want %s %q", err, imgrec.EINVALID, want)
	}
}

func TestCheckCapacity(t *testing.T) {
	if err := servers.CheckCapacity("op", listed, 1); err != nil {
		t.Errorf("1 beside 2 active, max 3: %v", err)
	}
	err := servers.CheckCapacity("op", listed, 2)
	if want := "op: 2 of at most 3 servers are pending or running; 2 more would pass the limit"; imgrec.ErrorCode(err) != imgrec.ECONFLICT || err.Error() != want {
		t.Errorf("2 beside 2 active, max 3: %v, want %s %q", err, imgrec.ECONFLICT, want)
	}
}

func TestChanges(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	c := cloudfleet.Changes{}
	insts := []imgrec.Instance{{ID: "a", Since: t0}, {ID: "b", Since: t0.Add(time.Hour)}}
	if ids := c.Launched(t0.Add(time.Minute), insts); !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("Launched: %v", ids)
	}
	if !insts[0].Since.Equal(t0.Add(time.Minute)) || !insts[1].Since.Equal(t0.Add(time.Hour)) {
		t.Errorf("Launched moved Since to %v, %v; want the later of each", insts[0].Since, insts[1].Since)
	}
	if !c["a"].Launched || !c["a"].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("after Launched: %+v", c["a"])
	}
	c.Record(t0.Add(2*time.Minute), "a")
	if c["a"].Launched || !c["a"].At.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after Record: %+v", c["a"])
	}
	in := imgrec.Instance{ID: "a", Since: t0}
	c.Merge(&in)
	other := imgrec.Instance{ID: "z", Since: t0}
	c.Merge(&other)
	if !in.Since.Equal(t0.Add(2*time.Minute)) || !other.Since.Equal(t0) {
		t.Errorf("Merge: %v and %v; want the change's time and the unchanged one's own", in.Since, other.Since)
	}
}
