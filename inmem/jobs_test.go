package inmem_test

import (
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/internal/conformance"
)

func TestJobStoreConformance(t *testing.T) {
	conformance.JobStore(t, conformance.JobStoreOptions{}, func(t *testing.T, ttl time.Duration) func(*testing.T) imgrec.JobStore {
		js, err := inmem.NewJobStore(inmem.JobStoreConfig{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return func(*testing.T) imgrec.JobStore { return js }
	})
}

// TestJobStoreBound: beyond MaxJobs the oldest finished jobs are forgotten,
// never a queued one.
func TestJobStoreBound(t *testing.T) {
	js, err := inmem.NewJobStore(inmem.JobStoreConfig{MaxJobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, id := range []string{"q1", "d1", "d2", "d3", "q2"} {
		if _, err := js.Create(ctx, imgrec.Job{ID: id, State: imgrec.JobQueued}); err != nil {
			t.Fatal(err)
		}
		if id[0] == 'd' {
			if _, err := js.Finish(ctx, id, imgrec.Answer{Label: "x"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id, want := range map[string]bool{"q1": true, "d1": false, "d2": false, "d3": true, "q2": true} {
		_, err := js.Get(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("%s kept %v, want %v (%v)", id, got, want, err)
		}
	}
}
